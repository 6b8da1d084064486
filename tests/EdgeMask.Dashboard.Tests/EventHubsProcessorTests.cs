using System.Globalization;
using Azure.Messaging.EventHubs;
using Azure.Messaging.EventHubs.Consumer;
using Azure.Messaging.EventHubs.Primitives;
using EdgeMask.Core.Events;
using EdgeMask.Dashboard.Ingest;
using EdgeMask.Dashboard.Live;
using EdgeMask.Dashboard.Options;
using EdgeMask.Dashboard.Storage;
using EdgeMask.Dashboard.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using static EdgeMask.Dashboard.Tests.Support.Samples;

namespace EdgeMask.Dashboard.Tests;

/// <summary>
/// Replicas sharing IoT Hub's partitions through the dashboard's store. Ownership: the SDK's own load balancer (the one
/// inside every <see cref="PluggableCheckpointStoreEventProcessor{TPartition}"/>) on <see cref="DashboardCheckpointStore"/>,
/// cycle by cycle, as the SDK's tests drive it without a hub. Checkpoints: the dashboard's processor storing a batch
/// of recorded IoT Hub messages and checkpointing through the SDK base class, then a new processor on a new
/// connection resuming from it.
/// </summary>
public abstract class EventHubsProcessorTests : IDisposable
{
    private static readonly string[] Partitions = ["0", "1", "2", "3", "4", "5", "6", "7"];
    private const string ConnectionString =
        "Endpoint=sb://127.0.0.1/;SharedAccessKeyName=dashboard;SharedAccessKey=bm90LWEtcmVhbC1rZXk=;EntityPath=edgemask-hub";
    private readonly TempDirectory _directory = new();
    private readonly List<IDashboardStore> _stores = [];
    private readonly List<DashboardEventProcessor> _processors = [];

    protected abstract IDashboardStore OpenStore(string directory);

    protected virtual void DisposeDatabase()
    {
    }

    /// <summary>A replica: its own store instance (own connection pool) on the shared database, as another container would have.</summary>
    private IDashboardStore Replica()
    {
        var store = OpenStore(_directory.Path);
        _stores.Add(store);
        return store;
    }

    private static EventHubsIngestOptions Options(string replica) => new()
    {
        Enabled = true,
        ConnectionString = ConnectionString,
        ConsumerGroup = "dashboard",
        ReplicaId = replica,
        LoadBalancingInterval = TimeSpan.FromMilliseconds(250),
        OwnershipExpiration = TimeSpan.FromSeconds(4),
    };

    private IngestPipeline Pipeline(IDashboardStore store) => new(store, new SnapshotFileStore(Path.Combine(_directory.Path, "snapshots")),
        new LiveFeed(), new StoreOptions(), TimeProvider.System, NullLogger<IngestPipeline>.Instance);

    private HublessProcessor Processor(string replica, IDashboardStore store)
    {
        var processor = new HublessProcessor(new DashboardCheckpointStore(store, TimeProvider.System), Options(replica), Pipeline(store), Partitions);
        _processors.Add(processor);
        return processor;
    }

    private static EventHubKey Hub(DashboardEventProcessor processor) =>
        new(processor.FullyQualifiedNamespace, processor.EventHubName, processor.ConsumerGroup);

    private const string Namespace = "EdgeMask-Hub.servicebus.windows.net";
    private const string EventHub = "edgemask-hub";
    private static readonly EventHubKey Key = new(Namespace, EventHub, "dashboard");

    private SdkLoadBalancer Balancer(string owner, TimeProvider? clock = null) =>
        new(new DashboardCheckpointStore(Replica(), clock ?? TimeProvider.System), owner, Namespace, EventHub, "dashboard", TimeSpan.FromSeconds(30));

