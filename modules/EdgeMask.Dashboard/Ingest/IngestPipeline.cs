using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
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
    SnapshotFileStore snapshots,
    LiveFeed liveFeed,
    StoreOptions storeOptions,
    TimeProvider timeProvider,
    ILogger<IngestPipeline> logger)
{
    public const string SnapshotIdProperty = "snapshotId";
    /// <summary>EdgeMask.Messaging's MqttPublisher puts every message's stable id in the user property <c>id</c>.</summary>
    public const string MessageIdProperty = "id";

    private long _stored;
    private long _duplicates;
    private long _malformed;

    public IngestCounters Counters => new(Interlocked.Read(ref _stored), Interlocked.Read(ref _duplicates), Interlocked.Read(ref _malformed));

    public async Task<IngestOutcome> IngestAsync(IngestMessage message, CancellationToken cancellationToken)
    {
        IngestOutcome outcome;
        try
        {
            outcome = message.Kind switch
            {
                IngestKind.Event => await IngestEventAsync(message, cancellationToken),
                IngestKind.Stats => await IngestStatsAsync(message, cancellationToken),
                IngestKind.Status => await IngestStatusAsync(message, cancellationToken),
                IngestKind.Snapshot => await IngestSnapshotAsync(message, cancellationToken),
                _ => throw new MalformedMessageException($"unknown kind {message.Kind}"),
            };
        }
        catch (MalformedMessageException ex)
        {
            LogMalformed(message.Kind, message.Source, ex.Message);
            outcome = IngestOutcome.Malformed;
        }
        catch (JsonException ex)
        {
            LogMalformed(message.Kind, message.Source, ex.Message);
            outcome = IngestOutcome.Malformed;
        }
        switch (outcome)
        {
            case IngestOutcome.Stored:
                Interlocked.Increment(ref _stored);
                break;
            case IngestOutcome.Duplicate:
                Interlocked.Increment(ref _duplicates);
                break;
            default:
                Interlocked.Increment(ref _malformed);
                break;
        }
        return outcome;
    }

    private async Task<IngestOutcome> IngestEventAsync(IngestMessage message, CancellationToken cancellationToken)
    {
        var e = EventJsonContext.DeserializeEvent(message.Payload.Span);
        // Devices not yet upgraded, and outbox backlogs written before an upgrade, still send version 1.
        Require(EventContract.IsEventSchema(e.Schema), $"schema '{e.Schema}' is not {MaskEvent.SchemaName} or {MaskEvent.SchemaNameV1}");
        Require(EventTypes.All.Contains(e.Type), $"type '{e.Type}' is unknown");
        Require(!string.IsNullOrWhiteSpace(e.Id) && e.Id.Length <= 200, "id is empty or longer than 200 characters");
        Require(e.Sequence >= 0, "sequence is negative");
        RequireParty(e.Device, e.Camera, message);
        Require(e.Mask is not null && float.IsFinite(e.Mask.Probability) && e.Mask.Probability is >= 0 and <= 1, "mask.probability is not in 0..1");
        Require(e.Snapshot is not null, "snapshot is missing");
        Require(e.At >= e.StartedAt, "at is before startedAt");

        var receivedAt = timeProvider.GetUtcNow();
        if (!await store.AddEventAsync(e, receivedAt, cancellationToken))
        {
            return IngestOutcome.Duplicate;
        }
        liveFeed.Publish(new StoredEvent(e.Id, e.Type, e.Sequence, e.Device, e.Camera, e.TrackId, e.StartedAt, e.At, e.EndedAt,
            e.EndReason, e.Mask!.Label, e.Mask.Probability, e.Mask.FramesObserved, e.Mask.FramesUnmasked,
            e.Snapshot!.Available ? e.Snapshot.Id : null, receivedAt));
        return IngestOutcome.Stored;
    }

    private async Task<IngestOutcome> IngestStatsAsync(IngestMessage message, CancellationToken cancellationToken)
    {
        var s = JsonSerializer.Deserialize(message.Payload.Span, EventJsonContext.Default.CameraStats)
            ?? throw new MalformedMessageException("the stats document is null");
        Require(EventContract.IsStatsSchema(s.Schema), $"schema '{s.Schema}' is not {CameraStats.SchemaName} or {CameraStats.SchemaNameV1}");
        RequireParty(s.Device, s.Camera, message);
        Require(s.FacesSeen >= 0 && s.FacesUnmasked >= 0 && s.FacesUnmasked <= s.FacesSeen, "facesSeen/facesUnmasked are inconsistent");
        Require(double.IsFinite(s.FramesPerSecond) && s.FramesPerSecond >= 0, "framesPerSecond is not a finite non-negative number");
        Require(s.LatencyMs is not null, "latencyMs is missing");
        return await store.AddStatsAsync(s, timeProvider.GetUtcNow(), cancellationToken) ? IngestOutcome.Stored : IngestOutcome.Duplicate;
    }

    private async Task<IngestOutcome> IngestStatusAsync(IngestMessage message, CancellationToken cancellationToken)
    {
        var now = timeProvider.GetUtcNow();
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
        await store.UpsertDeviceStatusAsync(status, now, cancellationToken);
        return IngestOutcome.Stored;
    }

    private async Task<IngestOutcome> IngestSnapshotAsync(IngestMessage message, CancellationToken cancellationToken)
    {
        Require(message.Device is not null && message.Camera is not null, "the transport names no device/camera for the snapshot");
        var payload = message.Payload;
        Require(payload.Length >= 4 && payload.Span[0] == 0xFF && payload.Span[1] == 0xD8 && payload.Span[2] == 0xFF, "the payload is not a JPEG");
        Require(payload.Length <= storeOptions.MaxSnapshotBytes, $"the JPEG is larger than {storeOptions.MaxSnapshotBytes} bytes");
        string id;
        if (message.Properties.TryGetValue(SnapshotIdProperty, out var given) || message.Properties.TryGetValue(MessageIdProperty, out given))
        {
            Require(SnapshotFileStore.IsSafeId(given), $"snapshotId '{given}' has characters other than letters, digits, '-', '_', '.'");
            id = given;
        }
        else
        {
            // Without an id the content names it: a redelivered JPEG maps to the same snapshot.
            id = Convert.ToHexStringLower(SHA256.HashData(payload.Span))[..32];
        }
        var fileName = await snapshots.WriteAsync(id, payload, cancellationToken);
        var stored = await store.AddSnapshotAsync(
            new SnapshotRecord(id, message.Device!, message.Camera!, timeProvider.GetUtcNow(), fileName, payload.Length), cancellationToken);
        return stored ? IngestOutcome.Stored : IngestOutcome.Duplicate;
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

    [LoggerMessage(Level = LogLevel.Warning, Message = "Skipped a malformed {Kind} message from {Source}: {Problem}")]
    private partial void LogMalformed(IngestKind kind, string source, string problem);
}

public sealed record IngestCounters(long Stored, long Duplicates, long Malformed);

/// <summary>A message that does not fit the event contract; it is skipped, never retried.</summary>
public sealed class MalformedMessageException(string problem) : Exception(problem);
