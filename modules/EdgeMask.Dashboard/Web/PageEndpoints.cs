using System.Globalization;
using System.Text;
using System.Text.Json;
using EdgeMask.Core.Events;
using EdgeMask.Dashboard.Live;
using EdgeMask.Dashboard.Options;
using EdgeMask.Dashboard.Storage;

namespace EdgeMask.Dashboard.Web;

internal static class PageEndpoints
{
    public static void Map(WebApplication app)
    {
        app.MapGet("/", LiveAsync).ExcludeFromDescription();
        app.MapGet("/live/stream", LiveStreamAsync).ExcludeFromDescription();
        app.MapGet("/compliance", ComplianceAsync).ExcludeFromDescription();
        app.MapGet("/history", HistoryAsync).ExcludeFromDescription();
        app.MapGet("/history.csv", HistoryCsvAsync).ExcludeFromDescription();
        app.MapGet("/devices", DevicesAsync).ExcludeFromDescription();
        app.MapGet("/snapshots/{id}", SnapshotAsync).ExcludeFromDescription();
    }

    private static async Task<IResult> LiveAsync(HttpContext context, IDashboardStore store, CancellationToken cancellationToken)
    {
        var recent = await store.QueryEventsAsync(new EventQuery(Limit: 50), cancellationToken);
        var rows = string.Concat(recent.Items.Select(e => Html.EventRow(e, withSnapshot: true)));
        var body = $"""
            <p class="muted">Violations as they are reported, newest first. <span id="live-state" class="badge">connecting…</span></p>
            <table class="feed" id="feed" data-stream="/live/stream">
            <thead><tr><th>Snapshot</th><th>Time (UTC)</th><th>Device / camera</th><th>Event</th><th>Duration</th><th>Probability</th><th>Track</th></tr></thead>
            <tbody id="feed-body">{rows}</tbody>
            </table>
            """;
        return Layout.Page(context, "Live violations", "/", body);
    }

