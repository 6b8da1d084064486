using System.Collections.Concurrent;
using Azure.Messaging.EventHubs;
using Azure.Messaging.EventHubs.Consumer;
using Azure.Messaging.EventHubs.Primitives;
using Azure.Messaging.EventHubs.Processor;
using EdgeMask.Core.Resilience;
using EdgeMask.Dashboard.Options;
using EdgeMask.Dashboard.Storage;

namespace EdgeMask.Dashboard.Ingest;

/// <summary>
/// Partition ownership and checkpoints of <see cref="PluggableCheckpointStoreEventProcessor{TPartition}"/> kept in the
/// dashboard's own database (no Blob storage account): the SDK's load balancer lists and claims ownership here, and
/// replicas of the dashboard share the hub's partitions through the version (ETag) column.
/// </summary>
public sealed class DashboardCheckpointStore(IDashboardStore store, TimeProvider timeProvider) : CheckpointStore
{
    public override async Task<IEnumerable<EventProcessorPartitionOwnership>> ListOwnershipAsync(string fullyQualifiedNamespace,
        string eventHubName, string consumerGroup, CancellationToken cancellationToken)
    {
        var hub = new EventHubKey(fullyQualifiedNamespace, eventHubName, consumerGroup);
        return (await store.ListOwnershipAsync(hub, cancellationToken)).Select(ToSdk).ToList();
    }

    public override async Task<IEnumerable<EventProcessorPartitionOwnership>> ClaimOwnershipAsync(
        IEnumerable<EventProcessorPartitionOwnership> desiredOwnership, CancellationToken cancellationToken)
    {
        var desired = desiredOwnership.Select(o => new PartitionOwnership(new EventHubKey(o.FullyQualifiedNamespace, o.EventHubName, o.ConsumerGroup),
            o.PartitionId, o.OwnerIdentifier ?? "", o.LastModifiedTime, o.Version)).ToList();
        // The store's clock stamps the claim, as Blob storage stamps Last-Modified: the time the caller put in is not trusted.
        return (await store.ClaimOwnershipAsync(desired, timeProvider.GetUtcNow(), cancellationToken)).Select(ToSdk).ToList();
    }

    public override async Task<EventProcessorCheckpoint> GetCheckpointAsync(string fullyQualifiedNamespace, string eventHubName,
        string consumerGroup, string partitionId, CancellationToken cancellationToken)
    {
        var checkpoint = await store.GetCheckpointAsync(new EventHubKey(fullyQualifiedNamespace, eventHubName, consumerGroup), partitionId,
            cancellationToken);
        if (checkpoint is null || (checkpoint.Offset is null && checkpoint.SequenceNumber is null))
        {
            // The SDK's contract: null means "no checkpoint, use the default starting position".
            return null!;
        }
        return new EventProcessorCheckpoint
        {
            FullyQualifiedNamespace = fullyQualifiedNamespace,
            EventHubName = eventHubName,
            ConsumerGroup = consumerGroup,
            PartitionId = partitionId,
            ClientIdentifier = checkpoint.ClientId,
            LastModified = checkpoint.UpdatedAt,
            // Resume after the checkpointed event. The offset wins when present, as in the SDK's Blob store.
            StartingPosition = checkpoint.Offset is { } offset
                ? EventPosition.FromOffset(offset, isInclusive: false)
                : EventPosition.FromSequenceNumber(checkpoint.SequenceNumber!.Value, isInclusive: false),
        };
    }

    public override Task UpdateCheckpointAsync(string fullyQualifiedNamespace, string eventHubName, string consumerGroup, string partitionId,
        string clientIdentifier, CheckpointPosition startingPosition, CancellationToken cancellationToken) =>
        store.SetCheckpointAsync(new PartitionCheckpoint(new EventHubKey(fullyQualifiedNamespace, eventHubName, consumerGroup), partitionId,
            startingPosition.OffsetString, startingPosition.SequenceNumber, clientIdentifier, timeProvider.GetUtcNow()), cancellationToken);

