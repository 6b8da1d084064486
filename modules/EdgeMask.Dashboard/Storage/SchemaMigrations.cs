using System.Data.Common;
using System.Globalization;

namespace EdgeMask.Dashboard.Storage;

/// <summary>
/// One step of the dashboard schema. <see cref="Statements"/> run in order, then <see cref="Code"/> (for data that
/// has to be reshaped in C# because SQLite and PostgreSQL split strings differently), in the migration transaction.
/// </summary>
internal sealed record Migration(
    int Version,
    string Name,
    IReadOnlyList<string> Statements,
    Func<DbConnection, DbTransaction, CancellationToken, Task>? Code = null);

/// <summary>
/// The schema as an ordered list of migrations, recorded in <c>schema_migrations</c>, so a new image upgrades the
/// database it finds with no manual step. Version 1 is the schema of the dashboard before migrations existed, written
/// with <c>IF NOT EXISTS</c>: a database made by that version is adopted as it is.
/// </summary>
/// <remarks>
/// Our own few lines instead of DbUp: replicas of the cloud dashboard start together, and DbUp's journal takes no lock,
/// so two of them would both run the same script. Here every start runs all pending steps in one transaction behind
/// a lock (PostgreSQL advisory lock, SQLite's write lock), and a replica that waited finds nothing left to do.
/// </remarks>
internal static class SchemaMigrations
{
    public const string JournalTable = "schema_migrations";