    private static async Task LiveStreamAsync(HttpContext context, LiveFeed feed, IHostApplicationLifetime lifetime, TimeProvider timeProvider)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, lifetime.ApplicationStopping);
        var cancellationToken = stop.Token;
        var response = context.Response;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        using var subscription = feed.Subscribe();
        try
        {
            await response.WriteAsync(": connected\n\n", cancellationToken);
            await response.Body.FlushAsync(cancellationToken);
            while (!cancellationToken.IsCancellationRequested)
            {
                bool ready;
                try
                {
                    // A comment line every 15 s keeps proxies from closing an idle stream.
                    ready = await subscription.Reader.WaitToReadAsync(cancellationToken).AsTask()
                        .WaitAsync(TimeSpan.FromSeconds(15), timeProvider, cancellationToken);
                }
                catch (TimeoutException)
                {
                    await response.WriteAsync(": keep-alive\n\n", cancellationToken);
                    await response.Body.FlushAsync(cancellationToken);
                    continue;
                }
                if (!ready)
                {
                    break;
                }
                while (subscription.Reader.TryRead(out var item))
                {
                    var json = JsonSerializer.Serialize(LiveEvent.From(item), LiveEvent.JsonOptions);
                    await response.WriteAsync($"event: violation\ndata: {json}\n\n", cancellationToken);
                }
                await response.Body.FlushAsync(cancellationToken);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The browser went away or the dashboard is stopping: the stream simply ends.
        }
    }

    private static async Task<IResult> ComplianceAsync(HttpContext context, IDashboardStore store, TimeProvider timeProvider, CancellationToken cancellationToken)
    {
        var ok = ComplianceFilter.TryParse(context.Request.Query, timeProvider.GetUtcNow(), out var filter, out var error);
        var buckets = ok ? await store.QueryComplianceAsync(filter.ToQuery(), cancellationToken) : [];
        var totals = ok ? await store.QueryCameraTotalsAsync(filter.From, filter.To, cancellationToken) : [];
        var cameras = await store.GetCamerasAsync(cancellationToken);

        var seen = buckets.Sum(b => b.FacesSeen);
        var unmasked = buckets.Sum(b => b.FacesUnmasked);
        var violations = buckets.Sum(b => b.Violations);
        var chartData = JsonSerializer.Serialize(new
        {
            t = buckets.Select(b => b.Start.ToUnixTimeSeconds()).ToArray(),
            seen = buckets.Select(b => b.FacesSeen).ToArray(),
            unmasked = buckets.Select(b => b.FacesUnmasked).ToArray(),
            violations = buckets.Select(b => b.Violations).ToArray(),
        });
        var cameraOptions = string.Concat(cameras.Select(c => c.Camera).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)
            .Select(c => $"<option value=\"{Html.E(c)}\"{(c == filter.Camera ? " selected" : "")}>{Html.E(c)}</option>"));
        var bucketOptions = string.Concat(Enum.GetValues<BucketSize>().Select(b =>
        {
            var name = b.ToString().ToLowerInvariant();
            return $"<option value=\"{name}\"{(b == filter.Bucket ? " selected" : "")}>{name}</option>";
        }));
        var bucketRows = string.Concat(buckets.Select(b =>
            $"<tr data-bucket=\"{b.Start.UtcDateTime:yyyy-MM-ddTHH:mm:ssZ}\"><td>{Html.Time(b.Start)}</td><td class=\"num seen\">{b.FacesSeen}</td>" +
            $"<td class=\"num unmasked\">{b.FacesUnmasked}</td><td class=\"num\">{Html.Rate(b.ComplianceRate)}</td><td class=\"num violations\">{b.Violations}</td></tr>"));
        var cameraRows = string.Concat(totals.Select(t =>
            $"<tr data-camera=\"{Html.E(t.Camera)}\"><td>{Html.E(t.Device)}</td><td><a href=\"/compliance?camera={Uri.EscapeDataString(t.Camera)}&amp;bucket={filter.Bucket.ToString().ToLowerInvariant()}&amp;from={Html.InputTime(filter.From)}&amp;to={Html.InputTime(filter.To)}\">{Html.E(t.Camera)}</a></td>" +
            $"<td class=\"num\">{t.FacesSeen}</td><td class=\"num\">{t.FacesUnmasked}</td><td class=\"num\">{Html.Rate(t.ComplianceRate)}</td><td class=\"num\">{t.Violations}</td></tr>"));
        var body = $"""
            {(error is null ? "" : $"<p class=\"error\" role=\"alert\">{Html.E(error)}</p>")}
            <form method="get" action="/compliance" class="filters">
              <label>Camera <select name="camera"><option value="">all cameras</option>{cameraOptions}</select></label>
              <label>Bucket <select name="bucket">{bucketOptions}</select></label>
              <label>From (UTC) <input type="datetime-local" step="1" name="from" value="{Html.InputTime(filter.From)}"></label>
              <label>To (UTC) <input type="datetime-local" step="1" name="to" value="{Html.InputTime(filter.To)}"></label>
              <button type="submit">Show</button>
            </form>
            <div class="cards">
              <div class="card"><span class="muted">Faces seen</span><b id="total-seen">{seen}</b></div>
              <div class="card"><span class="muted">Unmasked</span><b id="total-unmasked">{unmasked}</b></div>
              <div class="card"><span class="muted">Compliance</span><b id="total-rate">{Html.Rate(seen == 0 ? null : 1.0 - (double)unmasked / seen)}</b></div>
              <div class="card"><span class="muted">Violations</span><b id="total-violations">{violations}</b></div>
            </div>
            <div id="chart" class="chart" data-bucket="{filter.Bucket.ToString().ToLowerInvariant()}" data-camera="{Html.E(filter.Camera)}"
                 data-buckets="{buckets.Count}" data-total-seen="{seen}" data-total-unmasked="{unmasked}" data-total-violations="{violations}"></div>
            <script type="application/json" id="chart-data">{chartData}</script>
            <h2>By {filter.Bucket.ToString().ToLowerInvariant()}</h2>
            <table id="buckets"><thead><tr><th>Bucket (UTC)</th><th>Faces seen</th><th>Unmasked</th><th>Compliance</th><th>Violations</th></tr></thead>
            <tbody>{bucketRows}</tbody></table>
            <h2>By camera</h2>
            <table id="camera-totals"><thead><tr><th>Device</th><th>Camera</th><th>Faces seen</th><th>Unmasked</th><th>Compliance</th><th>Violations</th></tr></thead>
            <tbody>{cameraRows}</tbody></table>
            """;
        return Layout.Page(context, "Compliance over time", "/compliance", body, ok ? 200 : 400);
    }

    private static async Task<IResult> HistoryAsync(HttpContext context, IDashboardStore store, CancellationToken cancellationToken)
    {
        var ok = EventFilter.TryParse(context.Request.Query, 50, out var filter, out var error);
        var page = ok ? await store.QueryEventsAsync(filter.ToQuery(), cancellationToken) : new EventPage([], 0);
        var pages = Math.Max(1, (int)((page.Total + filter.PageSize - 1) / filter.PageSize));
        var typeOptions = string.Concat(new[] { EventTypes.ViolationStart, EventTypes.ViolationUpdate, EventTypes.ViolationEnd }
            .Select(t => $"<option value=\"{t}\"{(t == filter.Type ? " selected" : "")}>{t}</option>"));
        var rows = string.Concat(page.Items.Select(e => Html.EventRow(e, withSnapshot: false)));
        var pager = new StringBuilder("<nav class=\"pager\">");
        pager.Append(filter.Page > 1 ? $"<a rel=\"prev\" href=\"/history{Html.E(filter.QueryString(filter.Page - 1))}\">← Newer</a>" : "<span></span>");
        pager.Append($"<span id=\"page-info\" data-total=\"{page.Total}\" data-page=\"{filter.Page}\" data-pages=\"{pages}\">Page {filter.Page} of {pages} · {page.Total} events</span>");
        pager.Append(filter.Page < pages ? $"<a rel=\"next\" href=\"/history{Html.E(filter.QueryString(filter.Page + 1))}\">Older →</a>" : "<span></span>");
        pager.Append("</nav>");
        var body = $"""
            {(error is null ? "" : $"<p class=\"error\" role=\"alert\">{Html.E(error)}</p>")}
            <form method="get" action="/history" class="filters" id="history-filter">
              <label>Device <input name="device" value="{Html.E(filter.Device)}"></label>
              <label>Camera <input name="camera" value="{Html.E(filter.Camera)}"></label>
              <label>Type <select name="type"><option value="">any</option>{typeOptions}</select></label>
              <label>From (UTC) <input type="datetime-local" step="1" name="from" value="{Html.InputTime(filter.From)}"></label>
              <label>To (UTC) <input type="datetime-local" step="1" name="to" value="{Html.InputTime(filter.To)}"></label>
              <button type="submit">Search</button>
              <a class="button" id="csv-export" href="/history.csv{Html.E(filter.QueryString())}">Export CSV</a>
            </form>
            <table id="history"><thead><tr><th>Time (UTC)</th><th>Device / camera</th><th>Event</th><th>Duration</th><th>Probability</th><th>Track</th><th>Episode</th><th>Snapshot</th></tr></thead>
            <tbody>{rows}</tbody></table>
            {pager}
            """;
        return Layout.Page(context, "History", "/history", body, ok ? 200 : 400);
    }

    private static async Task<IResult> HistoryCsvAsync(HttpContext context, IDashboardStore store, CancellationToken cancellationToken)
    {
        if (!EventFilter.TryParse(context.Request.Query, 1000, out var filter, out var error))
        {
            return Results.Problem(error, statusCode: 400);
        }
        var csv = new StringBuilder();
        csv.Append("id,type,sequence,device,camera,trackId,startedAt,at,endedAt,durationSeconds,label,probability,framesObserved,framesUnmasked,snapshotId,endReason\r\n");
        const int chunk = 1000;
        const int maxRows = 100_000;
        for (var offset = 0; offset < maxRows; offset += chunk)
        {
            var page = await store.QueryEventsAsync(filter.ToQuery() with { Offset = offset, Limit = chunk }, cancellationToken);
            foreach (var e in page.Items)
            {
                csv.AppendJoin(',', new[]
                {
                    e.Id, e.Type, e.Sequence.ToString(CultureInfo.InvariantCulture), e.Device, e.Camera,
                    e.TrackId.ToString(CultureInfo.InvariantCulture), Iso(e.StartedAt), Iso(e.At), e.EndedAt is { } end ? Iso(end) : "",
                    e.Duration.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture), e.Label,
                    e.Probability.ToString("0.####", CultureInfo.InvariantCulture),
                    e.FramesObserved.ToString(CultureInfo.InvariantCulture), e.FramesUnmasked.ToString(CultureInfo.InvariantCulture),
                    e.SnapshotId ?? "", e.EndReason ?? "",
                }.Select(CsvField)).Append("\r\n");
            }
            if (page.Items.Count < chunk)
            {
                break;
            }
        }
        return Results.File(Encoding.UTF8.GetBytes(csv.ToString()), "text/csv; charset=utf-8", "edgemask-events.csv");
    }

    private static async Task<IResult> DevicesAsync(HttpContext context, IDashboardStore store, DashboardOptions options, TimeProvider timeProvider,
        CancellationToken cancellationToken)
    {
        var now = timeProvider.GetUtcNow();
        var devices = await store.GetDevicesAsync(cancellationToken);
        var cameras = await store.GetCamerasAsync(cancellationToken);
        var deviceRows = string.Concat(devices.Select(d =>
        {
            var online = DeviceView.IsOnline(d, now, options.DeviceOfflineAfter);
            return $"<tr data-device=\"{Html.E(d.Device)}\" data-online=\"{(online ? "true" : "false")}\"><td><b>{Html.E(d.Device)}</b></td>" +
                   $"<td><span class=\"badge {(online ? "online" : "offline")}\">{(online ? "online" : "offline")}</span></td>" +
                   $"<td>{Html.Time(d.LastSeen)}</td><td>{Html.E(d.Version ?? "—")}</td><td>{Html.E(d.ExecutionProvider ?? "—")}</td></tr>";
        }));
        var cameraRows = string.Concat(cameras.Select(c =>
        {
            var online = now - c.LastSeen <= options.DeviceOfflineAfter;
            return $"<tr data-device=\"{Html.E(c.Device)}\" data-camera=\"{Html.E(c.Camera)}\"><td>{Html.E(c.Device)}</td><td><b>{Html.E(c.Camera)}</b></td>" +
                   $"<td><span class=\"badge {(online ? "online" : "offline")}\">{(online ? "online" : "offline")}</span> {Html.E(c.Health ?? "")}</td>" +
                   $"<td>{Html.Time(c.LastSeen)}</td><td class=\"num fps\">{(c.FramesPerSecond is { } fps ? Html.Number(fps, "0.0") : "—")}</td>" +
                   $"<td>{Html.E(c.ExecutionProvider ?? "—")}</td><td class=\"num outbox\">{(c.OutboxDepth is { } depth ? depth.ToString(CultureInfo.InvariantCulture) : "—")}</td>" +
                   $"<td class=\"num\">{Html.Rate(c.ComplianceRate)}</td><td class=\"num\">{c.ActiveViolations?.ToString(CultureInfo.InvariantCulture) ?? "—"}</td></tr>";
        }));
        var body = $"""
            <h2>Devices</h2>
            <table id="devices"><thead><tr><th>Device</th><th>State</th><th>Last seen (UTC)</th><th>Version</th><th>Execution provider</th></tr></thead>
            <tbody>{deviceRows}</tbody></table>
            <h2>Cameras</h2>
            <table id="cameras"><thead><tr><th>Device</th><th>Camera</th><th>State</th><th>Last seen (UTC)</th><th>Frames/s</th><th>Execution provider</th><th>Outbox depth</th><th>Compliance</th><th>Active violations</th></tr></thead>
            <tbody>{cameraRows}</tbody></table>
            <p class="muted">A device is offline when it said so (last will) or sent nothing for {options.DeviceOfflineAfter.TotalMinutes:0.#} min.</p>
            """;
        return Layout.Page(context, "Devices and cameras", "/devices", body);
    }

    private static async Task<IResult> SnapshotAsync(string id, IDashboardStore store, SnapshotFileStore files, CancellationToken cancellationToken)
    {
        if (!SnapshotFileStore.IsSafeId(id) || await store.GetSnapshotAsync(id, cancellationToken) is not { } snapshot
            || files.PathOf(snapshot.FileName) is not { } path)
        {
            return Results.NotFound();
        }
        return Results.File(path, "image/jpeg");
    }

    private static string Iso(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture);

    // Quote every field; a leading = + - @ would be run as a formula by spreadsheets, so it is neutralized.
    private static string CsvField(string value)
    {
        if (value.Length > 0 && value[0] is '=' or '+' or '-' or '@' or '\t' or '\r')
        {
            value = "'" + value;
        }
        return "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
    }
}

/// <summary>What the live stream sends per event (also what the live page's script renders).</summary>
internal sealed record LiveEvent(
    string Key, string Id, string Type, int Sequence, string Device, string Camera, long TrackId,
    DateTimeOffset At, DateTimeOffset StartedAt, DateTimeOffset? EndedAt, double DurationSeconds, string Label, double Probability, string? SnapshotId)
{
    public static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web);

    public static LiveEvent From(StoredEvent e) => new(e.Key, e.Id, e.Type, e.Sequence, e.Device, e.Camera, e.TrackId, e.At, e.StartedAt,
        e.EndedAt, e.Duration.TotalSeconds, e.Label, e.Probability, e.SnapshotId);
}

internal static class DeviceView
{
    public static bool IsOnline(DeviceRow device, DateTimeOffset now, TimeSpan offlineAfter) =>
        device.State != "offline" && now - device.LastSeen <= offlineAfter;
}
