using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using EdgeMask.Dashboard.Storage;

namespace EdgeMask.Dashboard.Web;

/// <summary>Small helpers for server-rendered HTML: every value that came from a message or a query goes through <see cref="E"/>.</summary>
internal static class Html
{
    public static string E(string? text) => HtmlEncoder.Default.Encode(text ?? "");

    public static string E(object? value) => E(Convert.ToString(value, CultureInfo.InvariantCulture));

    public static string Time(DateTimeOffset at) =>
        $"<time datetime=\"{at.UtcDateTime:yyyy-MM-ddTHH:mm:ss.fffZ}\">{at.UtcDateTime:yyyy-MM-dd HH:mm:ss}</time>";

    public static string InputTime(DateTimeOffset? at) => at is { } t ? t.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss", CultureInfo.InvariantCulture) : "";

    public static string Duration(TimeSpan duration) =>
        duration.TotalSeconds < 60
            ? duration.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture) + " s"
            : $"{(int)duration.TotalMinutes} min {duration.Seconds} s";

    public static string Number(double value, string format = "0.00") => value.ToString(format, CultureInfo.InvariantCulture);

    public static string Rate(double? rate) => rate is { } r ? (r * 100).ToString("0.0", CultureInfo.InvariantCulture) + " %" : "—";

    public static string TypeBadge(string type)
    {
        var shortName = type.StartsWith("violation.", StringComparison.Ordinal) ? type["violation.".Length..] : type;
        return $"<span class=\"badge type-{E(shortName)}\">{E(shortName)}</span>";
    }

    /// <summary>One row of the live feed and of the history: the same markup the live script builds for new events.</summary>
    public static string EventRow(StoredEvent e, bool withSnapshot)
    {
        var sb = new StringBuilder();
        sb.Append($"<tr data-event-key=\"{E(e.Key)}\" data-device=\"{E(e.Device)}\" data-camera=\"{E(e.Camera)}\" data-type=\"{E(e.Type)}\">");
        if (withSnapshot)
        {
            sb.Append("<td class=\"snap\">");
            sb.Append(e.SnapshotId is { } id
                ? $"<a href=\"/snapshots/{E(id)}\"><img src=\"/snapshots/{E(id)}\" alt=\"snapshot {E(id)}\" loading=\"lazy\"></a>"
                : "<span class=\"muted\">—</span>");
            sb.Append("</td>");
        }
        sb.Append($"<td>{Time(e.At)}</td><td>{E(e.Device)} / <b>{E(e.Camera)}</b></td><td>{TypeBadge(e.Type)}</td>");
        sb.Append($"<td class=\"num\">{Duration(e.Duration)}</td><td class=\"num\">{E(e.Label)} {Number(e.Probability)}</td>");
        sb.Append($"<td class=\"num\">{e.TrackId}</td>");
        if (!withSnapshot)
        {
            sb.Append($"<td class=\"id\">{E(e.Id)}#{e.Sequence}</td><td>{(e.SnapshotId is { } s ? $"<a href=\"/snapshots/{E(s)}\">view</a>" : "—")}</td>");
        }
        sb.Append("</tr>");
        return sb.ToString();
    }
}