    public static IReadOnlyList<Migration> All { get; } =
    [
        new(1, "events, stats, devices, cameras, snapshots, checkpoints",
        [
            """
            CREATE TABLE IF NOT EXISTS events (
                event_id TEXT NOT NULL, type TEXT NOT NULL, seq INTEGER NOT NULL,
                device TEXT NOT NULL, camera TEXT NOT NULL, track_id BIGINT NOT NULL,
                started_at_ms BIGINT NOT NULL, at_ms BIGINT NOT NULL, ended_at_ms BIGINT NULL, end_reason TEXT NULL,
                label TEXT NOT NULL, probability DOUBLE PRECISION NOT NULL,
                frames_observed INTEGER NOT NULL, frames_unmasked INTEGER NOT NULL,
                snapshot_id TEXT NULL, received_at_ms BIGINT NOT NULL,
                PRIMARY KEY (event_id, type, seq))
            """,
            "CREATE INDEX IF NOT EXISTS ix_events_at ON events (at_ms)",
            "CREATE INDEX IF NOT EXISTS ix_events_camera_at ON events (camera, at_ms)",
            """
            CREATE TABLE IF NOT EXISTS stats (
                device TEXT NOT NULL, camera TEXT NOT NULL, at_ms BIGINT NOT NULL,
                interval_s DOUBLE PRECISION NOT NULL, fps DOUBLE PRECISION NOT NULL,
                frames_processed BIGINT NOT NULL, dropped BIGINT NOT NULL,
                faces_seen BIGINT NOT NULL, faces_unmasked BIGINT NOT NULL, compliance DOUBLE PRECISION NULL,
                active_violations INTEGER NOT NULL, health TEXT NULL, execution_provider TEXT NULL, outbox_depth BIGINT NULL,
                latency_p50 DOUBLE PRECISION NOT NULL, latency_p95 DOUBLE PRECISION NOT NULL, latency_max DOUBLE PRECISION NOT NULL,
                received_at_ms BIGINT NOT NULL,
                PRIMARY KEY (device, camera, at_ms))
            """,
            "CREATE INDEX IF NOT EXISTS ix_stats_at ON stats (at_ms)",
            """
            CREATE TABLE IF NOT EXISTS devices (
                device TEXT NOT NULL PRIMARY KEY, state TEXT NOT NULL, status_at_ms BIGINT NULL, last_seen_ms BIGINT NOT NULL,
                version TEXT NULL, execution_provider TEXT NULL)
            """,
            """
            CREATE TABLE IF NOT EXISTS cameras (
                device TEXT NOT NULL, camera TEXT NOT NULL, last_seen_ms BIGINT NOT NULL, stats_at_ms BIGINT NULL,
                fps DOUBLE PRECISION NULL, execution_provider TEXT NULL, outbox_depth BIGINT NULL, health TEXT NULL,
                compliance DOUBLE PRECISION NULL, active_violations INTEGER NULL, dropped BIGINT NULL,
                PRIMARY KEY (device, camera))
            """,
            """
            CREATE TABLE IF NOT EXISTS snapshots (
                snapshot_id TEXT NOT NULL PRIMARY KEY, device TEXT NOT NULL, camera TEXT NOT NULL, at_ms BIGINT NOT NULL,
                file_name TEXT NOT NULL, size_bytes BIGINT NOT NULL)
            """,
            "CREATE INDEX IF NOT EXISTS ix_snapshots_at ON snapshots (at_ms)",
            """
            CREATE TABLE IF NOT EXISTS checkpoints (
                source TEXT NOT NULL, partition_id TEXT NOT NULL, sequence_number BIGINT NOT NULL, at_ms BIGINT NOT NULL,
                PRIMARY KEY (source, partition_id))
            """,
        ]),
        new(2, "Event Hubs partition ownership and checkpoints per namespace/hub/consumer group",
        [
            // version is the ETag of optimistic concurrency: a claim names the version it saw and wins only if the
            // row still has it, so two replicas never both own a partition.
            """
            CREATE TABLE eventhubs_ownership (
                namespace TEXT NOT NULL, event_hub TEXT NOT NULL, consumer_group TEXT NOT NULL, partition_id TEXT NOT NULL,
                owner_id TEXT NOT NULL, last_modified_ms BIGINT NOT NULL, version BIGINT NOT NULL,
                PRIMARY KEY (namespace, event_hub, consumer_group, partition_id))
            """,
            """
            CREATE TABLE eventhubs_checkpoints (
                namespace TEXT NOT NULL, event_hub TEXT NOT NULL, consumer_group TEXT NOT NULL, partition_id TEXT NOT NULL,
                offset_text TEXT NULL, sequence_number BIGINT NULL, client_id TEXT NULL, updated_at_ms BIGINT NOT NULL,
                PRIMARY KEY (namespace, event_hub, consumer_group, partition_id))
            """,
        ], CopyVersionOneCheckpointsAsync),
        new(3, "event contract version 2: class probabilities of events, faces by label of stats",
        [
            // NULL is what a version 1 document said: no probabilities, no split. Rows stored before this version are
            // version 1 documents, so the upgrade leaves them NULL and the pages show them unsplit.
            "ALTER TABLE events ADD COLUMN p_mask DOUBLE PRECISION NULL",
            "ALTER TABLE events ADD COLUMN p_no_mask DOUBLE PRECISION NULL",
            "ALTER TABLE events ADD COLUMN p_incorrect DOUBLE PRECISION NULL",
            "ALTER TABLE stats ADD COLUMN faces_mask BIGINT NULL",
            "ALTER TABLE stats ADD COLUMN faces_no_mask BIGINT NULL",
            "ALTER TABLE stats ADD COLUMN faces_incorrect BIGINT NULL",
            // Every compliance query counts starts by type (violation.start, incorrect.start) in a time range.
            "CREATE INDEX ix_events_type_at ON events (type, at_ms)",
        ]),
    ];

    public static int Latest => All[^1].Version;

