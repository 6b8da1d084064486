using EdgeMask.Dashboard.Options;
using EdgeMask.Dashboard.Storage;
using EdgeMask.Dashboard.Tests.Support;
using Microsoft.Data.Sqlite;
using Npgsql;
using static EdgeMask.Dashboard.Tests.Support.Samples;

namespace EdgeMask.Dashboard.Tests;

/// <summary>
/// An image upgrade needs no manual step: the new code opens a database made by the dashboard before schema
/// versioning (today's tables, no schema_migrations) and brings it up to date, keeping every row.
/// </summary>
public abstract class SchemaMigrationTests : IDisposable
{
    // The tables exactly as the dashboard created them before migrations existed (main at bda8fa0), with rows.
    private static readonly string[] PreMigrationSchema =
    [
        "CREATE TABLE events (event_id TEXT NOT NULL, type TEXT NOT NULL, seq INTEGER NOT NULL, device TEXT NOT NULL, camera TEXT NOT NULL, track_id BIGINT NOT NULL, started_at_ms BIGINT NOT NULL, at_ms BIGINT NOT NULL, ended_at_ms BIGINT NULL, end_reason TEXT NULL, label TEXT NOT NULL, probability DOUBLE PRECISION NOT NULL, frames_observed INTEGER NOT NULL, frames_unmasked INTEGER NOT NULL, snapshot_id TEXT NULL, received_at_ms BIGINT NOT NULL, PRIMARY KEY (event_id, type, seq))",
        "CREATE INDEX ix_events_at ON events (at_ms)",
        "CREATE INDEX ix_events_camera_at ON events (camera, at_ms)",
        "CREATE TABLE stats (device TEXT NOT NULL, camera TEXT NOT NULL, at_ms BIGINT NOT NULL, interval_s DOUBLE PRECISION NOT NULL, fps DOUBLE PRECISION NOT NULL, frames_processed BIGINT NOT NULL, dropped BIGINT NOT NULL, faces_seen BIGINT NOT NULL, faces_unmasked BIGINT NOT NULL, compliance DOUBLE PRECISION NULL, active_violations INTEGER NOT NULL, health TEXT NULL, execution_provider TEXT NULL, outbox_depth BIGINT NULL, latency_p50 DOUBLE PRECISION NOT NULL, latency_p95 DOUBLE PRECISION NOT NULL, latency_max DOUBLE PRECISION NOT NULL, received_at_ms BIGINT NOT NULL, PRIMARY KEY (device, camera, at_ms))",
        "CREATE INDEX ix_stats_at ON stats (at_ms)",
        "CREATE TABLE devices (device TEXT NOT NULL PRIMARY KEY, state TEXT NOT NULL, status_at_ms BIGINT NULL, last_seen_ms BIGINT NOT NULL, version TEXT NULL, execution_provider TEXT NULL)",
        "CREATE TABLE cameras (device TEXT NOT NULL, camera TEXT NOT NULL, last_seen_ms BIGINT NOT NULL, stats_at_ms BIGINT NULL, fps DOUBLE PRECISION NULL, execution_provider TEXT NULL, outbox_depth BIGINT NULL, health TEXT NULL, compliance DOUBLE PRECISION NULL, active_violations INTEGER NULL, dropped BIGINT NULL, PRIMARY KEY (device, camera))",
        "CREATE TABLE snapshots (snapshot_id TEXT NOT NULL PRIMARY KEY, device TEXT NOT NULL, camera TEXT NOT NULL, at_ms BIGINT NOT NULL, file_name TEXT NOT NULL, size_bytes BIGINT NOT NULL)",
        "CREATE INDEX ix_snapshots_at ON snapshots (at_ms)",
        "CREATE TABLE checkpoints (source TEXT NOT NULL, partition_id TEXT NOT NULL, sequence_number BIGINT NOT NULL, at_ms BIGINT NOT NULL, PRIMARY KEY (source, partition_id))",
        "INSERT INTO events VALUES ('old-1', 'violation.start', 0, 'dev1', 'cam1', 3, 1793613600000, 1793613600000, NULL, NULL, 'no_mask', 0.9, 8, 6, NULL, 1793613600000)",
        "INSERT INTO devices VALUES ('dev1', 'online', 1793613600000, 1793613600000, '1.0.0', 'CPU')",
        "INSERT INTO cameras VALUES ('dev1', 'cam1', 1793613600000, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
        "INSERT INTO checkpoints VALUES ('eventhubs:MyHub.servicebus.windows.net/iothub-ehub-myhub/dashboard', '1', 4242, 1793613600000)",
    ];

    private protected readonly TempDirectory Directory = new();

    protected abstract string ConnectionString { get; }
    protected abstract void Execute(string sql);

    [Fact]
    public async Task Open_DatabaseFromBeforeMigrations_UpgradesKeepingRowsAndCheckpoints()
    {
        foreach (var statement in PreMigrationSchema)
        {
            Execute(statement);
        }

        using var store = (SqlDashboardStore)DashboardStoreFactory.Open(new StoreOptions { ConnectionString = ConnectionString });

        Assert.Equal(SchemaMigrations.All.Select(m => m.Version), store.AppliedMigrations);
        Assert.Equal(SchemaMigrations.All.Select(m => m.Version), await store.SchemaVersionsAsync(default));
        Assert.Equal("old-1", Assert.Single((await store.QueryEventsAsync(new EventQuery(), default)).Items).Id);
        Assert.Equal("1.0.0", Assert.Single(await store.GetDevicesAsync(default)).Version);
        // The old per-partition checkpoint is where the new processor resumes.
        var checkpoint = await store.GetCheckpointAsync(new EventHubKey("myhub.servicebus.windows.net", "iothub-ehub-myhub", "dashboard"), "1", default);
        Assert.Equal(4242, checkpoint?.SequenceNumber);
        // And the upgraded database takes new data like a new one.
        Assert.True(await store.AddEventAsync(Event("new-1", Core.Events.EventTypes.ViolationStart, 0, "dev1", "cam1", T0), T0, default));
    }

