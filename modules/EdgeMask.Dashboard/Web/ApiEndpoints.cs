using EdgeMask.Dashboard.Options;
using EdgeMask.Dashboard.Storage;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace EdgeMask.Dashboard.Web;

/// <summary>The JSON API: the same data as the pages, for scripts (X-Api-Key header) and signed-in browsers.</summary>
internal static class ApiEndpoints
{
    public static void Map(WebApplication app)
    {
        var api = app.MapGroup("/api").WithTags("EdgeMask");
        api.MapGet("/events", EventsAsync)
            .WithName("GetEvents")
            .WithSummary("Violation and incorrect-mask events, newest first, filtered and paged.")
            .WithDescription("Query: device, camera, type (violation.start|violation.update|violation.end|incorrect.start|incorrect.update|incorrect.end), label (mask, no_mask, incorrect, or any other the devices report), from, to (ISO 8601, UTC when no offset), page (1-based), pageSize (1..500). Requires the X-Api-Key header or a signed-in session.");
        api.MapGet("/stats", StatsAsync)
            .WithName("GetStats")
            .WithSummary("Faces seen, unmasked and by label, violations and incorrect-mask episodes per time bucket, and totals per camera.")
            .WithDescription("Query: device, camera, bucket (minute|hour|day), from, to. Requires the X-Api-Key header or a signed-in session.");
        api.MapGet("/devices", DevicesAsync)
            .WithName("GetDevices")
            .WithSummary("Devices (online/offline, last seen) and cameras (frames/s, execution provider, outbox depth).")
            .WithDescription("Requires the X-Api-Key header or a signed-in session.");
    }

    // The [AsParameters] records only describe the query in the OpenAPI document; the query is read (and its
    // errors reported) by the same parser the pages use.
    private static async Task<Results<Ok<EventsResponse>, ProblemHttpResult>> EventsAsync(
        [AsParameters] EventsParameters _, HttpContext context, IDashboardStore store, CancellationToken cancellationToken)
    {
        if (!EventFilter.TryParse(context.Request.Query, 100, out var filter, out var error))
        {
            return TypedResults.Problem(error, statusCode: 400);
        }
        var page = await store.QueryEventsAsync(filter.ToQuery(), cancellationToken);
        return TypedResults.Ok(new EventsResponse(page.Total, filter.Page, filter.PageSize,
            page.Items.Select(e => new EventItem(e.Id, e.Type, e.Sequence, e.Device, e.Camera, e.TrackId, e.StartedAt, e.At, e.EndedAt,
                e.EndReason, e.Duration.TotalSeconds, e.Label, e.Probability, e.FramesObserved, e.FramesUnmasked, e.SnapshotId,
                e.SnapshotId is { } s ? $"/snapshots/{Uri.EscapeDataString(s)}" : null, e.ReceivedAt, e.Probabilities)).ToList()));
    }

    private static async Task<Results<Ok<StatsResponse>, ProblemHttpResult>> StatsAsync(
        [AsParameters] StatsParameters _, HttpContext context, IDashboardStore store, TimeProvider timeProvider, CancellationToken cancellationToken)
    {
        if (!ComplianceFilter.TryParse(context.Request.Query, timeProvider.GetUtcNow(), out var filter, out var error))
        {
            return TypedResults.Problem(error, statusCode: 400);
        }
        var buckets = await store.QueryComplianceAsync(filter.ToQuery(), cancellationToken);
        var cameras = await store.QueryCameraTotalsAsync(filter.Device, filter.Camera, filter.From, filter.To, cancellationToken);
        return TypedResults.Ok(new StatsResponse(filter.Bucket.ToString().ToLowerInvariant(), filter.From, filter.To, filter.Device, filter.Camera,
            buckets.Select(b => new StatsBucket(b.Start, b.FacesSeen, b.FacesUnmasked, b.ComplianceRate, b.Violations, b.IncorrectEpisodes, b.Faces)).ToList(),
            cameras.Select(c => new CameraTotal(c.Device, c.Camera, c.FacesSeen, c.FacesUnmasked, c.ComplianceRate, c.Violations, c.IncorrectEpisodes,
                c.Faces)).ToList()));
    }