    // Version 1 kept one row per partition under source "eventhubs:<namespace>/<hub>/<consumer group>"; its sequence
    // number is where the new processor resumes, so an upgrade neither replays nor skips the hub's retention.
    private static async Task CopyVersionOneCheckpointsAsync(DbConnection connection, DbTransaction transaction, CancellationToken cancellationToken)
    {
        var rows = new List<(string Source, string Partition, long Sequence, long At)>();
        await using (var select = connection.CreateCommand())
        {
            select.Transaction = transaction;
            select.CommandText = "SELECT source, partition_id, sequence_number, at_ms FROM checkpoints";
            await using var reader = await select.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                rows.Add((reader.GetString(0), reader.GetString(1), Convert.ToInt64(reader.GetValue(2), CultureInfo.InvariantCulture),
                    Convert.ToInt64(reader.GetValue(3), CultureInfo.InvariantCulture)));
            }
        }
        foreach (var (source, partition, sequence, at) in rows)
        {
            const string prefix = "eventhubs:";
            var parts = source.StartsWith(prefix, StringComparison.Ordinal) ? source[prefix.Length..].Split('/', 3) : [];
            if (parts.Length != 3)
            {
                continue;
            }
            await using var insert = connection.CreateCommand();
            insert.Transaction = transaction;
            insert.CommandText =
                "INSERT INTO eventhubs_checkpoints (namespace, event_hub, consumer_group, partition_id, offset_text, sequence_number, client_id, updated_at_ms) " +
                "VALUES (@ns, @hub, @cg, @partition, NULL, @seq, NULL, @at) ON CONFLICT DO NOTHING";
            SqlDashboardStore.AddParameters(insert,
                ("ns", EventHubKey.Normalize(parts[0])), ("hub", EventHubKey.Normalize(parts[1])), ("cg", EventHubKey.Normalize(parts[2])),
                ("partition", partition), ("seq", sequence), ("at", at));
            await insert.ExecuteNonQueryAsync(cancellationToken);
        }
    }
}

/// <summary>Runs the pending migrations of <see cref="SchemaMigrations.All"/> against one database.</summary>
internal static class SchemaMigrator
{
    /// <summary>
    /// Applies every pending migration in one transaction behind <paramref name="lockAsync"/>; returns the versions applied.
    /// Throws <see cref="DashboardSchemaException"/> when the database is newer than this dashboard.
    /// </summary>
    public static async Task<IReadOnlyList<int>> MigrateAsync(DbConnection connection, DbTransaction transaction,
        Func<DbConnection, DbTransaction, CancellationToken, Task> lockAsync, long nowMs, CancellationToken cancellationToken)
    {
        await lockAsync(connection, transaction, cancellationToken);
        await ExecuteAsync(connection, transaction,
            $"CREATE TABLE IF NOT EXISTS {SchemaMigrations.JournalTable} (version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_at_ms BIGINT NOT NULL)",
            cancellationToken);
        var applied = new HashSet<int>();
        await using (var select = connection.CreateCommand())
        {
            select.Transaction = transaction;
            select.CommandText = $"SELECT version FROM {SchemaMigrations.JournalTable}";
            await using var reader = await select.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                applied.Add(Convert.ToInt32(reader.GetValue(0), CultureInfo.InvariantCulture));
            }
        }
        if (applied.Count > 0 && applied.Max() > SchemaMigrations.Latest)
        {
            throw new DashboardSchemaException(
                $"The database is at schema version {applied.Max()}, newer than this dashboard knows ({SchemaMigrations.Latest}). " +
                "Run the newer dashboard image (or restore a backup made before the upgrade); an older image never writes to a newer schema.");
        }
        var done = new List<int>();
        foreach (var migration in SchemaMigrations.All.Where(m => !applied.Contains(m.Version)))
        {
            foreach (var statement in migration.Statements)
            {
                await ExecuteAsync(connection, transaction, statement, cancellationToken);
            }
            if (migration.Code is { } code)
            {
                await code(connection, transaction, cancellationToken);
            }
            await using var record = connection.CreateCommand();
            record.Transaction = transaction;
            record.CommandText = $"INSERT INTO {SchemaMigrations.JournalTable} (version, name, applied_at_ms) VALUES (@v, @n, @at)";
            SqlDashboardStore.AddParameters(record, ("v", migration.Version), ("n", migration.Name), ("at", nowMs));
            await record.ExecuteNonQueryAsync(cancellationToken);
            done.Add(migration.Version);
        }
        return done;
    }

    private static async Task ExecuteAsync(DbConnection connection, DbTransaction transaction, string sql, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}

/// <summary>The database cannot be used by this version of the dashboard; the message says what to do.</summary>
public sealed class DashboardSchemaException(string message) : Exception(message);
