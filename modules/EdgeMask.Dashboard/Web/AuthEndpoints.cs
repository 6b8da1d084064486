using System.Security.Claims;
using EdgeMask.Dashboard.Options;
using EdgeMask.Dashboard.Security;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Mvc;

namespace EdgeMask.Dashboard.Web;

internal static partial class AuthEndpoints
{
    public static void Map(WebApplication app)
    {
        app.MapGet("/login", (HttpContext context, string? returnUrl) => Layout.Login(context, returnUrl, null))
            .AllowAnonymous().ExcludeFromDescription();
        app.MapPost("/login", SignInAsync).AllowAnonymous().ExcludeFromDescription();
        app.MapPost("/logout", async (HttpContext context, [FromForm] LogoutForm _) =>
        {
            await context.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
            return Results.Redirect("/login");
        }).ExcludeFromDescription();
    }

    private static async Task<IResult> SignInAsync(HttpContext context, [FromForm] LoginForm form, DashboardOptions options, ILoggerFactory loggers)
    {
        var auth = options.Auth;
        var returnUrl = IsLocal(form.ReturnUrl) ? form.ReturnUrl! : "/";
        var valid = auth.AdminPasswordHash is { } hash
                    && string.Equals(form.Username, auth.AdminUser, StringComparison.Ordinal)
                    && PasswordHasher.Verify(form.Password ?? "", hash);
        if (!valid)
        {
            LogSignInRefused(loggers.CreateLogger("EdgeMask.Dashboard.Auth"), form.Username ?? "", context.Connection.RemoteIpAddress?.ToString() ?? "?");
            return Layout.Login(context, returnUrl, "Wrong user or password.", StatusCodes.Status401Unauthorized);
        }
        var identity = new ClaimsIdentity([new Claim(ClaimTypes.Name, auth.AdminUser), new Claim(ClaimTypes.Role, "admin")],
            CookieAuthenticationDefaults.AuthenticationScheme);
        await context.SignInAsync(CookieAuthenticationDefaults.AuthenticationScheme, new ClaimsPrincipal(identity),
            new AuthenticationProperties { IsPersistent = false });
        return Results.Redirect(returnUrl);
    }

    // Only same-site paths: "//host" and "/\host" would send the user elsewhere after signing in.
    private static bool IsLocal(string? url) =>
        !string.IsNullOrEmpty(url) && url[0] == '/' && (url.Length == 1 || (url[1] != '/' && url[1] != '\\'));

    [LoggerMessage(Level = LogLevel.Warning, Message = "Refused a sign-in as {User} from {Address}")]
    private static partial void LogSignInRefused(ILogger logger, string user, string address);
}

internal sealed class LoginForm
{
    public string? Username { get; set; }
    public string? Password { get; set; }
    public string? ReturnUrl { get; set; }
}

internal sealed class LogoutForm
{
}
