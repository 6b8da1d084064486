using System.Text.Json;
using Azure.Messaging.EventHubs;
using Azure.Messaging.EventHubs.Consumer;
using EdgeMask.Dashboard.Options;
using EdgeMask.Dashboard.Storage;

namespace EdgeMask.Dashboard.Ingest;

/// <summary>
/// Turns an event read from IoT Hub's built-in (Event Hubs-compatible) endpoint into an <see cref="IngestMessage"/>.
/// The kind comes from the application property <c>edgemask-kind</c> when the module sets one, else from the JSON
/// <c>schema</c> field; a JPEG body is a snapshot. Device and camera come from IoT Hub's system property
/// <c>iothub-connection-device-id</c> and the application property <c>camera</c> when present.
/// </summary>
public static class EventHubsMessageMapper
{
    public const string KindProperty = "edgemask-kind";
    public const string DeviceIdSystemProperty = "iothub-connection-device-id";
    public const string CameraProperty = "camera";

    public static IngestMessage Map(EventData data, string partitionId)
    {
        var body = data.EventBody.ToMemory();
        var properties = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in data.Properties)
        {
            if (value is not null)
            {
                properties[key] = Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture) ?? "";
            }
        }
        var source = $"eventhubs:{partitionId}/{data.SequenceNumber}";
        string? device = data.SystemProperties.TryGetValue(DeviceIdSystemProperty, out var d) ? d as string : null;
        properties.TryGetValue(CameraProperty, out var camera);

        IngestKind kind;
        if (properties.TryGetValue(KindProperty, out var declared) && TryParseKind(declared, out var declaredKind))
        {
            kind = declaredKind;
        }
        else if (body.Length >= 3 && body.Span[0] == 0xFF && body.Span[1] == 0xD8 && body.Span[2] == 0xFF)
        {
            kind = IngestKind.Snapshot;
        }
        else
        {
            kind = KindFromSchema(body.Span);
        }
        // Events, stats and status carry device/camera in the body; the hub's device id is the module's edge device,
        // which is the contract's device too, so it is checked against the body by the ingest.
        return new IngestMessage(kind, device, kind is IngestKind.Snapshot ? camera : null, body, properties, source);
    }

    private static bool TryParseKind(string text, out IngestKind kind)
    {
        switch (text)
        {
            case "events" or "event":
                kind = IngestKind.Event;
                return true;
            case "stats":
                kind = IngestKind.Stats;
                return true;
            case "status":
                kind = IngestKind.Status;
                return true;
            case "snapshot":
                kind = IngestKind.Snapshot;
                return true;
            default:
                kind = default;
                return false;
        }
    }

    private static IngestKind KindFromSchema(ReadOnlySpan<byte> body)
    {
        try
        {
            var reader = new Utf8JsonReader(body);
            if (reader.Read() && reader.TokenType == JsonTokenType.StartObject)
            {
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    var isSchema = reader.ValueTextEquals("schema");
                    reader.Read();
                    if (isSchema && reader.TokenType == JsonTokenType.String)
                    {
                        return reader.GetString() switch
                        {
                            Core.Events.CameraStats.SchemaName or Core.Events.CameraStats.SchemaNameV1 => IngestKind.Stats,
                            Core.Events.DeviceStatus.SchemaName => IngestKind.Status,
                            _ => IngestKind.Event,
                        };
                    }
                    reader.Skip();
                }
            }
        }
        catch (JsonException)
        {
            // Not JSON at all: let the event ingest reject it with a proper message.
        }
        return IngestKind.Event;
    }
}

