using Microsoft.AspNetCore.Antiforgery;

namespace EdgeMask.Dashboard.Web;

internal static class Layout
{
    private static readonly (string Path, string Title)[] Nav =
    [
        ("/", "Live"),
        ("/compliance", "Compliance"),
        ("/history", "History"),
        ("/devices", "Devices"),
    ];

    public static IResult Page(HttpContext context, string title, string activePath, string body, int statusCode = 200)
    {
        var antiforgery = context.RequestServices.GetRequiredService<IAntiforgery>();
        var tokens = antiforgery.GetAndStoreTokens(context);
        var user = context.User.Identity?.Name ?? "";
        var nav = string.Join("", Nav.Select(n =>
            $"<a href=\"{n.Path}\"{(n.Path == activePath ? " class=\"active\" aria-current=\"page\"" : "")}>{n.Title}</a>"));
        var html = $"""
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>{Html.E(title)} · EdgeMask</title>
            <link rel="stylesheet" href="/static/uPlot.min.css">
            <link rel="stylesheet" href="/static/app.css">
            </head>
            <body data-page="{Html.E(activePath)}">
            <header>
              <span class="brand">EdgeMask</span>
              <nav>{nav}</nav>
              <form method="post" action="/logout" class="logout">
                <input type="hidden" name="{Html.E(tokens.FormFieldName)}" value="{Html.E(tokens.RequestToken)}">
                <span class="muted">{Html.E(user)}</span> <button type="submit">Sign out</button>
              </form>
            </header>
            <main>
            <h1>{Html.E(title)}</h1>
            {body}
            </main>
            <script src="/static/uPlot.iife.min.js"></script>
            <script src="/static/app.js"></script>
            </body>
            </html>
            """;
        return Results.Content(html, "text/html; charset=utf-8", statusCode: statusCode);
    }

    public static IResult Login(HttpContext context, string? returnUrl, string? error, int statusCode = 200)
    {
        var antiforgery = context.RequestServices.GetRequiredService<IAntiforgery>();
        var tokens = antiforgery.GetAndStoreTokens(context);
        var html = $"""
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>Sign in · EdgeMask</title>
            <link rel="stylesheet" href="/static/app.css">
            </head>
            <body class="login">
            <main>
            <h1>EdgeMask dashboard</h1>
            {(error is null ? "" : $"<p class=\"error\" role=\"alert\">{Html.E(error)}</p>")}
            <form method="post" action="/login">
              <input type="hidden" name="{Html.E(tokens.FormFieldName)}" value="{Html.E(tokens.RequestToken)}">
              <input type="hidden" name="returnUrl" value="{Html.E(returnUrl)}">
              <label>User <input name="username" autocomplete="username" required autofocus></label>
              <label>Password <input name="password" type="password" autocomplete="current-password" required></label>
              <button type="submit">Sign in</button>
            </form>
            </main>
            </body>
            </html>
            """;
        return Results.Content(html, "text/html; charset=utf-8", statusCode: statusCode);
    }
}
