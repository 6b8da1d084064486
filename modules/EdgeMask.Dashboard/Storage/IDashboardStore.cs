using System.Globalization;
using System.Text.Json.Serialization;
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

    /// <summary>
    /// Writes a whole batch in one transaction (one commit, hence one fsync, per batch: this is what lets a burst from
    /// a fleet be stored at thousands of events per second). Each item is stored once; the result says which were new.
    /// </summary>
    Task<StoreBatchResult> AddBatchAsync(StoreBatch batch, DateTimeOffset receivedAt, CancellationToken cancellationToken);

    /// <returns>True when stored, false when the same (id, type, sequence) was already there.</returns>
    Task<bool> AddEventAsync(MaskEvent maskEvent, DateTimeOffset receivedAt, CancellationToken cancellationToken);
    Task<bool> AddStatsAsync(CameraStats stats, DateTimeOffset receivedAt, CancellationToken cancellationToken);
    Task UpsertDeviceStatusAsync(DeviceStatus status, DateTimeOffset receivedAt, CancellationToken cancellationToken);
    Task<bool> AddSnapshotAsync(SnapshotRecord snapshot, CancellationToken cancellationToken);

    Task<SnapshotRecord?> GetSnapshotAsync(string id, CancellationToken cancellationToken);
    Task<EventPage> QueryEventsAsync(EventQuery query, CancellationToken cancellationToken);
    Task<IReadOnlyList<ComplianceBucket>> QueryComplianceAsync(ComplianceQuery query, CancellationToken cancellationToken);
    /// <summary>Per camera over the range; <paramref name="device"/>/<paramref name="camera"/> (null: all) narrow it as the other filters do.</summary>
    Task<IReadOnlyList<CameraTotals>> QueryCameraTotalsAsync(string? device, string? camera, DateTimeOffset from, DateTimeOffset to,
        CancellationToken cancellationToken);
    /// <summary>Episodes started (violation and incorrect-mask) per mask label (the labels the devices reported, whatever they are).</summary>
    Task<IReadOnlyList<LabelCount>> QueryLabelCountsAsync(string? device, string? camera, DateTimeOffset from, DateTimeOffset to,
        CancellationToken cancellationToken);
    /// <summary>Every label seen in stored events, for filters.</summary>
    Task<IReadOnlyList<string>> GetLabelsAsync(CancellationToken cancellationToken);
    Task<IReadOnlyList<DeviceRow>> GetDevicesAsync(CancellationToken cancellationToken);
    Task<IReadOnlyList<CameraRow>> GetCamerasAsync(CancellationToken cancellationToken);
    Task<StoreCounts> CountAsync(CancellationToken cancellationToken);

    /// <summary>Deletes rows older than the cut-off and beyond the size limits; returns the snapshot files whose rows went.</summary>
    Task<RetentionResult> ApplyRetentionAsync(RetentionPolicy policy, CancellationToken cancellationToken);

    /// <summary>The schema versions recorded in <c>schema_migrations</c>, oldest first.</summary>
    Task<IReadOnlyList<int>> SchemaVersionsAsync(CancellationToken cancellationToken);

    /// <summary>Every ownership row of one hub and consumer group, expired ones included (a claim needs their version).</summary>
    Task<IReadOnlyList<PartitionOwnership>> ListOwnershipAsync(EventHubKey hub, CancellationToken cancellationToken);

    /// <summary>
    /// Claims each desired ownership with optimistic concurrency: without a version only if nobody has the partition
    /// yet, with a version only if the row still has that version. Returns the claims that won, each with its new
    /// version and <paramref name="now"/> as last-modified time; a lost race is left out, never thrown.
    /// </summary>
    Task<IReadOnlyList<PartitionOwnership>> ClaimOwnershipAsync(IReadOnlyList<PartitionOwnership> desired, DateTimeOffset now,
        CancellationToken cancellationToken);

    Task<PartitionCheckpoint?> GetCheckpointAsync(EventHubKey hub, string partitionId, CancellationToken cancellationToken);
    Task SetCheckpointAsync(PartitionCheckpoint checkpoint, CancellationToken cancellationToken);
}