/// <summary>
/// Everything of the Event Hubs path except the network client: ingests each event of a partition and keeps the
/// partition's checkpoint (last sequence number) in the dashboard store every <c>CheckpointEvery</c> events.
/// </summary>
public sealed class EventHubsPartitionProcessor(
    IngestPipeline pipeline,
    IDashboardStore store,
    EventHubsIngestOptions options,
    string checkpointSource,
    TimeProvider timeProvider)
{
    // Partitions are read concurrently; each touches only its own entry.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, (long Sequence, int Pending)> _progress = new(StringComparer.Ordinal);

    public string CheckpointSource => checkpointSource;

    public async Task<EventPosition> StartingPositionAsync(string partitionId, CancellationToken cancellationToken)
    {
        if (options.Checkpoint && await store.GetCheckpointAsync(checkpointSource, partitionId, cancellationToken) is { } sequence)
        {
            return EventPosition.FromSequenceNumber(sequence, isInclusive: false);
        }
        return options.StartPosition == "Earliest" ? EventPosition.Earliest : EventPosition.Latest;
    }

    public async Task<IngestOutcome> ProcessAsync(string partitionId, EventData data, CancellationToken cancellationToken)
    {
        var outcome = await pipeline.IngestAsync(EventHubsMessageMapper.Map(data, partitionId), cancellationToken);
        if (options.Checkpoint)
        {
            var pending = (_progress.TryGetValue(partitionId, out var current) ? current.Pending : 0) + 1;
            _progress[partitionId] = (data.SequenceNumber, pending);
            if (pending >= options.CheckpointEvery)
            {
                await FlushAsync(partitionId, cancellationToken);
            }
        }
        return outcome;
    }

    public async Task FlushAsync(string partitionId, CancellationToken cancellationToken)
    {
        if (_progress.TryGetValue(partitionId, out var progress) && progress.Pending > 0)
        {
            await store.SetCheckpointAsync(checkpointSource, partitionId, progress.Sequence, timeProvider.GetUtcNow(), cancellationToken);
            _progress[partitionId] = (progress.Sequence, 0);
        }
    }
}

/// <summary>
/// Reads every partition of IoT Hub's built-in endpoint with <see cref="EventHubConsumerClient"/>. This part needs
/// Azure and is not exercised by the tests (no network here); the processor it drives is.
/// </summary>
public sealed partial class EventHubsIngestService(
    EventHubsIngestOptions options,
    IngestPipeline pipeline,
    IDashboardStore store,
    TimeProvider timeProvider,
    ILogger<EventHubsIngestService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await using var client = string.IsNullOrEmpty(options.EventHubName)
            ? new EventHubConsumerClient(options.ConsumerGroup, options.ConnectionString)
            : new EventHubConsumerClient(options.ConsumerGroup, options.ConnectionString, options.EventHubName);
        var processor = new EventHubsPartitionProcessor(pipeline, store, options,
            $"eventhubs:{client.FullyQualifiedNamespace}/{client.EventHubName}/{client.ConsumerGroup}", timeProvider);
        var partitions = await client.GetPartitionIdsAsync(stoppingToken);
        LogStarting(client.FullyQualifiedNamespace, client.EventHubName, client.ConsumerGroup, partitions.Length);
        await Task.WhenAll(partitions.Select(p => ReadPartitionAsync(client, processor, p, stoppingToken)));
    }

    private async Task ReadPartitionAsync(EventHubConsumerClient client, EventHubsPartitionProcessor processor, string partitionId,
        CancellationToken stoppingToken)
    {
        var delay = TimeSpan.FromSeconds(1);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var position = await processor.StartingPositionAsync(partitionId, stoppingToken);
                await foreach (var partitionEvent in client.ReadEventsFromPartitionAsync(partitionId, position, stoppingToken))
                {
                    await processor.ProcessAsync(partitionId, partitionEvent.Data, stoppingToken);
                    delay = TimeSpan.FromSeconds(1);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (EventHubsException ex) when (ex.IsTransient)
            {
                LogPartitionRetry(partitionId, delay, ex.Message);
                await processor.FlushAsync(partitionId, CancellationToken.None);
                try
                {
                    await Task.Delay(delay, timeProvider, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(60).Ticks));
            }
        }
        await processor.FlushAsync(partitionId, CancellationToken.None);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Event Hubs ingest reading {Namespace}/{EventHub} as {ConsumerGroup}, {Partitions} partitions")]
    private partial void LogStarting(string @namespace, string eventHub, string consumerGroup, int partitions);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Event Hubs partition {Partition} failed transiently, retrying in {Delay}: {Problem}")]
    private partial void LogPartitionRetry(string partition, TimeSpan delay, string problem);
}