    private static async Task<Ok<DevicesResponse>> DevicesAsync(IDashboardStore store, DashboardOptions options, TimeProvider timeProvider,
        CancellationToken cancellationToken)
    {
        var now = timeProvider.GetUtcNow();
        var devices = await store.GetDevicesAsync(cancellationToken);
        var cameras = await store.GetCamerasAsync(cancellationToken);
        var lastDay = await DeviceView.LastDayAsync(store, now, cancellationToken);
        return TypedResults.Ok(new DevicesResponse(
            devices.Select(d => new DeviceItem(d.Device, DeviceView.IsOnline(d, now, options.DeviceOfflineAfter), d.State, d.LastSeen, d.Version,
                d.ExecutionProvider)).ToList(),
            cameras.Select(c =>
            {
                var day = lastDay.GetValueOrDefault((c.Device, c.Camera));
                return new CameraItem(c.Device, c.Camera, now - c.LastSeen <= options.DeviceOfflineAfter, c.LastSeen, c.FramesPerSecond,
                    c.ExecutionProvider, c.OutboxDepth, c.Health, c.ComplianceRate, c.ActiveViolations, c.DroppedFrames,
                    day?.Violations ?? 0, day?.IncorrectEpisodes ?? 0);
            }).ToList()));
    }
}

// Parameter descriptions are in the endpoint descriptions: [Description] on [AsParameters] members makes
// Microsoft.AspNetCore.OpenApi 10.0.12 throw (InvalidCastException in GetParameterDescriptionFromAttribute).
public sealed record EventsParameters(
    [FromQuery(Name = "device")] string? Device,
    [FromQuery(Name = "camera")] string? Camera,
    [FromQuery(Name = "type")] string? Type,
    [FromQuery(Name = "from")] string? From,
    [FromQuery(Name = "to")] string? To,
    [FromQuery(Name = "page")] string? Page,
    [FromQuery(Name = "pageSize")] string? PageSize,
    [FromQuery(Name = "label")] string? Label);

public sealed record StatsParameters(
    [FromQuery(Name = "device")] string? Device,
    [FromQuery(Name = "camera")] string? Camera,
    [FromQuery(Name = "bucket")] string? Bucket,
    [FromQuery(Name = "from")] string? From,
    [FromQuery(Name = "to")] string? To);

public sealed record EventsResponse(long Total, int Page, int PageSize, IReadOnlyList<EventItem> Items);

public sealed record EventItem(
    string Id, string Type, int Sequence, string Device, string Camera, long TrackId, DateTimeOffset StartedAt, DateTimeOffset At,
    DateTimeOffset? EndedAt, string? EndReason, double DurationSeconds, string Label, double Probability, int FramesObserved,
    int FramesUnmasked, string? SnapshotId, string? SnapshotUrl, DateTimeOffset ReceivedAt,
    /// <summary>p of each class keyed by label (contract version 2); null for a version 1 event.</summary>
    LabelProbabilities? Probabilities);

public sealed record StatsResponse(string Bucket, DateTimeOffset From, DateTimeOffset To, string? Device, string? Camera,
    IReadOnlyList<StatsBucket> Series, IReadOnlyList<CameraTotal> Cameras);

/// <param name="FacesByLabel">Faces by the classifier's label; <c>unsplit</c> counts the faces of version 1 stats, which carry no split.</param>
public sealed record StatsBucket(DateTimeOffset Start, long FacesSeen, long FacesUnmasked, double? ComplianceRate, long Violations, long IncorrectEpisodes,
    FaceSplit FacesByLabel);

public sealed record CameraTotal(string Device, string Camera, long FacesSeen, long FacesUnmasked, double? ComplianceRate, long Violations,
    long IncorrectEpisodes, FaceSplit FacesByLabel);

public sealed record DevicesResponse(IReadOnlyList<DeviceItem> Devices, IReadOnlyList<CameraItem> Cameras);

public sealed record DeviceItem(string Device, bool Online, string State, DateTimeOffset LastSeen, string? Version, string? ExecutionProvider);

/// <param name="ViolationsLastDay">Violation episodes started in the last 24 h.</param>
/// <param name="IncorrectEpisodesLastDay">Incorrect-mask episodes started in the last 24 h (devices that count them apart).</param>
public sealed record CameraItem(string Device, string Camera, bool Online, DateTimeOffset LastSeen, double? FramesPerSecond, string? ExecutionProvider,
    long? OutboxDepth, string? Health, double? ComplianceRate, int? ActiveViolations, long? DroppedFrames, long ViolationsLastDay,
    long IncorrectEpisodesLastDay);
