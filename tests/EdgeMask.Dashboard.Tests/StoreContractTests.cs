using System.Text;
using EdgeMask.Core.Events;
using EdgeMask.Dashboard.Ingest;
using EdgeMask.Dashboard.Live;
using EdgeMask.Dashboard.Options;
using EdgeMask.Dashboard.Retention;
using EdgeMask.Dashboard.Storage;
using EdgeMask.Dashboard.Tests.Support;
using Microsoft.Extensions.Time.Testing;
using static EdgeMask.Dashboard.Tests.Support.Samples;

namespace EdgeMask.Dashboard.Tests;

/// <summary>
/// The store, ingest, query and retention specification, run unchanged against SQLite (<see cref="SqliteStoreTests"/>)
/// and a real PostgreSQL server (<see cref="PostgresStoreTests"/>).
/// </summary>
public abstract partial class StoreContractTests : IDisposable
{
    private readonly TempDirectory _directory = new();
    private readonly FakeTimeProvider _time = new(T0.AddHours(-1));
    private readonly Lazy<IDashboardStore> _store;

    protected StoreContractTests()
    {
        _store = new Lazy<IDashboardStore>(() => OpenStore(_directory.Path));
        Snapshots = new SnapshotFileStore(Path.Combine(_directory.Path, "snapshots"));
    }

    protected abstract IDashboardStore OpenStore(string directory);

    private IDashboardStore Store => _store.Value;
    private SnapshotFileStore Snapshots { get; }
    private readonly LiveFeed _feed = new();
    private readonly RecordingLogger<IngestPipeline> _log = new();

    private IngestPipeline Pipeline() => new(Store, Snapshots, _feed, new StoreOptions(), _time, _log);

    private static IngestMessage EventMessage(MaskEvent e) =>
        new(IngestKind.Event, e.Device, e.Camera, EventJsonContext.Serialize(e), IngestMessage.NoProperties, "test");

    private static IngestMessage StatsMessage(CameraStats s) =>
        new(IngestKind.Stats, s.Device, s.Camera, EventJsonContext.Serialize(s), IngestMessage.NoProperties, "test");

    [Fact]
    public async Task AddEventAsync_SameIdTypeAndSequenceTwice_StoredOnce()
    {
        var start = Event("ep-1", EventTypes.ViolationStart, 0, "dev1", "cam1", T0);
        Assert.True(await Store.AddEventAsync(start, T0, default));
        Assert.False(await Store.AddEventAsync(start, T0.AddSeconds(1), default));
        // Same episode, other type/sequence: distinct rows.
        Assert.True(await Store.AddEventAsync(Event("ep-1", EventTypes.ViolationUpdate, 1, "dev1", "cam1", T0.AddSeconds(5), T0), T0, default));
        Assert.True(await Store.AddEventAsync(Event("ep-1", EventTypes.ViolationEnd, 2, "dev1", "cam1", T0.AddSeconds(9), T0), T0, default));

        var page = await Store.QueryEventsAsync(new EventQuery(), default);
        Assert.Equal(3, page.Total);
        Assert.Equal(["ep-1:violation.end:2", "ep-1:violation.update:1", "ep-1:violation.start:0"], page.Items.Select(i => i.Key));
        Assert.Equal(TimeSpan.FromSeconds(9), page.Items[0].Duration);
    }