    [Fact]
    public async Task TwoReplicas_SamePartitions_ConvergeToAnEvenSplitWithNoPartitionOwnedTwice()
    {
        var a = Balancer("replica-a");
        var b = Balancer("replica-b");
        // Replica a starts alone and takes every partition, one per cycle.
        for (var cycle = 0; cycle < Partitions.Length + 1; cycle++)
        {
            await a.RunCycleAsync(Partitions);
        }
        Assert.Equal(Partitions, a.OwnedPartitionIds);

        // Replica b joins; both run their cycles at the same moments (the claims race in the store) until balanced.
        var store = Replica();
        for (var cycle = 0; cycle < 40 && !(a.IsBalanced && b.IsBalanced && a.OwnedPartitionIds.Count == 4 && b.OwnedPartitionIds.Count == 4); cycle++)
        {
            await Task.WhenAll(a.RunCycleAsync(Partitions), b.RunCycleAsync(Partitions));
            // A replica learns that a partition was stolen at its next renewal (as with Blob storage), so for one cycle
            // both may list it; the store, which decides, never names two owners, and every stolen partition is
            // named by the store for the replica that took it.
            var now = await store.ListOwnershipAsync(Key, default);
            Assert.Equal(now.Count, now.Select(r => r.PartitionId).Distinct().Count());
            Assert.All(a.OwnedPartitionIds.Intersect(b.OwnedPartitionIds),
                p => Assert.Contains(now.Single(r => r.PartitionId == p).OwnerId, new[] { "replica-a", "replica-b" }));
        }
        Assert.Empty(a.OwnedPartitionIds.Intersect(b.OwnedPartitionIds));

        Assert.Equal((4, 4), (a.OwnedPartitionIds.Count, b.OwnedPartitionIds.Count));
        Assert.Equal(Partitions, a.OwnedPartitionIds.Union(b.OwnedPartitionIds).Order(StringComparer.Ordinal));
        var rows = await Replica().ListOwnershipAsync(Key, default);
        Assert.Equal(Partitions.Length, rows.Count);
        Assert.Equal(a.OwnedPartitionIds, rows.Where(r => r.OwnerId == "replica-a").Select(r => r.PartitionId).Order(StringComparer.Ordinal));
        Assert.Equal(b.OwnedPartitionIds, rows.Where(r => r.OwnerId == "replica-b").Select(r => r.PartitionId).Order(StringComparer.Ordinal));

        // A replica that stops hands its partitions back at once: the other takes them without waiting for expiry.
        await b.RelinquishAsync();
        for (var cycle = 0; cycle < Partitions.Length; cycle++)
        {
            await a.RunCycleAsync(Partitions);
        }
        Assert.Equal(Partitions, a.OwnedPartitionIds);
    }

    [Fact]
    public async Task ExpiredOwner_ItsPartitionsAreTakenOverByALiveReplica()
    {
        // A replica that crashed a minute ago owned everything; its claims were never renewed (its clock is a minute back).
        var crashed = new DashboardCheckpointStore(Replica(), new FakeTimeProvider(DateTimeOffset.UtcNow.AddMinutes(-1)));
        var claims = Partitions.Select(p => new EventProcessorPartitionOwnership
        {
            FullyQualifiedNamespace = Namespace, EventHubName = EventHub, ConsumerGroup = "dashboard", PartitionId = p, OwnerIdentifier = "replica-crashed",
        });
        Assert.Equal(Partitions.Length, (await crashed.ClaimOwnershipAsync(claims, default)).Count());

        var live = Balancer("replica-live");
        for (var cycle = 0; cycle < Partitions.Length; cycle++)
        {
            await live.RunCycleAsync(Partitions);
        }

        Assert.Equal(Partitions, live.OwnedPartitionIds);
        var rows = await Replica().ListOwnershipAsync(Key, default);
        Assert.All(rows, r => Assert.Equal("replica-live", r.OwnerId));
        // Taken over through the version column: every row moved on from the crashed replica's version.
        Assert.All(rows, r => Assert.True(long.Parse(r.Version!, CultureInfo.InvariantCulture) >= 2, r.ToString()));
        Assert.All(rows, r => Assert.True(DateTimeOffset.UtcNow - r.LastModified < TimeSpan.FromSeconds(10), r.ToString()));
    }

    [Fact]
    public async Task LiveOwner_ItsPartitionsAreNotTakenByAReplicaThatHasItsShare()
    {
        var a = Balancer("replica-a");
        var b = Balancer("replica-b");
        for (var cycle = 0; cycle < 20; cycle++)
        {
            await a.RunCycleAsync(Partitions);
            await b.RunCycleAsync(Partitions);
        }
        var split = (a.OwnedPartitionIds, b.OwnedPartitionIds);
        // Balanced replicas renewing their claims keep them: more cycles change nothing.
        for (var cycle = 0; cycle < 5; cycle++)
        {
            await a.RunCycleAsync(Partitions);
            await b.RunCycleAsync(Partitions);
        }
        Assert.Equal(split.Item1, a.OwnedPartitionIds);
        Assert.Equal(split.Item2, b.OwnedPartitionIds);
        Assert.Equal((4, 4), (a.OwnedPartitionIds.Count, b.OwnedPartitionIds.Count));
    }

