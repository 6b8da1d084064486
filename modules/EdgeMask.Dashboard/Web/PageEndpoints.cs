using System.Globalization;
using System.Text;
using System.Text.Json;
using EdgeMask.Core.Events;
using EdgeMask.Dashboard.Live;
using EdgeMask.Dashboard.Options;
using EdgeMask.Dashboard.Storage;
using EdgeMask.Dashboard.Web.Pages;

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

    private static async Task<IResult> LiveAsync(HttpContext context, IDashboardStore store, TimeProvider timeProvider, CancellationToken cancellationToken)
    {
        var recent = await store.QueryEventsAsync(new EventQuery(Limit: 50), cancellationToken);
        var since = new DateTimeOffset(timeProvider.GetUtcNow().UtcDateTime.Date, TimeSpan.Zero);
        var today = await store.QueryCameraTotalsAsync(null, null, since, since.AddDays(1), cancellationToken);
        return Page.Render<LivePage>(new
        {
            Page = PageContext.From(context), Recent = recent.Items, Since = since,
            Violations = today.Sum(t => t.Violations), IncorrectEpisodes = today.Sum(t => t.IncorrectEpisodes),
        });
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
                    // The SSE event name is the episode's kind, so a consumer can listen to "please cover your nose" alone.
                    await response.WriteAsync($"event: {item.Kind}\ndata: {json}\n\n", cancellationToken);
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
        IReadOnlyList<ComplianceBucket> buckets = ok ? await store.QueryComplianceAsync(filter.ToQuery(), cancellationToken) : [];
        IReadOnlyList<CameraTotals> totals = ok ? await store.QueryCameraTotalsAsync(filter.Device, filter.Camera, filter.From, filter.To, cancellationToken) : [];
        IReadOnlyList<LabelCount> labels = ok ? await store.QueryLabelCountsAsync(filter.Device, filter.Camera, filter.From, filter.To, cancellationToken) : [];
        var cameras = (await store.GetCamerasAsync(cancellationToken)).Select(c => c.Camera).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        return Page.Render<CompliancePage>(new
        {
            Page = PageContext.From(context), Filter = filter, Buckets = buckets, Totals = totals, LabelCounts = labels, Cameras = cameras, Error = error,
        }, ok ? 200 : 400);
    }

    private static async Task<IResult> HistoryAsync(HttpContext context, IDashboardStore store, CancellationToken cancellationToken)
    {
        var ok = EventFilter.TryParse(context.Request.Query, 50, out var filter, out var error);
        var page = ok ? await store.QueryEventsAsync(filter.ToQuery(), cancellationToken) : new EventPage([], 0);
        // The label asked for is offered even when no event has it (yet, or any more), so the form shows the filter in force.
        var stored = await store.GetLabelsAsync(cancellationToken);
        var labels = MaskLabels.FilterOptions(filter.Label is { } asked && !stored.Contains(asked) ? [.. stored, asked] : stored);
        return Page.Render<HistoryPage>(new { Page = PageContext.From(context), Filter = filter, Events = page, Labels = labels, Error = error },
            ok ? 200 : 400);
    }

    private static async Task<IResult> HistoryCsvAsync(HttpContext context, IDashboardStore store, CancellationToken cancellationToken)
    {
        if (!EventFilter.TryParse(context.Request.Query, 1000, out var filter, out var error))
        {
            return Results.Problem(error, statusCode: 400);
        }
        var csv = new StringBuilder();
        csv.Append("id,type,sequence,device,camera,trackId,startedAt,at,endedAt,durationSeconds,label,probability,framesObserved,framesUnmasked,snapshotId,endReason,pMask,pNoMask,pIncorrect\r\n");
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
                    Probability(e.Probability),
                    e.FramesObserved.ToString(CultureInfo.InvariantCulture), e.FramesUnmasked.ToString(CultureInfo.InvariantCulture),
                    e.SnapshotId ?? "", e.EndReason ?? "",
                    // Empty for version 1 events, which carry no class probabilities (and for a two-class classifier's incorrect).
                    Probability(e.Probabilities?.Mask), Probability(e.Probabilities?.NoMask), Probability(e.Probabilities?.Incorrect),
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
        var lastDay = await DeviceView.LastDayAsync(store, now, cancellationToken);
        return Page.Render<DevicesPage>(new
        {
            Page = PageContext.From(context), Devices = devices, Cameras = cameras, LastDay = lastDay, Now = now, OfflineAfter = options.DeviceOfflineAfter,
        });
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

    private static string Probability(double? p) => p?.ToString("0.####", CultureInfo.InvariantCulture) ?? "";

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
    DateTimeOffset At, DateTimeOffset StartedAt, DateTimeOffset? EndedAt, double DurationSeconds, string Label, double Probability, string? SnapshotId,
    LabelProbabilities? Probabilities)
{
    public static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web);

    public static LiveEvent From(StoredEvent e) => new(e.Key, e.Id, e.Type, e.Sequence, e.Device, e.Camera, e.TrackId, e.At, e.StartedAt,
        e.EndedAt, e.Duration.TotalSeconds, e.Label, e.Probability, e.SnapshotId, e.Probabilities);
}

internal static class DeviceView
{
    public static bool IsOnline(DeviceRow device, DateTimeOffset now, TimeSpan offlineAfter) =>
        device.State != "offline" && now - device.LastSeen <= offlineAfter;

    /// <summary>Each camera's totals of the last 24 h (the devices page and <c>/api/devices</c>).</summary>
    public static async Task<Dictionary<(string Device, string Camera), CameraTotals>> LastDayAsync(IDashboardStore store, DateTimeOffset now,
        CancellationToken cancellationToken) =>
        // The end is open by a day because device clocks may run ahead of this one.
        (await store.QueryCameraTotalsAsync(null, null, now.AddDays(-1), now.AddDays(1), cancellationToken)).ToDictionary(t => (t.Device, t.Camera));
}
