using EdgeMask.Core.Events;

namespace EdgeMask.Dashboard.Storage;

/// <summary>
/// Everything the dashboard keeps, behind one interface implemented for SQLite and PostgreSQL with the same SQL.
/// Writes are idempotent: an event is keyed by (id, type, sequence), stats by (device, camera, at), snapshots by id,
/// so QoS 1 redeliveries and Event Hubs replays never double-count.
/// </summary>
public interface IDashboardStore : IDisposable
{
    StoreProviderInfo Info { get; }

    /// <returns>True when stored, false when the same (id, type, sequence) was already there.</returns>
    Task<bool> AddEventAsync(MaskEvent maskEvent, DateTimeOffset receivedAt, CancellationToken cancellationToken);
    Task<bool> AddStatsAsync(CameraStats stats, DateTimeOffset receivedAt, CancellationToken cancellationToken);
    Task UpsertDeviceStatusAsync(DeviceStatus status, DateTimeOffset receivedAt, CancellationToken cancellationToken);
    Task<bool> AddSnapshotAsync(SnapshotRecord snapshot, CancellationToken cancellationToken);

    Task<SnapshotRecord?> GetSnapshotAsync(string id, CancellationToken cancellationToken);
    Task<EventPage> QueryEventsAsync(EventQuery query, CancellationToken cancellationToken);
    Task<IReadOnlyList<ComplianceBucket>> QueryComplianceAsync(ComplianceQuery query, CancellationToken cancellationToken);
    Task<IReadOnlyList<CameraTotals>> QueryCameraTotalsAsync(DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken);
    Task<IReadOnlyList<DeviceRow>> GetDevicesAsync(CancellationToken cancellationToken);
    Task<IReadOnlyList<CameraRow>> GetCamerasAsync(CancellationToken cancellationToken);
    Task<StoreCounts> CountAsync(CancellationToken cancellationToken);

    /// <summary>Deletes rows older than the cut-off and beyond the size limits; returns the snapshot files whose rows went.</summary>
    Task<RetentionResult> ApplyRetentionAsync(RetentionPolicy policy, CancellationToken cancellationToken);

    Task<long?> GetCheckpointAsync(string source, string partition, CancellationToken cancellationToken);
    Task SetCheckpointAsync(string source, string partition, long sequenceNumber, DateTimeOffset at, CancellationToken cancellationToken);
}

public sealed record StoreProviderInfo(string Provider, string Description);

public sealed record StoredEvent(
    string Id, string Type, int Sequence, string Device, string Camera, long TrackId,
    DateTimeOffset StartedAt, DateTimeOffset At, DateTimeOffset? EndedAt, string? EndReason,
    string Label, double Probability, int FramesObserved, int FramesUnmasked,
    string? SnapshotId, DateTimeOffset ReceivedAt)
{
    /// <summary>How long the episode lasted so far (start to end, or to this event while it is still open).</summary>
    public TimeSpan Duration => (EndedAt ?? At) - StartedAt;
    public string Key => $"{Id}:{Type}:{Sequence}";
}

public sealed record EventQuery(
    string? Device = null, string? Camera = null, string? Type = null,
    DateTimeOffset? From = null, DateTimeOffset? To = null, int Offset = 0, int Limit = 50);

public sealed record EventPage(IReadOnlyList<StoredEvent> Items, long Total);

public enum BucketSize
{
    Minute,
    Hour,
    Day,
}

public sealed record ComplianceQuery(string? Device, string? Camera, DateTimeOffset From, DateTimeOffset To, BucketSize Bucket);

/// <summary>Faces seen and unmasked (from stats) and violations started (from events) in one time bucket.</summary>
public sealed record ComplianceBucket(DateTimeOffset Start, long FacesSeen, long FacesUnmasked, long Violations)
{
    public double? ComplianceRate => FacesSeen == 0 ? null : 1.0 - (double)FacesUnmasked / FacesSeen;
}

public sealed record CameraTotals(string Device, string Camera, long FacesSeen, long FacesUnmasked, long Violations)
{
    public double? ComplianceRate => FacesSeen == 0 ? null : 1.0 - (double)FacesUnmasked / FacesSeen;
}

public sealed record DeviceRow(
    string Device, string State, DateTimeOffset LastSeen, DateTimeOffset? StatusAt, string? Version, string? ExecutionProvider);

public sealed record CameraRow(
    string Device, string Camera, DateTimeOffset LastSeen, double? FramesPerSecond, string? ExecutionProvider,
    long? OutboxDepth, string? Health, double? ComplianceRate, int? ActiveViolations, long? DroppedFrames);

public sealed record SnapshotRecord(string Id, string Device, string Camera, DateTimeOffset At, string FileName, long SizeBytes);

public sealed record StoreCounts(long Events, long Stats, long Snapshots, long Devices);

public sealed record RetentionPolicy(DateTimeOffset Cutoff, long MaxRows, long MaxSnapshotBytes);

public sealed record RetentionResult(long EventsDeleted, long StatsDeleted, IReadOnlyList<string> SnapshotFilesDeleted);