    [Fact]
    public async Task IngestAsync_RedeliveredEventsAndStats_CountedOnce()
    {
        var pipeline = Pipeline();
        using var subscription = _feed.Subscribe();
        var e = Event("ep-r", EventTypes.ViolationStart, 0, "dev1", "cam1", T0);
        var s = Stats("dev1", "cam1", T0, seen: 10, unmasked: 4);
        Assert.Equal(IngestOutcome.Stored, await pipeline.IngestAsync(EventMessage(e), default));
        Assert.Equal(IngestOutcome.Duplicate, await pipeline.IngestAsync(EventMessage(e), default));
        Assert.Equal(IngestOutcome.Stored, await pipeline.IngestAsync(StatsMessage(s), default));
        Assert.Equal(IngestOutcome.Duplicate, await pipeline.IngestAsync(StatsMessage(s), default));

        var counts = await Store.CountAsync(default);
        Assert.Equal(1, counts.Events);
        Assert.Equal(1, counts.Stats);
        var buckets = await Store.QueryComplianceAsync(new ComplianceQuery(null, "cam1", T0.AddHours(-1), T0.AddHours(1), BucketSize.Hour), default);
        var bucket = Assert.Single(buckets);
        Assert.Equal((10, 4, 1), (bucket.FacesSeen, bucket.FacesUnmasked, bucket.Violations));
        // Only the first delivery reaches the live feed.
        Assert.True(subscription.Reader.TryRead(out var live));
        Assert.Equal("ep-r:violation.start:0", live.Key);
        Assert.False(subscription.Reader.TryRead(out _));
    }

    [Fact]
    public async Task IngestAsync_MalformedMessages_LoggedSkippedAndIngestContinues()
    {
        var pipeline = Pipeline();
        var good = Event("ep-good", EventTypes.ViolationStart, 0, "dev1", "cam1", T0);
        var wrongCamera = Event("ep-x", EventTypes.ViolationStart, 0, "dev1", "cam2", T0);
        var badType = Event("ep-y", "violation.maybe", 0, "dev1", "cam1", T0);
        IngestMessage[] bad =
        [
            new(IngestKind.Event, "dev1", "cam1", "not json"u8.ToArray(), IngestMessage.NoProperties, "test"),
            new(IngestKind.Event, "dev1", "cam1", "{\"schema\":\"edgemask.event/1\",\"id\":\"x\"}"u8.ToArray(), IngestMessage.NoProperties, "test"),
            new(IngestKind.Event, "dev1", "cam1", EventJsonContext.Serialize(wrongCamera), IngestMessage.NoProperties, "test"),
            EventMessage(badType),
            new(IngestKind.Stats, "dev1", "cam1", "[1,2,3]"u8.ToArray(), IngestMessage.NoProperties, "test"),
            new(IngestKind.Status, "dev1", null, "{\"schema\":\"edgemask.status/1\",\"device\":\"dev1\",\"state\":\"sleepy\",\"at\":\"2026-11-02T10:00:00Z\"}"u8.ToArray(), IngestMessage.NoProperties, "test"),
            new(IngestKind.Snapshot, "dev1", "cam1", "GIF89a-not-a-jpeg"u8.ToArray(), IngestMessage.NoProperties, "test"),
            new(IngestKind.Snapshot, "dev1", "cam1", Jpeg, new Dictionary<string, string> { ["snapshotId"] = "../../etc/passwd" }, "test"),
        ];
        foreach (var message in bad)
        {
            Assert.Equal(IngestOutcome.Malformed, await pipeline.IngestAsync(message, default));
        }
        Assert.Equal(IngestOutcome.Stored, await pipeline.IngestAsync(EventMessage(good), default));

        Assert.Equal(bad.Length, pipeline.Counters.Malformed);
        Assert.Equal(bad.Length, _log.Entries.Count(e => e.Level == LogLevel.Warning && e.Message.Contains("malformed", StringComparison.Ordinal)));
        var page = await Store.QueryEventsAsync(new EventQuery(), default);
        Assert.Equal("ep-good", Assert.Single(page.Items).Id);
        Assert.Empty(Directory.GetFiles(Snapshots.Directory));
    }

