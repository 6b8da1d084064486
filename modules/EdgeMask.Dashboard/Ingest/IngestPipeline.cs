using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using EdgeMask.Core.Detection;
using EdgeMask.Core.Events;
using EdgeMask.Dashboard.Live;
using EdgeMask.Dashboard.Options;
using EdgeMask.Dashboard.Storage;

namespace EdgeMask.Dashboard.Ingest;

/// <summary>
/// The one ingest every transport feeds: parses and checks a message against the contract, stores it
/// idempotently, and pushes new events to the live feed. A message that does not fit the contract is logged and
/// skipped — it never stops the ingest; store failures (database down) are the caller's to retry.
/// </summary>
public sealed partial class IngestPipeline(
    IDashboardStore store,
    SnapshotFileStore snapshotFiles,
    LiveFeed liveFeed,
    StoreOptions storeOptions,
    TimeProvider timeProvider,
    ILogger<IngestPipeline> logger)
{
    public const string SnapshotIdProperty = "snapshotId";
    /// <summary>EdgeMask.Messaging's MqttPublisher puts every message's stable id in the user property <c>id</c>.</summary>
    public const string MessageIdProperty = "id";

    private const int MaxUnknownLabelsLogged = 100;
    private readonly ConcurrentDictionary<string, byte> _unknownLabels = new(StringComparer.Ordinal);
    private long _stored;
    private long _duplicates;
    private long _malformed;

    public IngestCounters Counters => new(Interlocked.Read(ref _stored), Interlocked.Read(ref _duplicates), Interlocked.Read(ref _malformed));

    public async Task<IngestOutcome> IngestAsync(IngestMessage message, CancellationToken cancellationToken) =>
        (await IngestBatchAsync([message], cancellationToken))[0];

    /// <summary>
    /// Checks every message, then stores all valid ones in one transaction (snapshot files first, so a row never
    /// names a missing file). Returns one outcome per message, in order. Store failures (database down) are thrown
    /// for the caller to retry the whole batch; that is safe because every write is idempotent.
    /// </summary>
    public async Task<IReadOnlyList<IngestOutcome>> IngestBatchAsync(IReadOnlyList<IngestMessage> messages, CancellationToken cancellationToken)
    {
        var outcomes = new IngestOutcome[messages.Count];
        var now = timeProvider.GetUtcNow();
        var events = new List<(int Index, MaskEvent Event)>();
        var stats = new List<(int Index, CameraStats Stats)>();
        var statuses = new List<(int Index, DeviceStatus Status)>();
        var snapshotMessages = new List<(int Index, string Id)>();
        for (var i = 0; i < messages.Count; i++)
        {
            var message = messages[i];
            try
            {
                switch (message.Kind)
                {
                    case IngestKind.Event:
                        events.Add((i, ParseEvent(message)));
                        break;
                    case IngestKind.Stats:
                        stats.Add((i, ParseStats(message)));
                        break;
                    case IngestKind.Status:
                        statuses.Add((i, ParseStatus(message, now)));
                        break;
                    case IngestKind.Snapshot:
                        snapshotMessages.Add((i, SnapshotId(message)));
                        break;
                    default:
                        throw new MalformedMessageException($"unknown kind {message.Kind}");
                }
            }
            catch (Exception ex) when (ex is MalformedMessageException or JsonException)
            {
                LogMalformed(message.Kind, message.Source, ex.Message);
                outcomes[i] = IngestOutcome.Malformed;
            }
        }
        var snapshots = new List<SnapshotRecord>(snapshotMessages.Count);
        foreach (var (index, id) in snapshotMessages)
        {
            var message = messages[index];
            var fileName = await snapshotFiles.WriteAsync(id, message.Payload, cancellationToken);
            snapshots.Add(new SnapshotRecord(id, message.Device!, message.Camera!, now, fileName, message.Payload.Length));
        }

        var result = await store.AddBatchAsync(new StoreBatch([.. events.Select(e => e.Event)], [.. stats.Select(s => s.Stats)],
            [.. statuses.Select(s => s.Status)], snapshots), now, cancellationToken);
        for (var i = 0; i < events.Count; i++)
        {
            outcomes[events[i].Index] = result.EventsStored[i] ? IngestOutcome.Stored : IngestOutcome.Duplicate;
            if (result.EventsStored[i])
            {
                var e = events[i].Event;
                NoteLabel(e);
                liveFeed.Publish(new StoredEvent(e.Id, e.Type, e.Sequence, e.Device, e.Camera, e.TrackId, e.StartedAt, e.At, e.EndedAt,
                    e.EndReason, e.Mask.Label, LabelProbabilities.Widen(e.Mask.Probability), e.Mask.FramesObserved, e.Mask.FramesUnmasked,
                    e.Snapshot.Available ? e.Snapshot.Id : null, now)
                {
                    Probabilities = e.Mask.Probabilities is { } p ? LabelProbabilities.From(p) : null,
                });
            }
        }
        for (var i = 0; i < stats.Count; i++)
        {
            outcomes[stats[i].Index] = result.StatsStored[i] ? IngestOutcome.Stored : IngestOutcome.Duplicate;
        }
        foreach (var (index, _) in statuses)
        {
            outcomes[index] = IngestOutcome.Stored;
        }
        for (var i = 0; i < snapshotMessages.Count; i++)
        {
            outcomes[snapshotMessages[i].Index] = result.SnapshotsStored[i] ? IngestOutcome.Stored : IngestOutcome.Duplicate;
        }
        Interlocked.Add(ref _stored, outcomes.Count(o => o == IngestOutcome.Stored));
        Interlocked.Add(ref _duplicates, outcomes.Count(o => o == IngestOutcome.Duplicate));
        Interlocked.Add(ref _malformed, outcomes.Count(o => o == IngestOutcome.Malformed));
        return outcomes;
    }

    private static MaskEvent ParseEvent(IngestMessage message)
    {
        var e = EventJsonContext.DeserializeEvent(message.Payload.Span);
        // Devices not yet upgraded, and outbox backlogs written before an upgrade, still send version 1.
        Require(EventContract.IsEventSchema(e.Schema), $"schema '{e.Schema}' is not {MaskEvent.SchemaName} or {MaskEvent.SchemaNameV1}");
        Require(EventTypes.All.Contains(e.Type), $"type '{e.Type}' is unknown");
        Require(!string.IsNullOrWhiteSpace(e.Id) && e.Id.Length <= 200, "id is empty or longer than 200 characters");
        Require(e.Sequence >= 0, "sequence is negative");
        RequireParty(e.Device, e.Camera, message);
        Require(e.Mask is not null && float.IsFinite(e.Mask.Probability) && e.Mask.Probability is >= 0 and <= 1, "mask.probability is not in 0..1");
        Require(!string.IsNullOrWhiteSpace(e.Mask!.Label) && e.Mask.Label.Length <= 64, "mask.label is empty or longer than 64 characters");
        if (e.Mask.Probabilities is { } p)
        {
            Require(IsProbability(p.Mask) && IsProbability(p.NoMask) && (p.Incorrect is null || IsProbability(p.Incorrect.Value)),
                "mask.probabilities has a value that is not in 0..1");
        }
        Require(e.Snapshot is not null, "snapshot is missing");
        Require(e.At >= e.StartedAt, "at is before startedAt");
        return e;
    }

    private static CameraStats ParseStats(IngestMessage message)
    {
        var s = JsonSerializer.Deserialize(message.Payload.Span, EventJsonContext.Default.CameraStats)
            ?? throw new MalformedMessageException("the stats document is null");
        Require(EventContract.IsStatsSchema(s.Schema), $"schema '{s.Schema}' is not {CameraStats.SchemaName} or {CameraStats.SchemaNameV1}");
        RequireParty(s.Device, s.Camera, message);
        Require(s.FacesSeen >= 0 && s.FacesUnmasked >= 0 && s.FacesUnmasked <= s.FacesSeen, "facesSeen/facesUnmasked are inconsistent");
        if (s.FacesByLabel is { } split)
        {
            // The split is of the classified faces, which are among the faces seen.
            Require(split.Mask >= 0 && split.NoMask >= 0 && split.Incorrect >= 0, "facesByLabel has a negative count");
            Require(split.Mask + split.NoMask + split.Incorrect <= s.FacesSeen, "facesByLabel adds up to more than facesSeen");
        }
        Require(double.IsFinite(s.FramesPerSecond) && s.FramesPerSecond >= 0, "framesPerSecond is not a finite non-negative number");
        Require(s.LatencyMs is not null, "latencyMs is missing");
        return s;
    }

    private static DeviceStatus ParseStatus(IngestMessage message, DateTimeOffset now)
    {
        DeviceStatus status;
        var text = message.Payload.Length <= 16 ? Encoding.UTF8.GetString(message.Payload.Span).Trim() : null;
        if (text is "online" or "offline" && message.Device is not null)
        {
            // Tolerate a bare last-will payload from brokers/tools that cannot send JSON.
            status = new DeviceStatus { Device = message.Device, State = text, At = now };
        }
        else
        {
            status = JsonSerializer.Deserialize(message.Payload.Span, EventJsonContext.Default.DeviceStatus)
                ?? throw new MalformedMessageException("the status document is null");
            Require(status.Schema == DeviceStatus.SchemaName, $"schema '{status.Schema}' is not {DeviceStatus.SchemaName}");
        }
        Require(status.State is "online" or "offline", $"state '{status.State}' is neither online nor offline");
        Require(!string.IsNullOrWhiteSpace(status.Device), "device is empty");
        Require(message.Device is null || message.Device == status.Device, $"device '{status.Device}' does not match the topic's '{message.Device}'");
        return status;
    }

    private string SnapshotId(IngestMessage message)
    {
        Require(message.Device is not null && message.Camera is not null, "the transport names no device/camera for the snapshot");
        var payload = message.Payload;
        Require(payload.Length >= 4 && payload.Span[0] == 0xFF && payload.Span[1] == 0xD8 && payload.Span[2] == 0xFF, "the payload is not a JPEG");
        Require(payload.Length <= storeOptions.MaxSnapshotBytes, $"the JPEG is larger than {storeOptions.MaxSnapshotBytes} bytes");
        if (message.Properties.TryGetValue(SnapshotIdProperty, out var given) || message.Properties.TryGetValue(MessageIdProperty, out given))
        {
            Require(SnapshotFileStore.IsSafeId(given), $"snapshotId '{given}' has characters other than letters, digits, '-', '_', '.'");
            return given;
        }
        // Without an id the content names it: a redelivered JPEG maps to the same snapshot.
        return Convert.ToHexStringLower(SHA256.HashData(payload.Span))[..32];
    }

    private static bool IsProbability(float p) => float.IsFinite(p) && p is >= 0 and <= 1;

    /// <summary>
    /// A label outside the contract's (a newer classifier's, or a device that does not follow the contract) is stored and
    /// shown like any other, never refused: refusing would lose the violation. It is logged once per label so that
    /// whoever runs the dashboard learns of it without a warning per message.
    /// </summary>
    private void NoteLabel(MaskEvent e)
    {
        if (MaskLabelExtensions.TryParseWireName(e.Mask.Label, out _) || _unknownLabels.Count >= MaxUnknownLabelsLogged)
        {
            return;
        }
        if (_unknownLabels.TryAdd(e.Mask.Label, 0))
        {
            LogUnknownLabel(e.Mask.Label, e.Device, e.Camera, e.Schema);
        }
    }

    private static void RequireParty(string device, string camera, IngestMessage message)
    {
        Require(!string.IsNullOrWhiteSpace(device) && !string.IsNullOrWhiteSpace(camera), "device or camera is empty");
        Require(message.Device is null || message.Device == device, $"device '{device}' does not match the transport's '{message.Device}'");
        Require(message.Camera is null || message.Camera == camera, $"camera '{camera}' does not match the transport's '{message.Camera}'");
    }

    private static void Require(bool condition, string problem)
    {
        if (!condition)
        {
            throw new MalformedMessageException(problem);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Stored events with the mask label {Label}, which is none of mask, no_mask, incorrect (first from {Device}/{Camera}, {Schema}); they are shown with a neutral colour and counted under their own label")]
    private partial void LogUnknownLabel(string label, string device, string camera, string schema);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Skipped a malformed {Kind} message from {Source}: {Problem}")]
    private partial void LogMalformed(IngestKind kind, string source, string problem);
}

public sealed record IngestCounters(long Stored, long Duplicates, long Malformed);

/// <summary>A message that does not fit the event contract; it is skipped, never retried.</summary>
public sealed class MalformedMessageException(string problem) : Exception(problem);
