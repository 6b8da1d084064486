using System.Globalization;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Http.HttpResults;
using EdgeMask.Dashboard.Storage;

namespace EdgeMask.Dashboard.Web;

/// <summary>How numbers, times and durations are written on the pages (invariant culture, UTC). Razor does the encoding.</summary>
internal static class Format
{
    public static string InputTime(DateTimeOffset? at) => at is { } t ? t.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss", CultureInfo.InvariantCulture) : "";

    public static string Duration(TimeSpan duration) =>
        duration.TotalSeconds < 60
            ? duration.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture) + " s"
            : $"{(int)duration.TotalMinutes} min {duration.Seconds} s";

    public static string Number(double value, string format = "0.00") => value.ToString(format, CultureInfo.InvariantCulture);

    /// <summary>Every class probability of an event (the tooltip of its label); empty for a version 1 event, which has none.</summary>
    public static string Probabilities(LabelProbabilities? p) =>
        p is null ? "" : $"mask {Number(p.Mask)} · no_mask {Number(p.NoMask)}" + (p.Incorrect is { } i ? $" · incorrect {Number(i)}" : "");

    public static string Rate(double? rate) => rate is { } r ? (r * 100).ToString("0.0", CultureInfo.InvariantCulture) + " %" : "—";
}

/// <summary>What every signed-in page's layout needs from the request: the sign-out form's antiforgery token and the user.</summary>
public sealed record PageContext(AntiforgeryTokenSet Csrf, string User)
{
    public static PageContext From(HttpContext context) => new(
        context.RequestServices.GetRequiredService<IAntiforgery>().GetAndStoreTokens(context),
        context.User.Identity?.Name ?? "");
}

/// <summary>Renders a page component (server-side, no interactivity) as the response.</summary>
internal static class Page
{
    public static RazorComponentResult Render<TComponent>(object parameters, int statusCode = StatusCodes.Status200OK)
        where TComponent : Microsoft.AspNetCore.Components.IComponent =>
        new RazorComponentResult<TComponent>(parameters) { StatusCode = statusCode, ContentType = "text/html; charset=utf-8" };
}