    [Fact]
    public async Task Open_DatabaseAtVersion2WithVersion1Rows_AddsTheVersion2ColumnsAndShowsOldRowsUnsplit()
    {
        // A database the dashboard of issue 18 made (schema version 2), holding what version 1 devices sent.
        foreach (var statement in PreMigrationSchema.Concat(SchemaMigrations.All.Single(m => m.Version == 2).Statements))
        {
            Execute(statement);
        }
        Execute("CREATE TABLE schema_migrations (version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_at_ms BIGINT NOT NULL)");
        Execute("INSERT INTO schema_migrations VALUES (1, 'v1', 1793613600000), (2, 'v2', 1793613600000)");
        Execute("INSERT INTO stats VALUES ('dev1', 'cam1', 1793613600000, 10, 14.5, 145, 0, 20, 5, 0.75, 1, 'ok', 'CPU', 0, 40, 60, 90, 1793613600000)");

        using var store = (SqlDashboardStore)DashboardStoreFactory.Open(new StoreOptions { ConnectionString = ConnectionString });

        Assert.Equal([3], store.AppliedMigrations);
        Assert.Equal([1, 2, 3], await store.SchemaVersionsAsync(default));
        var old = Assert.Single((await store.QueryEventsAsync(new EventQuery(), default)).Items);
        Assert.Equal(("old-1", "no_mask", (LabelProbabilities?)null), (old.Id, old.Label, old.Probabilities));
        // Version 2 documents now keep what is new in them, beside the old rows.
        var incorrect = IncorrectEvent("new-i", Core.Events.EventTypes.IncorrectStart, 0, "dev1", "cam1", T0.AddSeconds(30));
        Assert.True(await store.AddEventAsync(incorrect, T0, default));
        Assert.True(await store.AddStatsAsync(Stats("dev1", "cam1", T0.AddSeconds(20), 10, 3, byLabel: new Core.Events.LabelCounts(7, 1, 2)), T0, default));
        Assert.Equal(new LabelProbabilities(0.07, 0.12, 0.81),
            Assert.Single((await store.QueryEventsAsync(new EventQuery(Type: Core.Events.EventTypes.IncorrectStart), default)).Items).Probabilities);
        var bucket = Assert.Single(await store.QueryComplianceAsync(new ComplianceQuery("dev1", "cam1", T0, T0.AddMinutes(1), BucketSize.Minute), default));
        Assert.Equal(new FaceSplit(Mask: 7, NoMask: 1, Incorrect: 2, Unsplit: 20), bucket.Faces);
        Assert.Equal((30L, 8L, 1L, 1L), (bucket.FacesSeen, bucket.FacesUnmasked, bucket.Violations, bucket.IncorrectEpisodes));
    }

    [Fact]
    public async Task Open_TwiceOrByAnotherReplica_AppliesNothingTheSecondTime()
    {
        using (var first = (SqlDashboardStore)DashboardStoreFactory.Open(new StoreOptions { ConnectionString = ConnectionString }))
        {
            Assert.Equal(SchemaMigrations.All.Select(m => m.Version), first.AppliedMigrations);
        }
        // Replicas starting at the same moment: one migrates, the others wait for its lock and find nothing to do.
        var stores = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => Task.Run(() =>
            (SqlDashboardStore)DashboardStoreFactory.Open(new StoreOptions { ConnectionString = ConnectionString }))));
        Assert.All(stores, s => Assert.Empty(s.AppliedMigrations));
        Assert.Equal(SchemaMigrations.All.Select(m => m.Version), await stores[0].SchemaVersionsAsync(default));
        foreach (var store in stores)
        {
            store.Dispose();
        }
    }

    [Fact]
    public void Open_DatabaseNewerThanThisDashboard_RefusesNamingTheVersions()
    {
        using (DashboardStoreFactory.Open(new StoreOptions { ConnectionString = ConnectionString }))
        {
        }
        Execute($"INSERT INTO schema_migrations (version, name, applied_at_ms) VALUES ({SchemaMigrations.Latest + 1}, 'from the future', 0)");
        var ex = Assert.Throws<DashboardSchemaException>(() => DashboardStoreFactory.Open(new StoreOptions { ConnectionString = ConnectionString }));
        Assert.Contains($"schema version {SchemaMigrations.Latest + 1}", ex.Message);
        Assert.Contains("Run the newer dashboard image", ex.Message);
    }

    public void Dispose()
    {
        DisposeDatabase();
        Directory.Dispose();
        GC.SuppressFinalize(this);
    }

    protected virtual void DisposeDatabase()
    {
    }
}

public sealed class SqliteSchemaMigrationTests : SchemaMigrationTests
{
    protected override string ConnectionString => $"Data Source={Path.Combine(Directory.Path, "old.db")}";

    protected override void Execute(string sql)
    {
        using var connection = new SqliteConnection(ConnectionString);
        connection.Open();
        using var command = new SqliteCommand(sql, connection);
        command.ExecuteNonQuery();
        SqliteConnection.ClearPool(connection);
    }
}

public sealed class PostgresSchemaMigrationTests : SchemaMigrationTests
{
    private readonly PostgresDatabase _database = new();

    protected override string ConnectionString => _database.ConnectionString;

    protected override void Execute(string sql)
    {
        using var connection = new NpgsqlConnection(ConnectionString);
        connection.Open();
        using var command = new NpgsqlCommand(sql, connection);
        command.ExecuteNonQuery();
    }

    protected override void DisposeDatabase() => _database.Dispose();
}