    [Fact]
    public async Task IngestAsync_Snapshots_KeptUnderUserPropertyIdOrContentHash()
    {
        var pipeline = Pipeline();
        var withId = new IngestMessage(IngestKind.Snapshot, "dev1", "cam1", Jpeg, new Dictionary<string, string> { ["snapshotId"] = "snap-42" }, "test");
        Assert.Equal(IngestOutcome.Stored, await pipeline.IngestAsync(withId, default));
        Assert.Equal(IngestOutcome.Duplicate, await pipeline.IngestAsync(withId, default));
        // EdgeMask.Messaging's publisher names it in the user property "id".
        var fromPublisher = new IngestMessage(IngestKind.Snapshot, "dev1", "cam2", Jpeg, new Dictionary<string, string> { ["id"] = "pub-7" }, "test");
        Assert.Equal(IngestOutcome.Stored, await pipeline.IngestAsync(fromPublisher, default));
        Assert.Equal("cam2", (await Store.GetSnapshotAsync("pub-7", default))?.Camera);
        var anonymous = new IngestMessage(IngestKind.Snapshot, "dev1", "cam1", Jpeg, IngestMessage.NoProperties, "test");
        Assert.Equal(IngestOutcome.Stored, await pipeline.IngestAsync(anonymous, default));
        Assert.Equal(IngestOutcome.Duplicate, await pipeline.IngestAsync(anonymous, default));

        var snapshot = await Store.GetSnapshotAsync("snap-42", default);
        Assert.NotNull(snapshot);
        Assert.Equal(("dev1", "cam1", (long)Jpeg.Length), (snapshot.Device, snapshot.Camera, snapshot.SizeBytes));
        Assert.Equal(Jpeg, await File.ReadAllBytesAsync(Snapshots.PathOf(snapshot.FileName)!));
        var hashId = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Jpeg))[..32];
        Assert.NotNull(await Store.GetSnapshotAsync(hashId, default));
        Assert.Equal(3, (await Store.CountAsync(default)).Snapshots);
    }

    [Fact]
    public async Task QueryEventsAsync_CameraTypeAndTimeFilters_ReturnExactlyTheMatchingEvents()
    {
        var expected = new List<string>();
        for (var i = 0; i < 30; i++)
        {
            var camera = i % 3 == 0 ? "door" : "hall";
            var type = i % 2 == 0 ? EventTypes.ViolationStart : EventTypes.ViolationEnd;
            var e = Event($"ep-{i}", type, type == EventTypes.ViolationStart ? 0 : 1, i % 5 == 0 ? "dev2" : "dev1", camera, T0.AddMinutes(i));
            await Store.AddEventAsync(e, T0, default);
            if (camera == "door" && type == EventTypes.ViolationStart && i >= 5 && i < 25)
            {
                expected.Add(e.Id);
            }
        }
        var page = await Store.QueryEventsAsync(new EventQuery(Camera: "door", Type: EventTypes.ViolationStart,
            From: T0.AddMinutes(5), To: T0.AddMinutes(25), Limit: 100), default);
        Assert.Equal(expected.Count, page.Total);
        Assert.Equal(expected.AsEnumerable().Reverse(), page.Items.Select(e => e.Id));
        var byDevice = await Store.QueryEventsAsync(new EventQuery(Device: "dev2", Limit: 100), default);
        Assert.Equal(6, byDevice.Total);
        Assert.All(byDevice.Items, e => Assert.Equal("dev2", e.Device));
    }

    [Fact]
    public async Task QueryEventsAsync_Paging_ReturnsDisjointPagesCoveringEveryEvent()
    {
        for (var i = 0; i < 23; i++)
        {
            await Store.AddEventAsync(Event($"ep-{i:00}", EventTypes.ViolationStart, 0, "dev1", "cam1", T0.AddSeconds(i)), T0, default);
        }
        var seen = new List<string>();
        for (var offset = 0; offset < 30; offset += 10)
        {
            var page = await Store.QueryEventsAsync(new EventQuery(Offset: offset, Limit: 10), default);
            Assert.Equal(23, page.Total);
            seen.AddRange(page.Items.Select(e => e.Id));
        }
        Assert.Equal(Enumerable.Range(0, 23).Reverse().Select(i => $"ep-{i:00}"), seen);
    }

    [Fact]
    public async Task QueryComplianceAsync_MinuteHourAndDayBuckets_SumFacesAndCountViolations()
    {
        // cam1: 10:00:00 (5/1), 10:00:30 (7/2), 10:01:10 (4/0), 11:05 (10/5); cam2 must not leak into cam1's series.
        await Store.AddStatsAsync(Stats("dev1", "cam1", T0, 5, 1), T0, default);
        await Store.AddStatsAsync(Stats("dev1", "cam1", T0.AddSeconds(30), 7, 2), T0, default);
        await Store.AddStatsAsync(Stats("dev1", "cam1", T0.AddSeconds(70), 4, 0), T0, default);
        await Store.AddStatsAsync(Stats("dev1", "cam1", T0.AddMinutes(65), 10, 5), T0, default);
        await Store.AddStatsAsync(Stats("dev1", "cam2", T0.AddSeconds(10), 100, 100), T0, default);
        await Store.AddEventAsync(Event("a", EventTypes.ViolationStart, 0, "dev1", "cam1", T0.AddSeconds(20)), T0, default);
        await Store.AddEventAsync(Event("a", EventTypes.ViolationEnd, 1, "dev1", "cam1", T0.AddSeconds(40), T0.AddSeconds(20)), T0, default);
        await Store.AddEventAsync(Event("b", EventTypes.ViolationStart, 0, "dev1", "cam1", T0.AddMinutes(65)), T0, default);

        var minutes = await Store.QueryComplianceAsync(new ComplianceQuery(null, "cam1", T0, T0.AddHours(2), BucketSize.Minute), default);
        Assert.Equal(
            [(T0, 12L, 3L, 1L), (T0.AddMinutes(1), 4L, 0L, 0L), (T0.AddMinutes(65), 10L, 5L, 1L)],
            minutes.Select(b => (b.Start, b.FacesSeen, b.FacesUnmasked, b.Violations)));
        Assert.Equal(0.75, minutes[0].ComplianceRate);

        var hours = await Store.QueryComplianceAsync(new ComplianceQuery("dev1", "cam1", T0, T0.AddHours(2), BucketSize.Hour), default);
        Assert.Equal([(T0, 16L, 3L, 1L), (T0.AddHours(1), 10L, 5L, 1L)], hours.Select(b => (b.Start, b.FacesSeen, b.FacesUnmasked, b.Violations)));

        var days = await Store.QueryComplianceAsync(new ComplianceQuery(null, null, T0.AddDays(-1), T0.AddDays(1), BucketSize.Day), default);
        Assert.Equal([(new DateTimeOffset(2026, 11, 2, 0, 0, 0, TimeSpan.Zero), 126L, 108L, 2L)],
            days.Select(b => (b.Start, b.FacesSeen, b.FacesUnmasked, b.Violations)));

        var totals = await Store.QueryCameraTotalsAsync(null, null, T0, T0.AddHours(2), default);
        Assert.Equal([("cam1", 26L, 8L, 2L), ("cam2", 100L, 100L, 0L)], totals.Select(t => (t.Camera, t.FacesSeen, t.FacesUnmasked, t.Violations)));
        // The per-camera table follows the page's filters, as the buckets do.
        var filtered = await Store.QueryCameraTotalsAsync(null, "cam1", T0, T0.AddHours(2), default);
        Assert.Equal([("cam1", 26L, 8L, 2L)], filtered.Select(t => (t.Camera, t.FacesSeen, t.FacesUnmasked, t.Violations)));
        Assert.Empty(await Store.QueryCameraTotalsAsync("dev2", null, T0, T0.AddHours(2), default));
    }

    [Fact]
    public async Task DevicesAndCameras_StatusAndStats_ShowNewestFactsEvenWhenOlderOnesArriveLate()
    {
        var pipeline = Pipeline();
        await pipeline.IngestAsync(new IngestMessage(IngestKind.Status, "dev1", null, EventJsonContext.Serialize(Status("dev1", "online", T0)),
            IngestMessage.NoProperties, "test"), default);
        await Store.AddStatsAsync(Stats("dev1", "cam1", T0.AddSeconds(20), 3, 1, fps: 12.5, executionProvider: "TensorRT", outboxDepth: 7), T0, default);
        await Store.AddStatsAsync(Stats("dev1", "cam1", T0.AddSeconds(10), 3, 1, fps: 3, executionProvider: "CPU", outboxDepth: 99), T0, default);
        // An old "offline" arriving after a newer "online" does not win either.
        await Store.UpsertDeviceStatusAsync(Status("dev1", "offline", T0.AddSeconds(-5)), T0, default);

        var device = Assert.Single(await Store.GetDevicesAsync(default));
        Assert.Equal(("dev1", "online", "1.0.0-test"), (device.Device, device.State, device.Version));
        var camera = Assert.Single(await Store.GetCamerasAsync(default));
        Assert.Equal(("cam1", 12.5, "TensorRT", 7L), (camera.Camera, camera.FramesPerSecond, camera.ExecutionProvider, camera.OutboxDepth));

        // A bare last-will payload is accepted and turns the device offline.
        _time.SetUtcNow(T0.AddMinutes(1));
        await pipeline.IngestAsync(new IngestMessage(IngestKind.Status, "dev1", null, "offline"u8.ToArray(), IngestMessage.NoProperties, "test"), default);
        Assert.Equal("offline", Assert.Single(await Store.GetDevicesAsync(default)).State);
    }

    [Fact]
    public async Task RetentionWorker_AgeLimit_DeletesOldRowsAndSnapshotFilesAndNothingNewer()
    {
        var pipeline = Pipeline();
        var options = new RetentionOptions { MaxAge = TimeSpan.FromDays(7), MaxRows = 1000, MaxSnapshotBytes = 10_000_000 };
        // "Now" is T0 + 10 days; the cut-off is T0 + 3 days.
        var old = T0.AddDays(2);
        var recent = T0.AddDays(4);
        _time.SetUtcNow(old);
        await pipeline.IngestAsync(EventMessage(Event("old", EventTypes.ViolationStart, 0, "dev1", "cam1", old)), default);
        await pipeline.IngestAsync(StatsMessage(Stats("dev1", "cam1", old, 1, 1)), default);
        await pipeline.IngestAsync(new IngestMessage(IngestKind.Snapshot, "dev1", "cam1", Jpeg,
            new Dictionary<string, string> { ["snapshotId"] = "old-snap" }, "test"), default);
        _time.SetUtcNow(recent);
        await pipeline.IngestAsync(EventMessage(Event("new", EventTypes.ViolationStart, 0, "dev1", "cam1", recent)), default);
        await pipeline.IngestAsync(StatsMessage(Stats("dev1", "cam1", recent, 2, 0)), default);
        await pipeline.IngestAsync(new IngestMessage(IngestKind.Snapshot, "dev1", "cam1", Jpeg,
            new Dictionary<string, string> { ["snapshotId"] = "new-snap" }, "test"), default);
        _time.SetUtcNow(T0.AddDays(10));

        var worker = new RetentionWorker(Store, Snapshots, options, _time, new RecordingLogger<RetentionWorker>());
        var result = await worker.RunOnceAsync(default);

        Assert.Equal((1, 1), (result.EventsDeleted, result.StatsDeleted));
        Assert.Equal(["old-snap.jpg"], result.SnapshotFilesDeleted);
        Assert.Equal("new", Assert.Single((await Store.QueryEventsAsync(new EventQuery(), default)).Items).Id);
        Assert.Equal(new StoreCounts(1, 1, 1, 1), await Store.CountAsync(default));
        Assert.Null(await Store.GetSnapshotAsync("old-snap", default));
        Assert.NotNull(await Store.GetSnapshotAsync("new-snap", default));
        Assert.Equal(["new-snap.jpg"], Directory.GetFiles(Snapshots.Directory).Select(Path.GetFileName));

        // Running again deletes nothing more.
        var again = await worker.RunOnceAsync(default);
        Assert.Equal((0, 0, 0), (again.EventsDeleted, again.StatsDeleted, again.SnapshotFilesDeleted.Count));
    }

    [Fact]
    public async Task RetentionWorker_SizeLimits_DeleteOldestRowsAndSnapshotsFirst()
    {
        var pipeline = Pipeline();
        for (var i = 0; i < 10; i++)
        {
            _time.SetUtcNow(T0.AddMinutes(i));
            await pipeline.IngestAsync(EventMessage(Event($"ep-{i}", EventTypes.ViolationStart, 0, "dev1", "cam1", T0.AddMinutes(i))), default);
            await pipeline.IngestAsync(StatsMessage(Stats("dev1", "cam1", T0.AddMinutes(i), 1, 0)), default);
            await pipeline.IngestAsync(new IngestMessage(IngestKind.Snapshot, "dev1", "cam1", Jpeg,
                new Dictionary<string, string> { ["snapshotId"] = $"s{i}" }, "test"), default);
        }
        // Room for 4 rows of each table and 3 snapshots.
        var options = new RetentionOptions { MaxAge = TimeSpan.FromDays(365), MaxRows = 4, MaxSnapshotBytes = Jpeg.Length * 3 + 10 };
        var result = await new RetentionWorker(Store, Snapshots, options, _time, new RecordingLogger<RetentionWorker>()).RunOnceAsync(default);

        Assert.Equal((6, 6), (result.EventsDeleted, result.StatsDeleted));
        Assert.Equal(["ep-9", "ep-8", "ep-7", "ep-6"], (await Store.QueryEventsAsync(new EventQuery(), default)).Items.Select(e => e.Id));
        Assert.Equal(["s7.jpg", "s8.jpg", "s9.jpg"], Directory.GetFiles(Snapshots.Directory).Select(Path.GetFileName).Order());
        Assert.Equal(3, (await Store.CountAsync(default)).Snapshots);
    }

    private static readonly EventHubKey Hub = new("EdgeMask-Hub.servicebus.windows.net", "edgemask-hub", "dashboard");

    [Fact]
    public async Task ClaimOwnershipAsync_TwoClaimsWithTheSameVersion_OnlyOneWins()
    {
        var first = await Store.ClaimOwnershipAsync([new PartitionOwnership(Hub, "0", "replica-a", T0, null)], T0, default);
        var a = Assert.Single(first);
        Assert.Equal(("replica-a", "1"), (a.OwnerId, a.Version));
        // Creating a row that exists fails: a second replica that also saw no row loses.
        Assert.Empty(await Store.ClaimOwnershipAsync([new PartitionOwnership(Hub, "0", "replica-b", T0, null)], T0, default));

        // Both replicas saw version 1; the first update wins and the second, still naming 1, loses.
        var steal = await Store.ClaimOwnershipAsync([a with { OwnerId = "replica-b" }], T0.AddSeconds(5), default);
        Assert.Equal("2", Assert.Single(steal).Version);
        Assert.Empty(await Store.ClaimOwnershipAsync([a with { LastModified = T0.AddSeconds(6) }], T0.AddSeconds(6), default));
        Assert.Empty(await Store.ClaimOwnershipAsync([a with { Version = "not-a-version" }], T0.AddSeconds(6), default));

        var row = Assert.Single(await Store.ListOwnershipAsync(Hub, default));
        Assert.Equal(("0", "replica-b", "2", T0.AddSeconds(5)), (row.PartitionId, row.OwnerId, row.Version, row.LastModified));
        // Names are case-insensitive in Event Hubs: another spelling is the same hub; another consumer group is not.
        Assert.Single(await Store.ListOwnershipAsync(new EventHubKey("edgemask-hub.SERVICEBUS.windows.net", "EdgeMask-Hub", "Dashboard"), default));
        Assert.Empty(await Store.ListOwnershipAsync(new EventHubKey(Hub.Namespace, Hub.EventHub, "$default"), default));
    }

    [Fact]
    public async Task SetCheckpointAsync_Twice_KeepsTheLatestPerPartition()
    {
        Assert.Null(await Store.GetCheckpointAsync(Hub, "1", default));
        await Store.SetCheckpointAsync(new PartitionCheckpoint(Hub, "1", "4096", 41, "replica-a", T0), default);
        await Store.SetCheckpointAsync(new PartitionCheckpoint(Hub, "1", "8192", 42, "replica-b", T0.AddSeconds(1)), default);
        await Store.SetCheckpointAsync(new PartitionCheckpoint(Hub, "2", null, 7, null, T0), default);

        Assert.Equal(new PartitionCheckpoint(Hub, "1", "8192", 42, "replica-b", T0.AddSeconds(1)), await Store.GetCheckpointAsync(Hub, "1", default));
        Assert.Equal(7, (await Store.GetCheckpointAsync(Hub, "2", default))?.SequenceNumber);
    }

    [Fact]
    public async Task AddBatchAsync_MixedBatchWithRepeats_StoresEachItemOnceAndSaysWhichWereNew()
    {
        var e1 = Event("b-1", EventTypes.ViolationStart, 0, "dev1", "cam1", T0);
        var e2 = Event("b-2", EventTypes.ViolationStart, 0, "dev1", "cam2", T0);
        var batch = new StoreBatch([e1, e2, e1], [Stats("dev1", "cam1", T0, 4, 1), Stats("dev1", "cam1", T0, 4, 1)],
            [Status("dev1", "online", T0)], [new SnapshotRecord("b-snap", "dev1", "cam1", T0, "b-snap.jpg", 10)]);

        var result = await Store.AddBatchAsync(batch, T0, default);

        Assert.Equal([true, true, false], result.EventsStored);
        Assert.Equal([true, false], result.StatsStored);
        Assert.Equal([true], result.SnapshotsStored);
        Assert.Equal(new StoreCounts(2, 1, 1, 1), await Store.CountAsync(default));
        Assert.Equal(["cam1", "cam2"], (await Store.GetCamerasAsync(default)).Select(c => c.Camera));
        // The whole batch again: nothing new.
        var again = await Store.AddBatchAsync(batch, T0.AddSeconds(1), default);
        Assert.DoesNotContain(true, again.EventsStored.Concat(again.StatsStored).Concat(again.SnapshotsStored));
    }

    [Fact]
    public async Task SchemaVersionsAsync_NewDatabase_HasEveryMigration()
    {
        Assert.Equal(SchemaMigrations.All.Select(m => m.Version), await Store.SchemaVersionsAsync(default));
    }

    public void Dispose()
    {
        if (_store.IsValueCreated)
        {
            _store.Value.Dispose();
        }
        DisposeDatabase();
        _directory.Dispose();
        GC.SuppressFinalize(this);
    }

    protected virtual void DisposeDatabase()
    {
    }
}

public sealed class SqliteStoreTests : StoreContractTests
{
    protected override IDashboardStore OpenStore(string directory) =>
        DashboardStoreFactory.Open(new StoreOptions { ConnectionString = $"Data Source={Path.Combine(directory, "db", "dashboard.db")}" });

    [Fact]
    public void Constructor_NewFile_UsesWriteAheadLog()
    {
        using var directory = new TempDirectory();
        using var store = new SqliteDashboardStore($"Data Source={Path.Combine(directory.Path, "wal.db")}");
        Assert.Equal("wal", store.JournalMode());
        Assert.Equal("sqlite", store.Info.Provider);
    }
}

public sealed class PostgresStoreTests : StoreContractTests
{
    private PostgresDatabase? _database;

    protected override IDashboardStore OpenStore(string directory)
    {
        _database = new PostgresDatabase();
        var store = DashboardStoreFactory.Open(new StoreOptions { ConnectionString = _database.ConnectionString });
        Assert.Equal("postgresql", store.Info.Provider);
        return store;
    }

    protected override void DisposeDatabase() => _database?.Dispose();
}