    private static EventProcessorPartitionOwnership ToSdk(PartitionOwnership o) => new()
    {
        FullyQualifiedNamespace = o.Hub.Namespace,
        EventHubName = o.Hub.EventHub,
        ConsumerGroup = o.Hub.ConsumerGroup,
        PartitionId = o.PartitionId,
        OwnerIdentifier = o.OwnerId,
        LastModifiedTime = o.LastModified,
        Version = o.Version,
    };
}

/// <summary>
/// Reads IoT Hub's built-in Event Hubs endpoint as one of any number of cooperating replicas: the SDK's load balancer
/// spreads the partitions over the replicas through <see cref="DashboardCheckpointStore"/>, each batch of a partition
/// is stored in one transaction, and the partition is checkpointed after every stored batch. A batch is retried
/// (through <see cref="RetryPolicy"/>) while the database is unreachable, so nothing is skipped; a replay after a
/// crash between store and checkpoint is absorbed by the idempotent store.
/// </summary>
internal partial class DashboardEventProcessor : PluggableCheckpointStoreEventProcessor<EventProcessorPartition>
{
    private readonly IngestPipeline _pipeline;
    private readonly ILogger _logger;
    private readonly Polly.ResiliencePipeline _storeRetry;
    private readonly ConcurrentDictionary<string, byte> _partitions = new(StringComparer.Ordinal);

    public DashboardEventProcessor(CheckpointStore checkpointStore, EventHubsIngestOptions options, IngestPipeline pipeline,
        TimeProvider timeProvider, ILogger logger)
        : base(checkpointStore, options.BatchSize, options.ConsumerGroup, options.ConnectionString!, options.EventHubName, ProcessorOptions(options))
    {
        _pipeline = pipeline;
        _logger = logger;
        _storeRetry = Core.Resilience.RetryPolicy.Create(options.Retry, timeProvider, e => e is System.Data.Common.DbException or TimeoutException,
            attempt => LogStoreRetry(attempt.Attempt, attempt.Delay.TotalSeconds, attempt.Error.Message));
    }

    /// <summary>The partitions this replica is reading now (initialized and not yet stopped).</summary>
    public IReadOnlyCollection<string> OwnedPartitions => [.. _partitions.Keys.Order(StringComparer.Ordinal)];

    internal static EventProcessorOptions ProcessorOptions(EventHubsIngestOptions options) => new()
    {
        Identifier = options.Replica,
        DefaultStartingPosition = options.StartPosition == "Earliest" ? EventPosition.Earliest : EventPosition.Latest,
        LoadBalancingStrategy = LoadBalancingStrategy.Balanced,
        LoadBalancingUpdateInterval = options.LoadBalancingInterval,
        PartitionOwnershipExpirationInterval = options.OwnershipExpiration,
        MaximumWaitTime = TimeSpan.FromSeconds(5),
    };

    protected override async Task OnProcessingEventBatchAsync(IEnumerable<EventData> events, EventProcessorPartition partition,
        CancellationToken cancellationToken) =>
        await IngestBatchAsync(events, partition.PartitionId, cancellationToken);

    /// <summary>Stores one batch of a partition (retrying while the database is down) and then checkpoints after its last event.</summary>
    internal async Task IngestBatchAsync(IEnumerable<EventData> events, string partitionId, CancellationToken cancellationToken)
    {
        var batch = events as IReadOnlyList<EventData> ?? [.. events];
        if (batch.Count == 0)
        {
            // MaximumWaitTime elapsed with nothing to read.
            return;
        }
        var messages = batch.Select(e => EventHubsMessageMapper.Map(e, partitionId)).ToList();
        await _storeRetry.ExecuteAsync(async token => await _pipeline.IngestBatchAsync(messages, token), cancellationToken);
        await _storeRetry.ExecuteAsync(async token => await UpdateCheckpointAsync(partitionId, CheckpointPosition.FromEvent(batch[^1]), token),
            cancellationToken);
    }

    /// <summary>Where this processor would resume reading <paramref name="partitionId"/> (null: the default starting position).</summary>
    internal Task<EventProcessorCheckpoint> ReadCheckpointAsync(string partitionId, CancellationToken cancellationToken) =>
        GetCheckpointAsync(partitionId, cancellationToken);

