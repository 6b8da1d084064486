using System.Data.Common;
using System.Globalization;
using System.Text;
using EdgeMask.Core.Events;

namespace EdgeMask.Dashboard.Storage;

/// <summary>
/// The store in SQL that SQLite (3.24+) and PostgreSQL (9.5+) both speak: <c>INSERT … ON CONFLICT</c>, <c>LIMIT/OFFSET</c>,
/// integer division for time buckets. Times are Unix milliseconds (BIGINT) so bucketing and comparisons are
/// plain integer maths in both. Subclasses only open connections and say how to prepare the database.
/// </summary>
public abstract class SqlDashboardStore : IDashboardStore
{
    private static readonly string[] Schema =
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
    ];

    private const string EventColumns =
        "event_id, type, seq, device, camera, track_id, started_at_ms, at_ms, ended_at_ms, end_reason, label, probability, " +
        "frames_observed, frames_unmasked, snapshot_id, received_at_ms";

    public abstract StoreProviderInfo Info { get; }

    protected abstract DbConnection OpenConnection();
    protected abstract ValueTask<DbConnection> OpenConnectionAsync(CancellationToken cancellationToken);

    /// <summary>Creates the tables; called by the subclass constructor once its connection source is ready.</summary>
    protected void CreateSchema()
    {
        using var connection = OpenConnection();
        foreach (var statement in Schema)
        {
            using var command = connection.CreateCommand();
            command.CommandText = statement;
            command.ExecuteNonQuery();
        }
    }

    public async Task<bool> AddEventAsync(MaskEvent e, DateTimeOffset receivedAt, CancellationToken cancellationToken)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var inserted = await ExecuteAsync(connection, transaction,
            $"INSERT INTO events ({EventColumns}) VALUES (@id, @type, @seq, @device, @camera, @track, @started, @at, @ended, " +
            "@reason, @label, @p, @observed, @unmasked, @snapshot, @received) ON CONFLICT (event_id, type, seq) DO NOTHING",
            cancellationToken,
            ("id", e.Id), ("type", e.Type), ("seq", e.Sequence), ("device", e.Device), ("camera", e.Camera),
            ("track", e.TrackId), ("started", Ms(e.StartedAt)), ("at", Ms(e.At)), ("ended", Ms(e.EndedAt)),
            ("reason", e.EndReason), ("label", e.Mask.Label), ("p", (double)e.Mask.Probability),
            ("observed", e.Mask.FramesObserved), ("unmasked", e.Mask.FramesUnmasked),
            ("snapshot", e.Snapshot.Available ? e.Snapshot.Id : null), ("received", Ms(receivedAt))) == 1;
        await TouchAsync(connection, transaction, e.Device, e.Camera, receivedAt, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return inserted;
    }

    public async Task<bool> AddStatsAsync(CameraStats s, DateTimeOffset receivedAt, CancellationToken cancellationToken)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var inserted = await ExecuteAsync(connection, transaction,
            "INSERT INTO stats (device, camera, at_ms, interval_s, fps, frames_processed, dropped, faces_seen, faces_unmasked, " +
            "compliance, active_violations, health, execution_provider, outbox_depth, latency_p50, latency_p95, latency_max, received_at_ms) " +
            "VALUES (@device, @camera, @at, @interval, @fps, @frames, @dropped, @seen, @unmasked, @compliance, @active, @health, @ep, " +
            "@outbox, @p50, @p95, @max, @received) ON CONFLICT (device, camera, at_ms) DO NOTHING",
            cancellationToken,
            ("device", s.Device), ("camera", s.Camera), ("at", Ms(s.At)), ("interval", s.IntervalSeconds),
            ("fps", s.FramesPerSecond), ("frames", s.FramesProcessed), ("dropped", s.DroppedFrames),
            ("seen", s.FacesSeen), ("unmasked", s.FacesUnmasked), ("compliance", s.ComplianceRate),
            ("active", s.ActiveViolations), ("health", s.CameraHealth), ("ep", s.ExecutionProvider),
            ("outbox", s.OutboxDepth), ("p50", s.LatencyMs.P50), ("p95", s.LatencyMs.P95), ("max", s.LatencyMs.Max),
            ("received", Ms(receivedAt))) == 1;
        await TouchAsync(connection, transaction, s.Device, s.Camera, receivedAt, cancellationToken);
        // The camera row shows the newest stats; an older one arriving late (redelivery, replay) must not win.
        await ExecuteAsync(connection, transaction,
            "UPDATE cameras SET stats_at_ms = @at, fps = @fps, execution_provider = @ep, outbox_depth = @outbox, health = @health, " +
            "compliance = @compliance, active_violations = @active, dropped = @dropped " +
            "WHERE device = @device AND camera = @camera AND (stats_at_ms IS NULL OR stats_at_ms <= @at)",
            cancellationToken,
            ("device", s.Device), ("camera", s.Camera), ("at", Ms(s.At)), ("fps", s.FramesPerSecond),
            ("ep", s.ExecutionProvider), ("outbox", s.OutboxDepth), ("health", s.CameraHealth),
            ("compliance", s.ComplianceRate), ("active", s.ActiveViolations), ("dropped", s.DroppedFrames));
        await transaction.CommitAsync(cancellationToken);
        return inserted;
    }

    public async Task UpsertDeviceStatusAsync(DeviceStatus status, DateTimeOffset receivedAt, CancellationToken cancellationToken)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken);
        await ExecuteAsync(connection, null,
            "INSERT INTO devices (device, state, status_at_ms, last_seen_ms, version, execution_provider) " +
            "VALUES (@device, @state, @at, @seen, @version, @ep) ON CONFLICT (device) DO UPDATE SET " +
            "last_seen_ms = CASE WHEN excluded.last_seen_ms > devices.last_seen_ms THEN excluded.last_seen_ms ELSE devices.last_seen_ms END, " +
            "state = CASE WHEN devices.status_at_ms IS NULL OR excluded.status_at_ms >= devices.status_at_ms THEN excluded.state ELSE devices.state END, " +
            "version = CASE WHEN devices.status_at_ms IS NULL OR excluded.status_at_ms >= devices.status_at_ms THEN excluded.version ELSE devices.version END, " +
            "execution_provider = CASE WHEN devices.status_at_ms IS NULL OR excluded.status_at_ms >= devices.status_at_ms THEN excluded.execution_provider ELSE devices.execution_provider END, " +
            "status_at_ms = CASE WHEN devices.status_at_ms IS NULL OR excluded.status_at_ms >= devices.status_at_ms THEN excluded.status_at_ms ELSE devices.status_at_ms END",
            cancellationToken,
            ("device", status.Device), ("state", status.State), ("at", Ms(status.At)), ("seen", Ms(receivedAt)),
            ("version", status.Version), ("ep", status.ExecutionProvider));
    }

    public async Task<bool> AddSnapshotAsync(SnapshotRecord snapshot, CancellationToken cancellationToken)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken);
        return await ExecuteAsync(connection, null,
            "INSERT INTO snapshots (snapshot_id, device, camera, at_ms, file_name, size_bytes) " +
            "VALUES (@id, @device, @camera, @at, @file, @size) ON CONFLICT (snapshot_id) DO NOTHING",
            cancellationToken,
            ("id", snapshot.Id), ("device", snapshot.Device), ("camera", snapshot.Camera), ("at", Ms(snapshot.At)),
            ("file", snapshot.FileName), ("size", snapshot.SizeBytes)) == 1;
    }

    public async Task<SnapshotRecord?> GetSnapshotAsync(string id, CancellationToken cancellationToken)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken);
        await using var command = Command(connection, null,
            "SELECT snapshot_id, device, camera, at_ms, file_name, size_bytes FROM snapshots WHERE snapshot_id = @id", ("id", id));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }
        return new SnapshotRecord(reader.GetString(0), reader.GetString(1), reader.GetString(2), Time(reader.GetValue(3)),
            reader.GetString(4), Long(reader.GetValue(5)));
    }

    public async Task<EventPage> QueryEventsAsync(EventQuery query, CancellationToken cancellationToken)
    {
        var (where, parameters) = EventFilter(query.Device, query.Camera, query.Type, query.From, query.To);
        await using var connection = await OpenConnectionAsync(cancellationToken);
        long total;
        await using (var count = Command(connection, null, $"SELECT COUNT(*) FROM events{where}", [.. parameters]))
        {
            total = Long(await count.ExecuteScalarAsync(cancellationToken));
        }
        var items = new List<StoredEvent>();
        parameters.Add(("limit", (long)Math.Max(0, query.Limit)));
        parameters.Add(("offset", (long)Math.Max(0, query.Offset)));
        await using var command = Command(connection, null,
            $"SELECT {EventColumns} FROM events{where} ORDER BY at_ms DESC, event_id, seq DESC, type LIMIT @limit OFFSET @offset",
            [.. parameters]);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            items.Add(new StoredEvent(
                reader.GetString(0), reader.GetString(1), (int)Long(reader.GetValue(2)), reader.GetString(3), reader.GetString(4),
                Long(reader.GetValue(5)), Time(reader.GetValue(6)), Time(reader.GetValue(7)),
                reader.IsDBNull(8) ? null : Time(reader.GetValue(8)), reader.IsDBNull(9) ? null : reader.GetString(9),
                reader.GetString(10), Convert.ToDouble(reader.GetValue(11), CultureInfo.InvariantCulture),
                (int)Long(reader.GetValue(12)), (int)Long(reader.GetValue(13)),
                reader.IsDBNull(14) ? null : reader.GetString(14), Time(reader.GetValue(15))));
        }
        return new EventPage(items, total);
    }

    public async Task<IReadOnlyList<ComplianceBucket>> QueryComplianceAsync(ComplianceQuery query, CancellationToken cancellationToken)
    {
        var size = BucketMilliseconds(query.Bucket);
        var faces = new SortedDictionary<long, (long Seen, long Unmasked, long Violations)>();
        await using var connection = await OpenConnectionAsync(cancellationToken);

        var (statsWhere, statsParameters) = RangeFilter(query.Device, query.Camera, query.From, query.To);
        statsParameters.Add(("size", size));
        await using (var command = Command(connection, null,
            $"SELECT (at_ms / @size) * @size, SUM(faces_seen), SUM(faces_unmasked) FROM stats{statsWhere} GROUP BY 1 ORDER BY 1",
            [.. statsParameters]))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                faces[Long(reader.GetValue(0))] = (Long(reader.GetValue(1)), Long(reader.GetValue(2)), 0);
            }
        }

        var (eventWhere, eventParameters) = EventFilter(query.Device, query.Camera, EventTypes.ViolationStart, query.From, query.To);
        eventParameters.Add(("size", size));
        await using (var command = Command(connection, null,
            $"SELECT (at_ms / @size) * @size, COUNT(*) FROM events{eventWhere} GROUP BY 1 ORDER BY 1", [.. eventParameters]))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                var bucket = Long(reader.GetValue(0));
                var current = faces.GetValueOrDefault(bucket);
                faces[bucket] = current with { Violations = Long(reader.GetValue(1)) };
            }
        }
        return faces.Select(kv => new ComplianceBucket(DateTimeOffset.FromUnixTimeMilliseconds(kv.Key),
            kv.Value.Seen, kv.Value.Unmasked, kv.Value.Violations)).ToList();
    }

    public async Task<IReadOnlyList<CameraTotals>> QueryCameraTotalsAsync(DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken)
    {
        var totals = new SortedDictionary<(string Device, string Camera), (long Seen, long Unmasked, long Violations)>();
        await using var connection = await OpenConnectionAsync(cancellationToken);
        var (where, parameters) = RangeFilter(null, null, from, to);
        await using (var command = Command(connection, null,
            $"SELECT device, camera, SUM(faces_seen), SUM(faces_unmasked) FROM stats{where} GROUP BY device, camera", [.. parameters]))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                totals[(reader.GetString(0), reader.GetString(1))] = (Long(reader.GetValue(2)), Long(reader.GetValue(3)), 0);
            }
        }
        var (eventWhere, eventParameters) = EventFilter(null, null, EventTypes.ViolationStart, from, to);
        await using (var command = Command(connection, null,
            $"SELECT device, camera, COUNT(*) FROM events{eventWhere} GROUP BY device, camera", [.. eventParameters]))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                var key = (reader.GetString(0), reader.GetString(1));
                totals[key] = totals.GetValueOrDefault(key) with { Violations = Long(reader.GetValue(2)) };
            }
        }
        return totals.Select(kv => new CameraTotals(kv.Key.Device, kv.Key.Camera, kv.Value.Seen, kv.Value.Unmasked, kv.Value.Violations)).ToList();
    }

    public async Task<IReadOnlyList<DeviceRow>> GetDevicesAsync(CancellationToken cancellationToken)
    {
        var rows = new List<DeviceRow>();
        await using var connection = await OpenConnectionAsync(cancellationToken);
        await using var command = Command(connection, null,
            "SELECT device, state, last_seen_ms, status_at_ms, version, execution_provider FROM devices ORDER BY device");
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(new DeviceRow(reader.GetString(0), reader.GetString(1), Time(reader.GetValue(2)),
                reader.IsDBNull(3) ? null : Time(reader.GetValue(3)), NullableString(reader, 4), NullableString(reader, 5)));
        }
        return rows;
    }

    public async Task<IReadOnlyList<CameraRow>> GetCamerasAsync(CancellationToken cancellationToken)
    {
        var rows = new List<CameraRow>();
        await using var connection = await OpenConnectionAsync(cancellationToken);
        await using var command = Command(connection, null,
            "SELECT device, camera, last_seen_ms, fps, execution_provider, outbox_depth, health, compliance, active_violations, dropped " +
            "FROM cameras ORDER BY device, camera");
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(new CameraRow(reader.GetString(0), reader.GetString(1), Time(reader.GetValue(2)),
                reader.IsDBNull(3) ? null : Convert.ToDouble(reader.GetValue(3), CultureInfo.InvariantCulture),
                NullableString(reader, 4), reader.IsDBNull(5) ? null : Long(reader.GetValue(5)), NullableString(reader, 6),
                reader.IsDBNull(7) ? null : Convert.ToDouble(reader.GetValue(7), CultureInfo.InvariantCulture),
                reader.IsDBNull(8) ? null : (int)Long(reader.GetValue(8)), reader.IsDBNull(9) ? null : Long(reader.GetValue(9))));
        }
        return rows;
    }

    public async Task<StoreCounts> CountAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken);
        async Task<long> Count(string table)
        {
            await using var command = Command(connection, null, $"SELECT COUNT(*) FROM {table}");
            return Long(await command.ExecuteScalarAsync(cancellationToken));
        }
        return new StoreCounts(await Count("events"), await Count("stats"), await Count("snapshots"), await Count("devices"));
    }

    public async Task<RetentionResult> ApplyRetentionAsync(RetentionPolicy policy, CancellationToken cancellationToken)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken);
        var cutoff = Ms(policy.Cutoff);
        long eventsDeleted = await ExecuteAsync(connection, null, "DELETE FROM events WHERE at_ms < @cut", cancellationToken, ("cut", cutoff));
        long statsDeleted = await ExecuteAsync(connection, null, "DELETE FROM stats WHERE at_ms < @cut", cancellationToken, ("cut", cutoff));
        eventsDeleted += await TrimRowsAsync(connection, "events", policy.MaxRows, cancellationToken);
        statsDeleted += await TrimRowsAsync(connection, "stats", policy.MaxRows, cancellationToken);

        // Snapshots: everything before the cut-off, then the oldest until the newest ones fit in the byte budget.
        var doomed = new List<(string Id, string File)>();
        long kept = 0;
        await using (var command = Command(connection, null,
            "SELECT snapshot_id, file_name, size_bytes, at_ms FROM snapshots ORDER BY at_ms DESC, snapshot_id DESC"))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            var overBudget = false;
            while (await reader.ReadAsync(cancellationToken))
            {
                var size = Long(reader.GetValue(2));
                var old = Long(reader.GetValue(3)) < cutoff;
                overBudget |= kept + size > policy.MaxSnapshotBytes;
                if (old || overBudget)
                {
                    doomed.Add((reader.GetString(0), reader.GetString(1)));
                }
                else
                {
                    kept += size;
                }
            }
        }
        foreach (var chunk in doomed.Chunk(200))
        {
            var names = string.Join(", ", chunk.Select((_, i) => $"@s{i}"));
            await ExecuteAsync(connection, null, $"DELETE FROM snapshots WHERE snapshot_id IN ({names})", cancellationToken,
                chunk.Select((d, i) => ($"s{i}", (object?)d.Id)).ToArray());
        }
        return new RetentionResult(eventsDeleted, statsDeleted, doomed.Select(d => d.File).ToList());
    }

    public async Task<long?> GetCheckpointAsync(string source, string partition, CancellationToken cancellationToken)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken);
        await using var command = Command(connection, null,
            "SELECT sequence_number FROM checkpoints WHERE source = @source AND partition_id = @partition",
            ("source", source), ("partition", partition));
        var value = await command.ExecuteScalarAsync(cancellationToken);
        return value is null or DBNull ? null : Long(value);
    }

    public async Task SetCheckpointAsync(string source, string partition, long sequenceNumber, DateTimeOffset at, CancellationToken cancellationToken)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken);
        await ExecuteAsync(connection, null,
            "INSERT INTO checkpoints (source, partition_id, sequence_number, at_ms) VALUES (@source, @partition, @seq, @at) " +
            "ON CONFLICT (source, partition_id) DO UPDATE SET sequence_number = excluded.sequence_number, at_ms = excluded.at_ms",
            cancellationToken, ("source", source), ("partition", partition), ("seq", sequenceNumber), ("at", Ms(at)));
    }

    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing)
    {
    }

    private static async Task<long> TrimRowsAsync(DbConnection connection, string table, long maxRows, CancellationToken cancellationToken)
    {
        // The at_ms of the newest row beyond the limit: that row and everything older go, nothing newer.
        await using var command = Command(connection, null, $"SELECT at_ms FROM {table} ORDER BY at_ms DESC LIMIT 1 OFFSET @max", ("max", maxRows));
        var threshold = await command.ExecuteScalarAsync(cancellationToken);
        if (threshold is null or DBNull)
        {
            return 0;
        }
        return await ExecuteAsync(connection, null, $"DELETE FROM {table} WHERE at_ms <= @t", cancellationToken, ("t", Long(threshold)));
    }

    private static async Task TouchAsync(DbConnection connection, DbTransaction transaction, string device, string camera,
        DateTimeOffset receivedAt, CancellationToken cancellationToken)
    {
        await ExecuteAsync(connection, transaction,
            "INSERT INTO devices (device, state, last_seen_ms) VALUES (@device, 'unknown', @seen) ON CONFLICT (device) DO UPDATE SET " +
            "last_seen_ms = CASE WHEN excluded.last_seen_ms > devices.last_seen_ms THEN excluded.last_seen_ms ELSE devices.last_seen_ms END",
            cancellationToken, ("device", device), ("seen", Ms(receivedAt)));
        await ExecuteAsync(connection, transaction,
            "INSERT INTO cameras (device, camera, last_seen_ms) VALUES (@device, @camera, @seen) ON CONFLICT (device, camera) DO UPDATE SET " +
            "last_seen_ms = CASE WHEN excluded.last_seen_ms > cameras.last_seen_ms THEN excluded.last_seen_ms ELSE cameras.last_seen_ms END",
            cancellationToken, ("device", device), ("camera", camera), ("seen", Ms(receivedAt)));
    }

    private static (string Where, List<(string, object?)> Parameters) EventFilter(
        string? device, string? camera, string? type, DateTimeOffset? from, DateTimeOffset? to)
    {
        var (where, parameters) = RangeFilter(device, camera, from, to);
        if (!string.IsNullOrEmpty(type))
        {
            where = (where.Length == 0 ? " WHERE " : where + " AND ") + "type = @type";
            parameters.Add(("type", type));
        }
        return (where, parameters);
    }

    // Only present filters become SQL, so no untyped NULL parameter reaches PostgreSQL.
    private static (string Where, List<(string, object?)> Parameters) RangeFilter(
        string? device, string? camera, DateTimeOffset? from, DateTimeOffset? to)
    {
        var clauses = new List<string>();
        var parameters = new List<(string, object?)>();
        if (!string.IsNullOrEmpty(device))
        {
            clauses.Add("device = @device");
            parameters.Add(("device", device));
        }
        if (!string.IsNullOrEmpty(camera))
        {
            clauses.Add("camera = @camera");
            parameters.Add(("camera", camera));
        }
        if (from is { } f)
        {
            clauses.Add("at_ms >= @from");
            parameters.Add(("from", Ms(f)));
        }
        if (to is { } t)
        {
            clauses.Add("at_ms < @to");
            parameters.Add(("to", Ms(t)));
        }
        var sb = new StringBuilder();
        if (clauses.Count > 0)
        {
            sb.Append(" WHERE ").AppendJoin(" AND ", clauses);
        }
        return (sb.ToString(), parameters);
    }

    internal static long BucketMilliseconds(BucketSize bucket) => bucket switch
    {
        BucketSize.Minute => 60_000L,
        BucketSize.Hour => 3_600_000L,
        BucketSize.Day => 86_400_000L,
        _ => throw new ArgumentOutOfRangeException(nameof(bucket), bucket, "Unknown bucket size."),
    };

    private static DbCommand Command(DbConnection connection, DbTransaction? transaction, string sql, params (string Name, object? Value)[] parameters)
    {
        var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            var parameter = command.CreateParameter();
            parameter.ParameterName = "@" + name;
            parameter.Value = value ?? DBNull.Value;
            command.Parameters.Add(parameter);
        }
        return command;
    }

    private static async Task<int> ExecuteAsync(DbConnection connection, DbTransaction? transaction, string sql,
        CancellationToken cancellationToken, params (string Name, object? Value)[] parameters)
    {
        await using var command = Command(connection, transaction, sql, parameters);
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static long Ms(DateTimeOffset at) => at.ToUnixTimeMilliseconds();
    private static long? Ms(DateTimeOffset? at) => at?.ToUnixTimeMilliseconds();
    // SQLite answers INTEGER as long, PostgreSQL answers SUM(bigint) as numeric: read both the same way.
    private static long Long(object? value) => Convert.ToInt64(value, CultureInfo.InvariantCulture);
    private static DateTimeOffset Time(object value) => DateTimeOffset.FromUnixTimeMilliseconds(Long(value));
    private static string? NullableString(DbDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? null : reader.GetString(ordinal);
}
