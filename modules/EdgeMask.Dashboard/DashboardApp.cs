using EdgeMask.Dashboard.Ingest;
using EdgeMask.Dashboard.Live;
using EdgeMask.Dashboard.Options;
using EdgeMask.Dashboard.Retention;
using EdgeMask.Dashboard.Security;
using EdgeMask.Dashboard.Storage;
using EdgeMask.Dashboard.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.RateLimiting;
using System.Threading.RateLimiting;

namespace EdgeMask.Dashboard;

/// <summary>Composes the dashboard: options, store, ingest services, authentication, pages and API.</summary>
public static class DashboardApp
{
    private const string SmartScheme = "EdgeMask";

    /// <summary>
    /// Builds the web application from the command line and configuration (section <c>Dashboard</c>). Throws
    /// <see cref="DashboardConfigurationException"/> for a bad setting. <paramref name="configureServices"/> lets a
    /// host replace services (e.g. the <see cref="TimeProvider"/>) after the defaults are registered.
    /// </summary>
    public static WebApplication Build(string[] args, Action<IServiceCollection>? configureServices = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args });
        // Defaults at the lowest precedence: appsettings.json in the working directory, environment variables and
        // the command line all override them. (No appsettings.json ships with the assembly, so a host that
        // references this project, such as `edgemask dashboard`, gets no colliding file in its output.)
        builder.Configuration.Sources.Insert(0, new Microsoft.Extensions.Configuration.Memory.MemoryConfigurationSource
        {
            InitialData = new Dictionary<string, string?>
            {
                ["Logging:LogLevel:Default"] = "Information",
                ["Logging:LogLevel:Microsoft.AspNetCore"] = "Warning",
            },
        });
        var options = (builder.Configuration.GetSection(DashboardOptions.SectionName).Get<DashboardOptions>() ?? new DashboardOptions()).Validate();

        // Only the configured addresses: never the ASPNETCORE_URLS/--urls defaults.
        builder.WebHost.UseUrls([.. options.ListenUrls]);
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.AddServerHeader = false);

        var services = builder.Services;
        services.AddSingleton(options);
        services.AddSingleton(options.Store);
        services.AddSingleton(options.Mqtt);
        services.AddSingleton(options.EventHubs);
        services.AddSingleton(options.Retention);
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<IDashboardStore>(_ => DashboardStoreFactory.Open(options.Store));
        services.AddSingleton(_ => new SnapshotFileStore(options.Store.SnapshotDirectory));
        services.AddSingleton<LiveFeed>();
        services.AddSingleton<IngestPipeline>();
        services.AddSingleton<RetentionWorker>();
        services.AddHostedService<RetentionService>();
        if (options.Mqtt.Enabled)
        {
            services.AddSingleton<MqttIngestService>();
            services.AddHostedService(sp => sp.GetRequiredService<MqttIngestService>());
            services.AddSingleton<IIngestHealth>(sp => sp.GetRequiredService<MqttIngestService>());
        }
        if (options.EventHubs.Enabled)
        {
            services.AddSingleton<EventHubsIngestService>();
            services.AddHostedService(sp => sp.GetRequiredService<EventHubsIngestService>());
            services.AddSingleton<IIngestHealth>(sp => sp.GetRequiredService<EventHubsIngestService>());
        }
        services.AddHealthChecks()
            .AddCheck<StoreHealthCheck>("store")
            .AddCheck<IngestHealthCheck>("ingest");

        services.AddAuthentication(o =>
            {
                o.DefaultScheme = SmartScheme;
                o.DefaultChallengeScheme = SmartScheme;
            })
            .AddPolicyScheme(SmartScheme, "Session cookie or API key", o =>
                o.ForwardDefaultSelector = context => context.Request.Headers.ContainsKey(ApiKeyAuthenticationHandler.HeaderName)
                    ? ApiKeyAuthenticationHandler.SchemeName
                    : CookieAuthenticationDefaults.AuthenticationScheme)
            .AddCookie(CookieAuthenticationDefaults.AuthenticationScheme, o =>
            {
                o.Cookie.Name = "edgemask.session";
                o.Cookie.HttpOnly = true;
                o.Cookie.SecurePolicy = options.Auth.CookieSecure;
                o.Cookie.SameSite = SameSiteMode.Strict;
                o.ExpireTimeSpan = options.Auth.SessionLifetime;
                o.SlidingExpiration = true;
                o.LoginPath = "/login";
                o.Events.OnRedirectToLogin = context =>
                {
                    // Scripts, streams and images get a plain 401; only page navigations are sent to the sign-in form.
                    if (IsPage(context.Request))
                    {
                        context.Response.Redirect(context.RedirectUri);
                    }
                    else
                    {
                        context.Response.StatusCode = StatusCodes.Status401Unauthorized;
                    }
                    return Task.CompletedTask;
                };
                o.Events.OnRedirectToAccessDenied = context =>
                {
                    context.Response.StatusCode = StatusCodes.Status403Forbidden;
                    return Task.CompletedTask;
                };
            })
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null);
        // Everything needs a signed-in user or an API key unless an endpoint says AllowAnonymous.
        services.AddAuthorizationBuilder().SetFallbackPolicy(new AuthorizationPolicyBuilder().RequireAuthenticatedUser().Build());
        services.AddAntiforgery(o =>
        {
            o.Cookie.Name = "edgemask.antiforgery";
            // Not a credential (it only pairs with the form token), and antiforgery refuses to run on plain http
            // with Always, which is the loopback default; it is still Secure whenever the request is https.
            o.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            o.Cookie.SameSite = SameSiteMode.Strict;
            o.FormFieldName = "__csrf";
        });
        services.AddDataProtection()
            .SetApplicationName("edgemask-dashboard")
            .PersistKeysToFileSystem(Directory.CreateDirectory(options.Store.KeysDirectory));
        services.AddRateLimiter(o =>
        {
            o.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            // Password guessing is slowed per client address; PBKDF2 already makes each guess cost ~0.1 s.
            o.AddPolicy(AuthEndpoints.SignInRateLimit, context => RateLimitPartition.GetFixedWindowLimiter(
                context.Connection.RemoteIpAddress?.ToString() ?? "unknown",
                _ => new FixedWindowRateLimiterOptions { PermitLimit = options.Auth.SignInAttemptsPerMinute, Window = TimeSpan.FromMinutes(1) }));
        });
        services.AddOpenApi(o => o.AddDocumentTransformer((document, _, _) =>
        {
            // Describe how to authenticate: the X-Api-Key header (a signed-in browser session works too).
            document.Components ??= new Microsoft.OpenApi.OpenApiComponents();
            document.Components.SecuritySchemes ??= new Dictionary<string, Microsoft.OpenApi.IOpenApiSecurityScheme>();
            document.Components.SecuritySchemes[ApiKeyAuthenticationHandler.SchemeName] = new Microsoft.OpenApi.OpenApiSecurityScheme
            {
                Type = Microsoft.OpenApi.SecuritySchemeType.ApiKey,
                In = Microsoft.OpenApi.ParameterLocation.Header,
                Name = ApiKeyAuthenticationHandler.HeaderName,
                Description = "An API key made by `edgemask-dashboard new-api-key`.",
            };
            document.Security ??= [];
            document.Security.Add(new Microsoft.OpenApi.OpenApiSecurityRequirement
            {
                [new Microsoft.OpenApi.OpenApiSecuritySchemeReference(ApiKeyAuthenticationHandler.SchemeName, document)] = [],
            });
            return Task.CompletedTask;
        }));
        services.AddProblemDetails();
        // Pages are Razor components rendered on the server (RazorComponentResult); no interactivity, no circuit.
        services.AddRazorComponents();
        configureServices?.Invoke(services);

        var app = builder.Build();
        app.Use(async (context, next) =>
        {
            var headers = context.Response.Headers;
            headers.XContentTypeOptions = "nosniff";
            headers.XFrameOptions = "DENY";
            headers["Referrer-Policy"] = "no-referrer";
            headers.ContentSecurityPolicy = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'";
            await next(context);
        });
        app.UseRateLimiter();
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseAntiforgery();

        StaticAssets.Map(app);
        AuthEndpoints.Map(app);
        PageEndpoints.Map(app);
        ApiEndpoints.Map(app);
        app.MapOpenApi().AllowAnonymous();
        // Readiness (the image's HEALTHCHECK, Container Apps' readiness probe): the store answers and every ingest is
        // connected. Liveness only says the process serves requests, so a broker outage does not restart the dashboard.
        app.MapHealthChecks("/healthz", new Microsoft.AspNetCore.Diagnostics.HealthChecks.HealthCheckOptions { ResponseWriter = HealthReportWriter.WriteAsync })
            .AllowAnonymous();
        app.MapGet("/livez", () => Results.Text("alive")).AllowAnonymous().ExcludeFromDescription();
        return app;
    }

    private static bool IsPage(HttpRequest request) =>
        HttpMethods.IsGet(request.Method)
        && !request.Path.StartsWithSegments("/api")
        && !request.Path.StartsWithSegments("/snapshots")
        && !request.Path.StartsWithSegments("/live")
        && !request.Path.Value!.EndsWith(".csv", StringComparison.Ordinal);
}