/// <summary>What one transaction stores; items are validated by the ingest before they get here.</summary>
public sealed record StoreBatch(
    IReadOnlyList<MaskEvent> Events,
    IReadOnlyList<CameraStats> Stats,
    IReadOnlyList<DeviceStatus> Statuses,
    IReadOnlyList<SnapshotRecord> Snapshots)
{
    public static StoreBatch Empty { get; } = new([], [], [], []);
    public bool IsEmpty => Events.Count == 0 && Stats.Count == 0 && Statuses.Count == 0 && Snapshots.Count == 0;
}

/// <summary>Per item of a <see cref="StoreBatch"/>, in the same order: true when it was new.</summary>
public sealed record StoreBatchResult(bool[] EventsStored, bool[] StatsStored, bool[] SnapshotsStored);

/// <summary>
/// One Event Hub and consumer group. Event Hubs names are case-insensitive, so they are kept in lower case (as the
/// SDK's own Blob checkpoint store does): two replicas spelling the namespace differently still share ownership.
/// </summary>
public sealed record EventHubKey
{
    public EventHubKey(string fullyQualifiedNamespace, string eventHubName, string consumerGroup)
    {
        Namespace = Normalize(fullyQualifiedNamespace);
        EventHub = Normalize(eventHubName);
        ConsumerGroup = Normalize(consumerGroup);
    }

    public string Namespace { get; }
    public string EventHub { get; }
    public string ConsumerGroup { get; }

    internal static string Normalize(string name) => name.Trim().ToLowerInvariant();
}

/// <summary>Who reads a partition. An empty <see cref="OwnerId"/> is a relinquished partition; <see cref="Version"/> is the ETag.</summary>
public sealed record PartitionOwnership(EventHubKey Hub, string PartitionId, string OwnerId, DateTimeOffset LastModified, string? Version);

/// <summary>Where a partition resumes: after <see cref="SequenceNumber"/> (or <see cref="Offset"/> when only that is known).</summary>
public sealed record PartitionCheckpoint(EventHubKey Hub, string PartitionId, string? Offset, long? SequenceNumber, string? ClientId,
    DateTimeOffset UpdatedAt);

public sealed record StoreProviderInfo(string Provider, string Description);

public sealed record StoredEvent(
    string Id, string Type, int Sequence, string Device, string Camera, long TrackId,
    DateTimeOffset StartedAt, DateTimeOffset At, DateTimeOffset? EndedAt, string? EndReason,
    string Label, double Probability, int FramesObserved, int FramesUnmasked,
    string? SnapshotId, DateTimeOffset ReceivedAt)
{
    /// <summary>The classifier's probability of each class (contract version 2); null for a version 1 event.</summary>
    public LabelProbabilities? Probabilities { get; init; }

    /// <summary>An episode of a mask worn incorrectly, counted apart from violations (<c>incorrect.*</c>).</summary>
    public bool IsIncorrectMask => EventTypes.IsIncorrect(Type);

    /// <summary>The episode's kind as pages, styles and the live stream name it: <c>incorrect</c> or <c>violation</c>.</summary>
    public string Kind => IsIncorrectMask ? "incorrect" : "violation";

    /// <summary>How long the episode lasted so far (start to end, or to this event while it is still open).</summary>
    public TimeSpan Duration => (EndedAt ?? At) - StartedAt;
    public string Key => $"{Id}:{Type}:{Sequence}";
}

public sealed record EventQuery(
    string? Device = null, string? Camera = null, string? Type = null,
    DateTimeOffset? From = null, DateTimeOffset? To = null, int Offset = 0, int Limit = 50, string? Label = null);

/// <summary>Starts per label: of violation episodes, and of incorrect-mask episodes (<c>incorrect.start</c>).</summary>
public sealed record LabelCount(string Label, long Violations, long IncorrectEpisodes);