    protected override Task OnInitializingPartitionAsync(EventProcessorPartition partition, CancellationToken cancellationToken)
    {
        _partitions[partition.PartitionId] = 0;
        LogPartitionStarted(partition.PartitionId, Identifier);
        return Task.CompletedTask;
    }

    protected override Task OnPartitionProcessingStoppedAsync(EventProcessorPartition partition, ProcessingStoppedReason reason,
        CancellationToken cancellationToken)
    {
        _partitions.TryRemove(partition.PartitionId, out _);
        LogPartitionStopped(partition.PartitionId, Identifier, reason);
        return Task.CompletedTask;
    }

    protected override Task OnProcessingErrorAsync(Exception exception, EventProcessorPartition partition, string operationDescription,
        CancellationToken cancellationToken)
    {
        // The processor recovers by itself (it reopens the partition, or the load balancer retries next cycle).
        LogProcessingError(partition?.PartitionId ?? "-", operationDescription, exception.Message);
        return Task.CompletedTask;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Event Hubs partition {Partition} now read by {Replica}")]
    private partial void LogPartitionStarted(string partition, string replica);

    [LoggerMessage(Level = LogLevel.Information, Message = "Event Hubs partition {Partition} no longer read by {Replica} ({Reason})")]
    private partial void LogPartitionStopped(string partition, string replica, ProcessingStoppedReason reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Event Hubs processing of partition {Partition} failed in {Operation}: {Problem}")]
    private partial void LogProcessingError(string partition, string operation, string problem);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Storing an Event Hubs batch failed (retry {Attempt} in {DelaySeconds:0.0} s): {Problem}")]
    private partial void LogStoreRetry(int attempt, double delaySeconds, string problem);
}

/// <summary>Runs the <see cref="DashboardEventProcessor"/> for the life of the dashboard; starting it is retried while the hub is unreachable.</summary>
public sealed partial class EventHubsIngestService(
    EventHubsIngestOptions options,
    IngestPipeline pipeline,
    IDashboardStore store,
    TimeProvider timeProvider,
    ILoggerFactory loggers,
    ILogger<EventHubsIngestService> logger) : BackgroundService, IIngestHealth
{
    private DashboardEventProcessor? _processor;

    public string Name => "eventhubs";
    public bool IsHealthy => _processor?.IsRunning == true;
    public string Describe() => _processor is { } p
        ? $"{(p.IsRunning ? "running" : "stopped")}, replica {p.Identifier}, partitions [{string.Join(",", p.OwnedPartitions)}]"
        : "not started";

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        _processor = new DashboardEventProcessor(new DashboardCheckpointStore(store, timeProvider), options, pipeline, timeProvider,
            loggers.CreateLogger<DashboardEventProcessor>());
        var start = RetryPolicy.Create(options.Retry, timeProvider, e => e is EventHubsException or System.Data.Common.DbException or TimeoutException,
            attempt => LogStartRetry(attempt.Attempt, attempt.Delay.TotalSeconds, attempt.Error.Message));
        try
        {
            await start.ExecuteAsync(async token => await _processor.StartProcessingAsync(token), stoppingToken);
            LogStarted(_processor.FullyQualifiedNamespace, _processor.EventHubName, _processor.ConsumerGroup, _processor.Identifier);
            await Task.Delay(Timeout.InfiniteTimeSpan, timeProvider, stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            // Hands this replica's partitions back at once instead of letting them expire.
            await _processor.StopProcessingAsync(CancellationToken.None);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Event Hubs ingest reading {Namespace}/{EventHub} as {ConsumerGroup}, replica {Replica}")]
    private partial void LogStarted(string @namespace, string eventHub, string consumerGroup, string replica);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Event Hubs ingest cannot start (retry {Attempt} in {DelaySeconds:0.0} s): {Problem}")]
    private partial void LogStartRetry(int attempt, double delaySeconds, string problem);
}

/// <summary>What the health endpoint asks each ingest.</summary>
public interface IIngestHealth
{
    string Name { get; }
    bool IsHealthy { get; }
    string Describe();
}
