using EdgeMask.Core.Events;

namespace EdgeMask.Module.Snapshots;

/// <summary>The two images a snapshot can have on disk.</summary>
public enum SnapshotImageKind
{
    Crop,
    Frame,
}

public enum SnapshotStatus
{
    /// <summary>Written to disk; <see cref="SnapshotResult.Id"/> can be read back.</summary>
    Stored,

    /// <summary>Snapshots are turned off (<see cref="SnapshotOptions.Enabled"/>).</summary>
    Disabled,

    /// <summary>Skipped: the episode had a snapshot less than <see cref="SnapshotOptions.MinIntervalPerEpisode"/> ago.</summary>
    Throttled,

    /// <summary>Rendering or storage failed (disk full, read-only, missing folder …); logged, never thrown.</summary>
    Failed,
}

/// <summary>
/// The outcome of taking one snapshot. Only <see cref="SnapshotStatus.Stored"/> counts as available: the event then
/// names <see cref="Id"/>; otherwise the event says there is no snapshot and the pipeline goes on.
/// </summary>
public sealed record SnapshotResult(
    SnapshotStatus Status,
    string? Id,
    string? Camera,
    DateTimeOffset? CreatedAt,
    string? CropPath,
    string? FramePath,
    long Bytes,
    bool Blurred,
    byte[]? PublishJpeg,
    string? Error)
{
    public static SnapshotResult Disabled { get; } = new(SnapshotStatus.Disabled, null, null, null, null, null, 0, false, null, null);
    public static SnapshotResult Throttled { get; } = new(SnapshotStatus.Throttled, null, null, null, null, null, 0, false, null, null);

    public static SnapshotResult Failure(string? camera, string error) =>
        new(SnapshotStatus.Failed, null, camera, null, null, null, 0, false, null, error);

    public bool Available => Status == SnapshotStatus.Stored;

    /// <summary>
    /// The event's <c>snapshot</c> field: available with id, topic (null when nothing is published) and blurred flag,
    /// or <see cref="EventSnapshot.None"/> when the snapshot is not available.
    /// </summary>
    public EventSnapshot ToEventSnapshot(string? topic) =>
        Available ? new EventSnapshot(true, Id, PublishJpeg is null ? null : topic, Blurred) : EventSnapshot.None;
}

/// <summary>A snapshot on disk: its files (null when that image was not stored) and their total size.</summary>
public sealed record StoredSnapshot(string Id, string Camera, DateTimeOffset CreatedAt, string? CropPath, string? FramePath, long Bytes)
{
    public string? PathOf(SnapshotImageKind kind) => kind == SnapshotImageKind.Crop ? CropPath : FramePath;
}

/// <summary>What one retention pass deleted and what is left.</summary>
public sealed record RetentionReport(int DeletedSnapshots, int DeletedFiles, long DeletedBytes, int Files, long Bytes);
