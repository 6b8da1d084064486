using System.Security.Claims;
using EdgeMask.Dashboard.Options;
using EdgeMask.Dashboard.Security;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Antiforgery;

namespace EdgeMask.Dashboard.Web;

internal static partial class AuthEndpoints
{
    public const string SignInRateLimit = "sign-in";

    public static void Map(WebApplication app)
    {
        app.MapGet("/login", (HttpContext context, string? returnUrl) => Login(context, returnUrl, null))
            .AllowAnonymous().ExcludeFromDescription();
        // The forms are validated explicitly (not by binding) so a missing/forged token is a clean 400 page.
        app.MapPost("/login", SignInAsync).AllowAnonymous().DisableAntiforgery().RequireRateLimiting(SignInRateLimit).ExcludeFromDescription();
        app.MapPost("/logout", async (HttpContext context, IAntiforgery antiforgery) =>
        {
            if (!await antiforgery.IsRequestValidAsync(context))
            {
                return Results.BadRequest();
            }
            await context.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
            return Results.Redirect("/login");
        }).DisableAntiforgery().ExcludeFromDescription();
    }

    private static async Task<IResult> SignInAsync(HttpContext context, IAntiforgery antiforgery, DashboardOptions options, ILoggerFactory loggers)
    {
        if (!context.Request.HasFormContentType || !await antiforgery.IsRequestValidAsync(context))
        {
            return Login(context, null, "The form expired or was not sent by this page; please try again.", StatusCodes.Status400BadRequest);
        }
        var form = await context.Request.ReadFormAsync();
        var username = form["username"].ToString();
        var password = form["password"].ToString();
        var returnUrlField = form["returnUrl"].ToString();
        var auth = options.Auth;
        var returnUrl = IsLocal(returnUrlField) ? returnUrlField : "/";
        var valid = auth.AdminPasswordHash is { } hash
                    && string.Equals(username, auth.AdminUser, StringComparison.Ordinal)
                    && PasswordHasher.Verify(password, hash);
        if (!valid)
        {
            LogSignInRefused(loggers.CreateLogger("EdgeMask.Dashboard.Auth"), username, context.Connection.RemoteIpAddress?.ToString() ?? "?");
            return Login(context, returnUrl, "Wrong user or password.", StatusCodes.Status401Unauthorized);
        }
        var identity = new ClaimsIdentity([new Claim(ClaimTypes.Name, auth.AdminUser), new Claim(ClaimTypes.Role, "admin")],
            CookieAuthenticationDefaults.AuthenticationScheme);
        await context.SignInAsync(CookieAuthenticationDefaults.AuthenticationScheme, new ClaimsPrincipal(identity),
            new AuthenticationProperties { IsPersistent = false });
        return Results.Redirect(returnUrl);
    }

    private static IResult Login(HttpContext context, string? returnUrl, string? error, int statusCode = StatusCodes.Status200OK) =>
        Page.Render<Pages.LoginPage>(new { Csrf = context.RequestServices.GetRequiredService<IAntiforgery>().GetAndStoreTokens(context), ReturnUrl = returnUrl, Error = error },
            statusCode);

    // Only same-site paths: "//host" and "/\host" would send the user elsewhere after signing in.
    private static bool IsLocal(string? url) =>
        !string.IsNullOrEmpty(url) && url[0] == '/' && (url.Length == 1 || (url[1] != '/' && url[1] != '\\'));

    [LoggerMessage(Level = LogLevel.Warning, Message = "Refused a sign-in as {User} from {Address}")]
    private static partial void LogSignInRefused(ILogger logger, string user, string address);
}