/// <summary>
/// p of each class as the event reported it, keyed by label as in the event contract. <see cref="Incorrect"/> is null
/// for a two-class classifier.
/// </summary>
public sealed record LabelProbabilities(
    [property: JsonPropertyName("mask")] double Mask,
    [property: JsonPropertyName("no_mask")] double NoMask,
    [property: JsonPropertyName("incorrect")] double? Incorrect)
{
    public static LabelProbabilities From(EventProbabilities p) => new(Widen(p.Mask), Widen(p.NoMask), p.Incorrect is { } i ? Widen(i) : null);

    /// <summary>
    /// The float as the document wrote it (the shortest decimal that reads back as the same float), so the API and CSV
    /// say 0.7371715 where the device said 0.7371715, not the float's binary expansion 0.737171471118927.
    /// </summary>
    public static double Widen(float value) => double.Parse(value.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
}

/// <summary>
/// Faces by the classifier's label, summed over the stats that carry <c>facesByLabel</c> (contract version 2), and the
/// faces of stats that do not (<see cref="Unsplit"/>: version 1 devices, whose classifier had no third label).
/// </summary>
public sealed record FaceSplit(
    [property: JsonPropertyName("mask")] long Mask,
    [property: JsonPropertyName("no_mask")] long NoMask,
    [property: JsonPropertyName("incorrect")] long Incorrect,
    [property: JsonPropertyName("unsplit")] long Unsplit)
{
    public static FaceSplit Zero { get; } = new(0, 0, 0, 0);

    public FaceSplit Add(FaceSplit other) => new(Mask + other.Mask, NoMask + other.NoMask, Incorrect + other.Incorrect, Unsplit + other.Unsplit);

    /// <summary>
    /// The faces the device classified: the labelled ones, plus every face of version 1 stats (their devices classified
    /// each face they saw). Since issue 16 a version 2 device leaves small and unlinked faces unclassified and samples
    /// settled tracks, so its <c>facesSeen</c> is larger than this.
    /// </summary>
    [JsonIgnore]
    public long Classified => Mask + NoMask + Incorrect + Unsplit;

    /// <summary>
    /// 1 − unmasked / classified faces, as the device computes its own <c>complianceRate</c> (unmasked as its policy
    /// counts it); null when no face was classified.
    /// </summary>
    public double? ComplianceRate(long unmasked) => Classified == 0 ? null : Math.Clamp(1.0 - (double)unmasked / Classified, 0.0, 1.0);
}

public sealed record EventPage(IReadOnlyList<StoredEvent> Items, long Total);

public enum BucketSize
{
    Minute,
    Hour,
    Day,
}

public sealed record ComplianceQuery(string? Device, string? Camera, DateTimeOffset From, DateTimeOffset To, BucketSize Bucket);

/// <summary>
/// Faces seen, unmasked and split by label (from stats), and episodes started (from events) in one time bucket:
/// <see cref="Violations"/> (<c>violation.start</c>) and <see cref="IncorrectEpisodes"/> (<c>incorrect.start</c>, sent
/// only by devices that count badly worn masks separately).
/// </summary>
/// <remarks>
/// The compliance rate is the device's: 1 − unmasked / classified faces (<see cref="FaceSplit.ComplianceRate"/>), unmasked
/// as the device's policy counts it. Not over <see cref="FacesSeen"/>: a device leaves faces it cannot judge unclassified,
/// and counting them as compliant would flatter a crowd.
/// </remarks>
public sealed record ComplianceBucket(DateTimeOffset Start, long FacesSeen, long FacesUnmasked, long Violations, long IncorrectEpisodes, FaceSplit Faces)
{
    public double? ComplianceRate => Faces.ComplianceRate(FacesUnmasked);
}

public sealed record CameraTotals(string Device, string Camera, long FacesSeen, long FacesUnmasked, long Violations, long IncorrectEpisodes, FaceSplit Faces)
{
    public double? ComplianceRate => Faces.ComplianceRate(FacesUnmasked);
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
