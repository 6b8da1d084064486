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
    private const string EventColumns =
        "event_id, type, seq, device, camera, track_id, started_at_ms, at_ms, ended_at_ms, end_reason, label, probability, " +
        "frames_observed, frames_unmasked, snapshot_id, received_at_ms, p_mask, p_no_mask, p_incorrect";

    public abstract StoreProviderInfo Info { get; }

    protected abstract DbConnection OpenConnection();
    protected abstract ValueTask<DbConnection> OpenConnectionAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Serializes schema migrations between replicas that start together; runs inside the migration transaction.
    /// </summary>
    protected abstract Task LockSchemaAsync(DbConnection connection, DbTransaction transaction, CancellationToken cancellationToken);

    /// <summary>Brings the schema up to date (see <see cref="SchemaMigrations"/>); called by the subclass constructor.</summary>
    protected void Migrate()
    {
        using var connection = OpenConnection();
        using var transaction = connection.BeginTransaction();
        var applied = SchemaMigrator.MigrateAsync(connection, transaction, LockSchemaAsync, Ms(DateTimeOffset.UtcNow), CancellationToken.None)
            .GetAwaiter().GetResult();
        transaction.Commit();
        AppliedMigrations = applied;
    }

    /// <summary>The migrations this instance applied when it opened the database (empty when it was up to date).</summary>
    public IReadOnlyList<int> AppliedMigrations { get; private set; } = [];

    private const string InsertEventSql =
        $"INSERT INTO events ({EventColumns}) VALUES (@id, @type, @seq, @device, @camera, @track, @started, @at, @ended, " +
        "@reason, @label, @p, @observed, @unmasked, @snapshot, @received, @pmask, @pnomask, @pincorrect) ON CONFLICT (event_id, type, seq) DO NOTHING";

    private const string InsertStatsSql =
        "INSERT INTO stats (device, camera, at_ms, interval_s, fps, frames_processed, dropped, faces_seen, faces_unmasked, " +
        "compliance, active_violations, health, execution_provider, outbox_depth, latency_p50, latency_p95, latency_max, received_at_ms, " +
        "faces_mask, faces_no_mask, faces_incorrect) " +
        "VALUES (@device, @camera, @at, @interval, @fps, @frames, @dropped, @seen, @unmasked, @compliance, @active, @health, @ep, " +
        "@outbox, @p50, @p95, @max, @received, @fmask, @fnomask, @fincorrect) ON CONFLICT (device, camera, at_ms) DO NOTHING";

    // The camera row shows the newest stats; an older one arriving late (redelivery, replay) must not win.
    private const string UpdateCameraSql =
        "UPDATE cameras SET stats_at_ms = @at, fps = @fps, execution_provider = @ep, outbox_depth = @outbox, health = @health, " +
        "compliance = @compliance, active_violations = @active, dropped = @dropped " +
        "WHERE device = @device AND camera = @camera AND (stats_at_ms IS NULL OR stats_at_ms <= @at)";

    private const string UpsertStatusSql =
        "INSERT INTO devices (device, state, status_at_ms, last_seen_ms, version, execution_provider) " +
        "VALUES (@device, @state, @at, @seen, @version, @ep) ON CONFLICT (device) DO UPDATE SET " +
        "last_seen_ms = CASE WHEN excluded.last_seen_ms > devices.last_seen_ms THEN excluded.last_seen_ms ELSE devices.last_seen_ms END, " +
        "state = CASE WHEN devices.status_at_ms IS NULL OR excluded.status_at_ms >= devices.status_at_ms THEN excluded.state ELSE devices.state END, " +
        "version = CASE WHEN devices.status_at_ms IS NULL OR excluded.status_at_ms >= devices.status_at_ms THEN excluded.version ELSE devices.version END, " +
        "execution_provider = CASE WHEN devices.status_at_ms IS NULL OR excluded.status_at_ms >= devices.status_at_ms THEN excluded.execution_provider ELSE devices.execution_provider END, " +
        "status_at_ms = CASE WHEN devices.status_at_ms IS NULL OR excluded.status_at_ms >= devices.status_at_ms THEN excluded.status_at_ms ELSE devices.status_at_ms END";

    private const string TouchDeviceSql =
        "INSERT INTO devices (device, state, last_seen_ms) VALUES (@device, 'unknown', @seen) ON CONFLICT (device) DO UPDATE SET " +
        "last_seen_ms = CASE WHEN excluded.last_seen_ms > devices.last_seen_ms THEN excluded.last_seen_ms ELSE devices.last_seen_ms END";

    private const string TouchCameraSql =
        "INSERT INTO cameras (device, camera, last_seen_ms) VALUES (@device, @camera, @seen) ON CONFLICT (device, camera) DO UPDATE SET " +
        "last_seen_ms = CASE WHEN excluded.last_seen_ms > cameras.last_seen_ms THEN excluded.last_seen_ms ELSE cameras.last_seen_ms END";

    private const string InsertSnapshotSql =
        "INSERT INTO snapshots (snapshot_id, device, camera, at_ms, file_name, size_bytes) " +
        "VALUES (@id, @device, @camera, @at, @file, @size) ON CONFLICT (snapshot_id) DO NOTHING";

    public async Task<StoreBatchResult> AddBatchAsync(StoreBatch batch, DateTimeOffset receivedAt, CancellationToken cancellationToken)
    {
        var result = new StoreBatchResult(new bool[batch.Events.Count], new bool[batch.Stats.Count], new bool[batch.Snapshots.Count]);
        if (batch.IsEmpty)
        {
            return result;
        }
        var received = Ms(receivedAt);
        await using var connection = await OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);

        // Devices and cameras first (once per pair, not per message): the stats update below needs the camera row.
        var parties = batch.Events.Select(e => (e.Device, e.Camera)).Concat(batch.Stats.Select(s => (s.Device, s.Camera))).Distinct().ToList();
        if (parties.Count > 0)
        {
            await using var device = Reusable(connection, transaction, TouchDeviceSql, "device", "seen");
            await using var camera = Reusable(connection, transaction, TouchCameraSql, "device", "camera", "seen");
            foreach (var name in parties.Select(p => p.Device).Distinct(StringComparer.Ordinal))
            {
                await RunAsync(device, cancellationToken, name, received);
            }
            foreach (var (deviceName, cameraName) in parties)
            {
                await RunAsync(camera, cancellationToken, deviceName, cameraName, received);
            }
        }
        if (batch.Events.Count > 0)
        {
            await using var insert = Reusable(connection, transaction, InsertEventSql,
                "id", "type", "seq", "device", "camera", "track", "started", "at", "ended", "reason", "label", "p", "observed", "unmasked", "snapshot", "received",
                "pmask", "pnomask", "pincorrect");
            for (var i = 0; i < batch.Events.Count; i++)
            {
                var e = batch.Events[i];
                var p = e.Mask.Probabilities is { } given ? LabelProbabilities.From(given) : null;
                result.EventsStored[i] = await RunAsync(insert, cancellationToken, e.Id, e.Type, e.Sequence, e.Device, e.Camera, e.TrackId,
                    Ms(e.StartedAt), Ms(e.At), Ms(e.EndedAt), e.EndReason, e.Mask.Label, LabelProbabilities.Widen(e.Mask.Probability), e.Mask.FramesObserved,
                    e.Mask.FramesUnmasked, e.Snapshot.Available ? e.Snapshot.Id : null, received,
                    p?.Mask, p?.NoMask, p?.Incorrect) == 1;
            }
        }
        if (batch.Stats.Count > 0)
        {
            await using var insert = Reusable(connection, transaction, InsertStatsSql,
                "device", "camera", "at", "interval", "fps", "frames", "dropped", "seen", "unmasked", "compliance", "active", "health", "ep",
                "outbox", "p50", "p95", "max", "received", "fmask", "fnomask", "fincorrect");
            await using var update = Reusable(connection, transaction, UpdateCameraSql,
                "device", "camera", "at", "fps", "ep", "outbox", "health", "compliance", "active", "dropped");
            for (var i = 0; i < batch.Stats.Count; i++)
            {
                var s = batch.Stats[i];
                result.StatsStored[i] = await RunAsync(insert, cancellationToken, s.Device, s.Camera, Ms(s.At), s.IntervalSeconds, s.FramesPerSecond,
                    s.FramesProcessed, s.DroppedFrames, s.FacesSeen, s.FacesUnmasked, s.ComplianceRate, s.ActiveViolations, s.CameraHealth,
                    s.ExecutionProvider, s.OutboxDepth, s.LatencyMs.P50, s.LatencyMs.P95, s.LatencyMs.Max, received,
                    s.FacesByLabel?.Mask, s.FacesByLabel?.NoMask, s.FacesByLabel?.Incorrect) == 1;
                await RunAsync(update, cancellationToken, s.Device, s.Camera, Ms(s.At), s.FramesPerSecond, s.ExecutionProvider, s.OutboxDepth,
                    s.CameraHealth, s.ComplianceRate, s.ActiveViolations, s.DroppedFrames);
            }
        }
        if (batch.Statuses.Count > 0)
        {
            await using var upsert = Reusable(connection, transaction, UpsertStatusSql, "device", "state", "at", "seen", "version", "ep");
            foreach (var status in batch.Statuses)
            {
                await RunAsync(upsert, cancellationToken, status.Device, status.State, Ms(status.At), received, status.Version, status.ExecutionProvider);
            }
        }
        if (batch.Snapshots.Count > 0)
        {
            await using var insert = Reusable(connection, transaction, InsertSnapshotSql, "id", "device", "camera", "at", "file", "size");
            for (var i = 0; i < batch.Snapshots.Count; i++)
            {
                var snapshot = batch.Snapshots[i];
                result.SnapshotsStored[i] = await RunAsync(insert, cancellationToken, snapshot.Id, snapshot.Device, snapshot.Camera,
                    Ms(snapshot.At), snapshot.FileName, snapshot.SizeBytes) == 1;
            }
        }
        await transaction.CommitAsync(cancellationToken);
        return result;
    }

    public async Task<bool> AddEventAsync(MaskEvent e, DateTimeOffset receivedAt, CancellationToken cancellationToken) =>
        (await AddBatchAsync(StoreBatch.Empty with { Events = [e] }, receivedAt, cancellationToken)).EventsStored[0];

    public async Task<bool> AddStatsAsync(CameraStats s, DateTimeOffset receivedAt, CancellationToken cancellationToken) =>
        (await AddBatchAsync(StoreBatch.Empty with { Stats = [s] }, receivedAt, cancellationToken)).StatsStored[0];

    public Task UpsertDeviceStatusAsync(DeviceStatus status, DateTimeOffset receivedAt, CancellationToken cancellationToken) =>
        AddBatchAsync(StoreBatch.Empty with { Statuses = [status] }, receivedAt, cancellationToken);

    public async Task<bool> AddSnapshotAsync(SnapshotRecord snapshot, CancellationToken cancellationToken) =>
        (await AddBatchAsync(StoreBatch.Empty with { Snapshots = [snapshot] }, snapshot.At, cancellationToken)).SnapshotsStored[0];

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
        var (where, parameters) = EventFilter(query.Device, query.Camera, query.Type, query.From, query.To, query.Label);
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
                reader.IsDBNull(14) ? null : reader.GetString(14), Time(reader.GetValue(15)))
            {
                Probabilities = reader.IsDBNull(16) || reader.IsDBNull(17) ? null
                    : new LabelProbabilities(Double(reader.GetValue(16)), Double(reader.GetValue(17)), reader.IsDBNull(18) ? null : Double(reader.GetValue(18))),
            });
        }
        return new EventPage(items, total);
    }

    // Faces by label from the stats that carry them (version 2); a version 1 row's faces are "unsplit". SUM ignores the
    // NULLs of version 1 rows, and COALESCE turns a bucket of only version 1 rows into zeros.
    private const string FaceSums =
        "SUM(faces_seen), SUM(faces_unmasked), COALESCE(SUM(faces_mask), 0), COALESCE(SUM(faces_no_mask), 0), COALESCE(SUM(faces_incorrect), 0), " +
        "SUM(CASE WHEN faces_mask IS NULL THEN faces_seen ELSE 0 END)";

    // Episodes started, violations and badly worn masks apart, in one pass over the starts.
    private const string StartCounts =
        "SUM(CASE WHEN type = @violation THEN 1 ELSE 0 END), SUM(CASE WHEN type = @incorrect THEN 1 ELSE 0 END)";

    private sealed record Tally(long Seen, long Unmasked, FaceSplit Faces, long Violations, long Incorrect)
    {
        public static Tally Empty { get; } = new(0, 0, FaceSplit.Zero, 0, 0);
    }

    private static (long Seen, long Unmasked, FaceSplit Faces) ReadFaceSums(DbDataReader reader, int first) =>
        (Long(reader.GetValue(first)), Long(reader.GetValue(first + 1)),
            new FaceSplit(Long(reader.GetValue(first + 2)), Long(reader.GetValue(first + 3)), Long(reader.GetValue(first + 4)), Long(reader.GetValue(first + 5))));

    public async Task<IReadOnlyList<ComplianceBucket>> QueryComplianceAsync(ComplianceQuery query, CancellationToken cancellationToken)
    {
        var size = BucketMilliseconds(query.Bucket);
        var buckets = new SortedDictionary<long, Tally>();
        await using var connection = await OpenConnectionAsync(cancellationToken);

        var (statsWhere, statsParameters) = RangeFilter(query.Device, query.Camera, query.From, query.To);
        statsParameters.Add(("size", size));
        await using (var command = Command(connection, null,
            $"SELECT (at_ms / @size) * @size, {FaceSums} FROM stats{statsWhere} GROUP BY 1 ORDER BY 1", [.. statsParameters]))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                var (seen, unmasked, faces) = ReadFaceSums(reader, 1);
                buckets[Long(reader.GetValue(0))] = Tally.Empty with { Seen = seen, Unmasked = unmasked, Faces = faces };
            }
        }

        var (eventWhere, eventParameters) = StartsFilter(query.Device, query.Camera, query.From, query.To);
        eventParameters.Add(("size", size));
        await using (var command = Command(connection, null,
            $"SELECT (at_ms / @size) * @size, {StartCounts} FROM events{eventWhere} GROUP BY 1 ORDER BY 1", [.. eventParameters]))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                var bucket = Long(reader.GetValue(0));
                buckets[bucket] = buckets.GetValueOrDefault(bucket, Tally.Empty) with
                {
                    Violations = Long(reader.GetValue(1)), Incorrect = Long(reader.GetValue(2)),
                };
            }
        }
        return buckets.Select(kv => new ComplianceBucket(DateTimeOffset.FromUnixTimeMilliseconds(kv.Key),
            kv.Value.Seen, kv.Value.Unmasked, kv.Value.Violations, kv.Value.Incorrect, kv.Value.Faces)).ToList();
    }

    public async Task<IReadOnlyList<CameraTotals>> QueryCameraTotalsAsync(string? device, string? camera, DateTimeOffset from, DateTimeOffset to,
        CancellationToken cancellationToken)
    {
        var totals = new SortedDictionary<(string Device, string Camera), Tally>();
        await using var connection = await OpenConnectionAsync(cancellationToken);
        var (where, parameters) = RangeFilter(device, camera, from, to);
        await using (var command = Command(connection, null,
            $"SELECT device, camera, {FaceSums} FROM stats{where} GROUP BY device, camera", [.. parameters]))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                var (seen, unmasked, faces) = ReadFaceSums(reader, 2);
                totals[(reader.GetString(0), reader.GetString(1))] = Tally.Empty with { Seen = seen, Unmasked = unmasked, Faces = faces };
            }
        }
        var (eventWhere, eventParameters) = StartsFilter(device, camera, from, to);
        await using (var command = Command(connection, null,
            $"SELECT device, camera, {StartCounts} FROM events{eventWhere} GROUP BY device, camera", [.. eventParameters]))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                var key = (reader.GetString(0), reader.GetString(1));
                totals[key] = totals.GetValueOrDefault(key, Tally.Empty) with { Violations = Long(reader.GetValue(2)), Incorrect = Long(reader.GetValue(3)) };
            }
        }
        return totals.Select(kv => new CameraTotals(kv.Key.Device, kv.Key.Camera, kv.Value.Seen, kv.Value.Unmasked, kv.Value.Violations,
            kv.Value.Incorrect, kv.Value.Faces)).ToList();
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

    public async Task<IReadOnlyList<int>> SchemaVersionsAsync(CancellationToken cancellationToken)
    {
        var versions = new List<int>();
        await using var connection = await OpenConnectionAsync(cancellationToken);
        await using var command = Command(connection, null, $"SELECT version FROM {SchemaMigrations.JournalTable} ORDER BY version");
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            versions.Add((int)Long(reader.GetValue(0)));
        }
        return versions;
    }

    private const string HubFilter = "namespace = @ns AND event_hub = @hub AND consumer_group = @cg";

    public async Task<IReadOnlyList<PartitionOwnership>> ListOwnershipAsync(EventHubKey hub, CancellationToken cancellationToken)
    {
        var rows = new List<PartitionOwnership>();
        await using var connection = await OpenConnectionAsync(cancellationToken);
        await using var command = Command(connection, null,
            $"SELECT partition_id, owner_id, last_modified_ms, version FROM eventhubs_ownership WHERE {HubFilter} ORDER BY partition_id",
            ("ns", hub.Namespace), ("hub", hub.EventHub), ("cg", hub.ConsumerGroup));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(new PartitionOwnership(hub, reader.GetString(0), reader.GetString(1), Time(reader.GetValue(2)),
                Long(reader.GetValue(3)).ToString(CultureInfo.InvariantCulture)));
        }
        return rows;
    }

    public async Task<IReadOnlyList<PartitionOwnership>> ClaimOwnershipAsync(IReadOnlyList<PartitionOwnership> desired, DateTimeOffset now,
        CancellationToken cancellationToken)
    {
        var claimed = new List<PartitionOwnership>();
        if (desired.Count == 0)
        {
            return claimed;
        }
        await using var connection = await OpenConnectionAsync(cancellationToken);
        foreach (var claim in desired)
        {
            (string, object?)[] key = [("ns", claim.Hub.Namespace), ("hub", claim.Hub.EventHub), ("cg", claim.Hub.ConsumerGroup), ("p", claim.PartitionId)];
            long newVersion;
            int rows;
            if (string.IsNullOrEmpty(claim.Version))
            {
                // Nobody has had this partition yet: only the first of racing replicas creates the row.
                newVersion = 1;
                rows = await ExecuteAsync(connection, null,
                    "INSERT INTO eventhubs_ownership (namespace, event_hub, consumer_group, partition_id, owner_id, last_modified_ms, version) " +
                    "VALUES (@ns, @hub, @cg, @p, @owner, @now, 1) ON CONFLICT DO NOTHING",
                    cancellationToken, [.. key, ("owner", claim.OwnerId), ("now", Ms(now))]);
            }
            else if (long.TryParse(claim.Version, NumberStyles.None, CultureInfo.InvariantCulture, out var expected))
            {
                newVersion = expected + 1;
                rows = await ExecuteAsync(connection, null,
                    $"UPDATE eventhubs_ownership SET owner_id = @owner, last_modified_ms = @now, version = @next WHERE {HubFilter} AND partition_id = @p AND version = @expected",
                    cancellationToken, [.. key, ("owner", claim.OwnerId), ("now", Ms(now)), ("next", newVersion), ("expected", expected)]);
            }
            else
            {
                // A version this store never handed out cannot match any row.
                continue;
            }
            if (rows == 1)
            {
                claimed.Add(claim with { LastModified = DateTimeOffset.FromUnixTimeMilliseconds(Ms(now)), Version = newVersion.ToString(CultureInfo.InvariantCulture) });
            }
        }
        return claimed;
    }

    public async Task<PartitionCheckpoint?> GetCheckpointAsync(EventHubKey hub, string partitionId, CancellationToken cancellationToken)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken);
        await using var command = Command(connection, null,
            $"SELECT offset_text, sequence_number, client_id, updated_at_ms FROM eventhubs_checkpoints WHERE {HubFilter} AND partition_id = @p",
            ("ns", hub.Namespace), ("hub", hub.EventHub), ("cg", hub.ConsumerGroup), ("p", partitionId));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            return null;
        }
        return new PartitionCheckpoint(hub, partitionId, NullableString(reader, 0), reader.IsDBNull(1) ? null : Long(reader.GetValue(1)),
            NullableString(reader, 2), Time(reader.GetValue(3)));
    }

    public async Task SetCheckpointAsync(PartitionCheckpoint checkpoint, CancellationToken cancellationToken)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken);
        await ExecuteAsync(connection, null,
            "INSERT INTO eventhubs_checkpoints (namespace, event_hub, consumer_group, partition_id, offset_text, sequence_number, client_id, updated_at_ms) " +
            "VALUES (@ns, @hub, @cg, @p, @offset, @seq, @client, @at) ON CONFLICT (namespace, event_hub, consumer_group, partition_id) DO UPDATE SET " +
            "offset_text = excluded.offset_text, sequence_number = excluded.sequence_number, client_id = excluded.client_id, updated_at_ms = excluded.updated_at_ms",
            cancellationToken, ("ns", checkpoint.Hub.Namespace), ("hub", checkpoint.Hub.EventHub), ("cg", checkpoint.Hub.ConsumerGroup),
            ("p", checkpoint.PartitionId), ("offset", checkpoint.Offset), ("seq", checkpoint.SequenceNumber), ("client", checkpoint.ClientId),
            ("at", Ms(checkpoint.UpdatedAt)));
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

    private static (string Where, List<(string, object?)> Parameters) EventFilter(
        string? device, string? camera, string? type, DateTimeOffset? from, DateTimeOffset? to, string? label = null)
    {
        var (where, parameters) = RangeFilter(device, camera, from, to);
        if (!string.IsNullOrEmpty(type))
        {
            where = (where.Length == 0 ? " WHERE " : where + " AND ") + "type = @type";
            parameters.Add(("type", type));
        }
        if (!string.IsNullOrEmpty(label))
        {
            where = (where.Length == 0 ? " WHERE " : where + " AND ") + "label = @label";
            parameters.Add(("label", label));
        }
        return (where, parameters);
    }

    // The starts of both kinds of episode, with the parameters StartCounts names.
    private static (string Where, List<(string, object?)> Parameters) StartsFilter(
        string? device, string? camera, DateTimeOffset? from, DateTimeOffset? to)
    {
        var (where, parameters) = RangeFilter(device, camera, from, to);
        where = (where.Length == 0 ? " WHERE " : where + " AND ") + "type IN (@violation, @incorrect)";
        parameters.Add(("violation", EventTypes.ViolationStart));
        parameters.Add(("incorrect", EventTypes.IncorrectStart));
        return (where, parameters);
    }

    public async Task<IReadOnlyList<LabelCount>> QueryLabelCountsAsync(string? device, string? camera, DateTimeOffset from, DateTimeOffset to,
        CancellationToken cancellationToken)
    {
        // Labels are whatever the devices report (mask, no_mask, incorrect, and any the classifier gains): counted, never listed in code.
        var (where, parameters) = StartsFilter(device, camera, from, to);
        var counts = new List<LabelCount>();
        await using var connection = await OpenConnectionAsync(cancellationToken);
        await using var command = Command(connection, null, $"SELECT label, {StartCounts} FROM events{where} GROUP BY label ORDER BY label", [.. parameters]);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            counts.Add(new LabelCount(reader.GetString(0), Long(reader.GetValue(1)), Long(reader.GetValue(2))));
        }
        return counts;
    }

    public async Task<IReadOnlyList<string>> GetLabelsAsync(CancellationToken cancellationToken)
    {
        var labels = new List<string>();
        await using var connection = await OpenConnectionAsync(cancellationToken);
        await using var command = Command(connection, null, "SELECT DISTINCT label FROM events ORDER BY label");
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            labels.Add(reader.GetString(0));
        }
        return labels;
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
        AddParameters(command, parameters);
        return command;
    }

    internal static void AddParameters(DbCommand command, params (string Name, object? Value)[] parameters)
    {
        foreach (var (name, value) in parameters)
        {
            var parameter = command.CreateParameter();
            parameter.ParameterName = "@" + name;
            parameter.Value = value ?? DBNull.Value;
            command.Parameters.Add(parameter);
        }
    }

    // One command per statement of a batch, its parameters re-valued per row (PostgreSQL prepares it once).
    private static DbCommand Reusable(DbConnection connection, DbTransaction transaction, string sql, params string[] names) =>
        Command(connection, transaction, sql, [.. names.Select(n => (n, (object?)null))]);

    private static Task<int> RunAsync(DbCommand command, CancellationToken cancellationToken, params object?[] values)
    {
        for (var i = 0; i < values.Length; i++)
        {
            command.Parameters[i].Value = values[i] ?? DBNull.Value;
        }
        return command.ExecuteNonQueryAsync(cancellationToken);
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
    private static double Double(object value) => Convert.ToDouble(value, CultureInfo.InvariantCulture);
    private static DateTimeOffset Time(object value) => DateTimeOffset.FromUnixTimeMilliseconds(Long(value));
    private static string? NullableString(DbDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? null : reader.GetString(ordinal);
}