    [Fact]
    public async Task Checkpoint_AfterARestart_ResumesAfterTheLastStoredEventAndReplaysAreNotStoredTwice()
    {
        var before = Replica();
        var first = Processor("replica-a", before);
        var batch = new[]
        {
            Recorded(EventJsonContext.Serialize(Event("eh-1", EventTypes.ViolationStart, 0, "dev1", "cam1", T0)), 100),
            Recorded(EventJsonContext.Serialize(Stats("dev1", "cam1", T0, 8, 2)), 101),
            Recorded(EventJsonContext.Serialize(Status("dev1", "online", T0)), 102, new Dictionary<string, object> { ["edgemask-kind"] = "status" }),
            Recorded("{oops"u8.ToArray(), 103),
            Recorded(Jpeg, 104, new Dictionary<string, object> { ["camera"] = "cam1", ["snapshotId"] = "eh-snap" }),
            // The hub vouches for the device: a body naming another device is refused.
            Recorded(EventJsonContext.Serialize(Event("eh-2", EventTypes.ViolationStart, 0, "dev9", "cam1", T0)), 105),
        };
        Assert.Null(await first.ReadCheckpointAsync("3", default));
        await first.IngestBatchAsync(batch, "3", default);
        Assert.Equal(new StoreCounts(1, 1, 1, 1), await before.CountAsync(default));

        // A new replica on a new connection (the dashboard restarted) resumes after the batch's last event.
        var after = Replica();
        var second = Processor("replica-b", after);
        var checkpoint = await second.ReadCheckpointAsync("3", default);
        Assert.Equal(EventPosition.FromOffset(Offset(105), isInclusive: false), checkpoint.StartingPosition);
        Assert.Equal("replica-a", checkpoint.ClientIdentifier);
        Assert.Null(await second.ReadCheckpointAsync("4", default));

        // A crash between storing and checkpointing makes the hub deliver the batch again: nothing is stored twice.
        var pipelineCounters = new IngestPipeline(after, new SnapshotFileStore(Path.Combine(_directory.Path, "snapshots")), new LiveFeed(),
            new StoreOptions(), TimeProvider.System, NullLogger<IngestPipeline>.Instance);
        var outcomes = await pipelineCounters.IngestBatchAsync(batch.Select(e => EventHubsMessageMapper.Map(e, "3")).ToList(), default);
        Assert.Equal([IngestOutcome.Duplicate, IngestOutcome.Duplicate, IngestOutcome.Stored, IngestOutcome.Malformed, IngestOutcome.Duplicate,
            IngestOutcome.Malformed], outcomes);
        await second.IngestBatchAsync(batch, "3", default);
        Assert.Equal(new StoreCounts(1, 1, 1, 1), await after.CountAsync(default));
        Assert.Equal("online", Assert.Single(await after.GetDevicesAsync(default)).State);
    }

    private static string Offset(long sequence) => (sequence * 1000).ToString(CultureInfo.InvariantCulture);

    private static EventData Recorded(byte[] body, long sequence, IDictionary<string, object>? properties = null) =>
        EventHubsModelFactory.EventData(new BinaryData(body), properties ?? new Dictionary<string, object>(),
            new Dictionary<string, object> { [EventHubsMessageMapper.DeviceIdSystemProperty] = "dev1", ["iothub-connection-module-id"] = "edgemask" },
            null, sequence, Offset(sequence), T0);

    public void Dispose()
    {
        foreach (var processor in _processors)
        {
            Assert.False(processor.IsRunning);
        }
        foreach (var store in _stores)
        {
            store.Dispose();
        }
        DisposeDatabase();
        _directory.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>The production processor with the two hub calls a test cannot make answered locally.</summary>
    private sealed class HublessProcessor(CheckpointStore store, EventHubsIngestOptions options, IngestPipeline pipeline, string[] partitions)
        : DashboardEventProcessor(store, options, pipeline, TimeProvider.System, NullLogger.Instance)
    {
        protected override Task<string[]> ListPartitionIdsAsync(EventHubConnection connection, CancellationToken cancellationToken) =>
            Task.FromResult(partitions);

        protected override Task ValidateProcessingPreconditions(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}

public sealed class SqliteEventHubsProcessorTests : EventHubsProcessorTests
{
    protected override IDashboardStore OpenStore(string directory) =>
        DashboardStoreFactory.Open(new StoreOptions { ConnectionString = $"Data Source={Path.Combine(directory, "dashboard.db")}" });
}

public sealed class PostgresEventHubsProcessorTests : EventHubsProcessorTests
{
    private readonly Lazy<PostgresDatabase> _database = new(() => new PostgresDatabase());

    protected override IDashboardStore OpenStore(string directory) =>
        DashboardStoreFactory.Open(new StoreOptions { ConnectionString = _database.Value.ConnectionString });

    protected override void DisposeDatabase()
    {
        if (_database.IsValueCreated)
        {
            _database.Value.Dispose();
        }
    }
}
