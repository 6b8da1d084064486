using System.Threading.Channels;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMask.Messaging.Outbox;

/// <summary>Counters of one destination, for metrics.</summary>
/// <param name="Depth">Messages stored and not yet acknowledged by this destination.</param>
/// <param name="Dropped">Messages this destination never got because the outbox bound pushed them out (since open).</param>
/// <param name="Rejected">Messages its transport refused for good (since open).</param>
/// <param name="Acknowledged">Messages its transport acknowledged (since open).</param>
public sealed record OutboxDestinationStatistics(string Destination, long Depth, long Dropped, long Rejected, long Acknowledged);

/// <summary>Counters of the whole outbox, for metrics.</summary>
/// <param name="StoredMessages">Rows in the messages table (events, stats, status and snapshots).</param>
/// <param name="StoredBytes">Payload bytes stored.</param>
/// <param name="Enqueued">Messages stored since open.</param>
/// <param name="DroppedByBound">Messages pushed out by the bound since open (oldest first).</param>
/// <param name="RefusedTooLarge">Messages refused because the payload exceeded <see cref="OutboxOptions.MaxPayloadBytes"/>.</param>
/// <param name="Unrouted">Messages no destination takes (by kind), hence not stored.</param>
public sealed record OutboxStatistics(
    long StoredMessages, long StoredBytes, long Enqueued, long DroppedByBound, long RefusedTooLarge, long Unrouted,
    IReadOnlyList<OutboxDestinationStatistics> Destinations);

/// <summary>
/// The store-and-forward outbox: one SQLite file (WAL). A message is written here before any transport sees it, with one
/// delivery row per destination that takes its kind; a destination's drainer reads its rows in sequence order and deletes its
/// row after the transport's acknowledgement; the message goes when no destination still needs it. Bounded: when a lane
/// (events+stats+status, or snapshots) exceeds its count or byte limit, its oldest messages are dropped, counted and logged.
/// The file is held with an exclusive lock so a second process cannot drain the same rows twice.
/// Thread-safe: every call is serialized on one connection (calls are short; the enqueue path batches).
/// </summary>
public sealed class SqliteOutbox : IDisposable
{
    private const int SnapshotLane = 1;
    private const int DefaultLane = 0;
    private const int SchemaVersion = 1;

    private readonly object _gate = new();
    private readonly OutboxOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Dictionary<string, DestinationState> _destinations = new(StringComparer.Ordinal);
    private readonly long[] _laneCount = new long[2];
    private readonly long[] _laneBytes = new long[2];
    private SqliteConnection _db;
    private long _enqueued, _droppedByBound, _refusedTooLarge, _unrouted;
    private bool _disposed;
    private bool? _synchronousFull;

    /// <summary>Opens (or creates) the outbox file. Throws <see cref="OutboxLockedException"/>, <see cref="OutboxCorruptException"/>
    /// (with <see cref="OutboxCorruptPolicy.Fail"/>), <see cref="OutboxStorageException"/> or <see cref="MessagingOptionsException"/>.</summary>
    public SqliteOutbox(OutboxOptions options, ILogger<SqliteOutbox>? logger = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _time = timeProvider ?? TimeProvider.System;
        Path = System.IO.Path.GetFullPath(options.Path);
        foreach (var d in options.Destinations)
            _destinations[d.Name] = new DestinationState(d);
        _db = OpenWithPolicy();
    }

    /// <summary>Absolute path of the database file.</summary>
    public string Path { get; }

    /// <summary>The configured destinations, in configuration order.</summary>
    public IReadOnlyList<OutboxDestination> Destinations => _options.Destinations;

    /// <summary>The moved-aside file when a corrupt outbox was quarantined at open, else null.</summary>
    public string? QuarantinedFile { get; private set; }

    /// <summary>Stores one message; returns its sequence, or null when it was refused (too large, or no destination takes its kind).</summary>
    public long? Enqueue(OutboxEntry entry) => EnqueueBatch([entry])[0];

    /// <summary>Stores messages in one transaction (one fsync); returns each one's sequence or null (see <see cref="Enqueue"/>).</summary>
    public IReadOnlyList<long?> EnqueueBatch(IReadOnlyList<OutboxEntry> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var result = new long?[entries.Count];
        var touched = new HashSet<DestinationState>();
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var nowMs = _time.GetUtcNow().ToUnixTimeMilliseconds();
            SetSynchronousFull(_options.SyncEveryCommit);
            using var tx = _db.BeginTransaction();
            try
            {
                for (var i = 0; i < entries.Count; i++)
                    result[i] = InsertOne(tx, entries[i], nowMs, touched);
                tx.Commit();
            }
            catch (SqliteException ex)
            {
                tx.Rollback();
                Recount();
                throw new OutboxStorageException(Path, $"could not store {entries.Count} message(s): {ex.Message}", ex);
            }
            catch (ArgumentException)
            {
                // A bad entry aborts the whole batch; the counters were already moved for the entries before it.
                tx.Rollback();
                Recount();
                throw;
            }
        }
        foreach (var d in touched)
            d.Signal.Writer.TryWrite(true);
        return result;
    }

    /// <summary>The oldest messages not yet acknowledged by <paramref name="destination"/>, in sequence order.</summary>
    public IReadOnlyList<OutboxMessage> PeekPending(string destination, int max)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(max, 1);
        GetState(destination);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            using var cmd = _db.CreateCommand();
            cmd.CommandText = """
                SELECT m.seq, m.kind, m.camera, m.topic, m.payload, m.qos, m.retain, m.message_id, m.created_at_ms
                FROM deliveries d JOIN messages m ON m.seq = d.seq
                WHERE d.destination = $d ORDER BY d.seq LIMIT $n
                """;
            cmd.Parameters.AddWithValue("$d", destination);
            cmd.Parameters.AddWithValue("$n", max);
            using var r = cmd.ExecuteReader();
            var list = new List<OutboxMessage>();
            while (r.Read())
            {
                list.Add(new OutboxMessage(
                    r.GetInt64(0), (OutboxKinds)r.GetInt32(1), r.IsDBNull(2) ? null : r.GetString(2), r.GetString(3),
                    (byte[])r.GetValue(4), r.GetInt32(5), r.GetInt64(6) != 0, r.IsDBNull(7) ? null : r.GetString(7),
                    DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(8))));
            }
            return list;
        }
    }

    /// <summary>Removes <paramref name="destination"/>'s delivery of message <paramref name="sequence"/> (after its transport acknowledged it);
    /// the message itself goes when no destination needs it. False when it was no longer there (dropped by the bound meanwhile).</summary>
    public bool Acknowledge(string destination, long sequence)
    {
        var state = GetState(destination);
        bool removed;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            // An acknowledgement lost to a power cut only means the message is sent again (QoS 1 allows duplicates), so it is
            // not worth an fsync; the next enqueue's synced commit makes it durable anyway (WAL commits are ordered).
            SetSynchronousFull(false);
            using var tx = _db.BeginTransaction();
            removed = RemoveDelivery(tx, destination, sequence);
            tx.Commit();
            if (removed) state.Depth--;
        }
        if (removed) Interlocked.Increment(ref state.Acknowledged);
        return removed;
    }

    /// <summary>Like <see cref="Acknowledge"/> but counts the message as rejected by the destination.</summary>
    public bool Reject(string destination, long sequence)
    {
        var removed = Acknowledge(destination, sequence);
        var state = GetState(destination);
        if (removed)
        {
            Interlocked.Decrement(ref state.Acknowledged);
            Interlocked.Increment(ref state.Rejected);
        }
        return removed;
    }

    /// <summary>Completes when something was enqueued for <paramref name="destination"/> since the last call (or is pending from before).</summary>
    public async ValueTask WaitForPendingAsync(string destination, CancellationToken cancellationToken)
    {
        var state = GetState(destination);
        await state.Signal.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Messages <paramref name="destination"/> has not acknowledged yet.</summary>
    public long GetDepth(string destination)
    {
        var state = GetState(destination);
        lock (_gate) return state.Depth;
    }

    /// <summary>A consistent snapshot of every counter.</summary>
    public OutboxStatistics GetStatistics()
    {
        lock (_gate)
        {
            return new OutboxStatistics(
                _laneCount[0] + _laneCount[1], _laneBytes[0] + _laneBytes[1], _enqueued, _droppedByBound, _refusedTooLarge, _unrouted,
                _options.Destinations.Select(d => _destinations[d.Name])
                    .Select(s => new OutboxDestinationStatistics(s.Name, s.Depth, s.Dropped, Interlocked.Read(ref s.Rejected), Interlocked.Read(ref s.Acknowledged)))
                    .ToArray());
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            _db.Dispose();
        }
        foreach (var d in _destinations.Values)
            d.Signal.Writer.TryComplete();
    }

    private DestinationState GetState(string destination) =>
        _destinations.TryGetValue(destination, out var s)
            ? s
            : throw new ArgumentException($"'{destination}' is not a configured outbox destination ({string.Join(", ", _destinations.Keys)}).", nameof(destination));

    private long? InsertOne(SqliteTransaction tx, OutboxEntry e, long nowMs, HashSet<DestinationState> touched)
    {
        ArgumentNullException.ThrowIfNull(e);
        if (e.Kind is not (OutboxKinds.Event or OutboxKinds.Stats or OutboxKinds.Snapshot or OutboxKinds.Status))
            throw new ArgumentException($"Kind must be exactly one of Event, Stats, Snapshot, Status (was {e.Kind}).", nameof(e));
        if (string.IsNullOrEmpty(e.Topic)) throw new ArgumentException("Topic must not be empty.", nameof(e));
        if (e.Qos is < 0 or > 2) throw new ArgumentException($"Qos must be 0, 1 or 2 (was {e.Qos}).", nameof(e));

        var lane = e.Kind == OutboxKinds.Snapshot ? SnapshotLane : DefaultLane;
        var routes = _options.Destinations.Where(d => (d.Kinds & e.Kind) != 0).Select(d => _destinations[d.Name]).ToArray();
        if (routes.Length == 0)
        {
            _unrouted++;
            return null;
        }
        if (e.Payload.Length > _options.MaxPayloadBytes || (lane == SnapshotLane && (_options.MaxSnapshots == 0 || e.Payload.Length > _options.MaxSnapshotBytes)))
        {
            _refusedTooLarge++;
            _logger.LogWarning("Outbox refused a {Kind} message of {Bytes} bytes for camera {Camera}: larger than the limit of {MaxBytes} bytes",
                e.Kind, e.Payload.Length, e.Camera, lane == SnapshotLane ? Math.Min(_options.MaxPayloadBytes, _options.MaxSnapshotBytes) : _options.MaxPayloadBytes);
            return null;
        }

        long seq;
        using (var cmd = _db.CreateCommand())
        {
            cmd.Transaction = tx;
            cmd.CommandText = """
                INSERT INTO messages(kind, camera, topic, payload, qos, retain, message_id, created_at_ms, size)
                VALUES ($kind, $camera, $topic, $payload, $qos, $retain, $mid, $at, $size);
                SELECT last_insert_rowid();
                """;
            cmd.Parameters.AddWithValue("$kind", (int)e.Kind);
            cmd.Parameters.AddWithValue("$camera", (object?)e.Camera ?? DBNull.Value);
            cmd.Parameters.AddWithValue("$topic", e.Topic);
            cmd.Parameters.Add("$payload", SqliteType.Blob).Value = e.Payload.ToArray();
            cmd.Parameters.AddWithValue("$qos", e.Qos);
            cmd.Parameters.AddWithValue("$retain", e.Retain ? 1 : 0);
            cmd.Parameters.AddWithValue("$mid", (object?)e.MessageId ?? DBNull.Value);
            cmd.Parameters.AddWithValue("$at", nowMs);
            cmd.Parameters.AddWithValue("$size", e.Payload.Length);
            seq = (long)cmd.ExecuteScalar()!;
        }
        using (var cmd = _db.CreateCommand())
        {
            cmd.Transaction = tx;
            cmd.CommandText = "INSERT INTO deliveries(destination, seq) VALUES ($d, $s)";
            var pd = cmd.Parameters.Add("$d", SqliteType.Text);
            cmd.Parameters.AddWithValue("$s", seq);
            foreach (var r in routes)
            {
                pd.Value = r.Name;
                cmd.ExecuteNonQuery();
                r.Depth++;
                touched.Add(r);
            }
        }
        _laneCount[lane]++;
        _laneBytes[lane] += e.Payload.Length;
        _enqueued++;
        EnforceBound(tx, lane);
        return seq;
    }

    private void EnforceBound(SqliteTransaction tx, int lane)
    {
        long maxCount = lane == SnapshotLane ? _options.MaxSnapshots : _options.MaxMessages;
        var maxBytes = lane == SnapshotLane ? _options.MaxSnapshotBytes : _options.MaxBytes;
        if (_laneCount[lane] <= maxCount && _laneBytes[lane] <= maxBytes) return;

        long dropped = 0, first = -1, last = -1;
        while (_laneCount[lane] > maxCount || _laneBytes[lane] > maxBytes)
        {
            var oldest = new List<(long Seq, long Size)>();
            using (var cmd = _db.CreateCommand())
            {
                cmd.Transaction = tx;
                cmd.CommandText = lane == SnapshotLane
                    ? "SELECT seq, size FROM messages WHERE kind = $snap ORDER BY seq LIMIT 64"
                    : "SELECT seq, size FROM messages WHERE kind <> $snap ORDER BY seq LIMIT 64";
                cmd.Parameters.AddWithValue("$snap", (int)OutboxKinds.Snapshot);
                using var r = cmd.ExecuteReader();
                while (r.Read()) oldest.Add((r.GetInt64(0), r.GetInt64(1)));
            }
            if (oldest.Count == 0) break; // counters disagree with the table; Recount() at the next failure fixes them
            foreach (var (seq, size) in oldest)
            {
                if (_laneCount[lane] <= maxCount && _laneBytes[lane] <= maxBytes) break;
                foreach (var destination in DeleteMessage(tx, seq))
                {
                    var s = _destinations[destination];
                    s.Depth--;
                    s.Dropped++;
                }
                _laneCount[lane]--;
                _laneBytes[lane] -= size;
                _droppedByBound++;
                dropped++;
                if (first < 0) first = seq;
                last = seq;
            }
        }
        if (dropped > 0)
        {
            _logger.LogWarning(
                "Outbox full: dropped {Dropped} oldest {Lane} message(s), sequence {FirstSequence}..{LastSequence}, to stay within {MaxMessages} messages / {MaxBytes} bytes; {TotalDropped} dropped since start",
                dropped, lane == SnapshotLane ? "snapshot" : "event/stats/status", first, last, maxCount, maxBytes, _droppedByBound);
        }
    }

    /// <summary>Deletes a message and all its deliveries; returns the destinations that still had it pending.</summary>
    private List<string> DeleteMessage(SqliteTransaction tx, long seq)
    {
        var pending = new List<string>();
        using (var cmd = _db.CreateCommand())
        {
            cmd.Transaction = tx;
            cmd.CommandText = "DELETE FROM deliveries WHERE seq = $s RETURNING destination";
            cmd.Parameters.AddWithValue("$s", seq);
            using var r = cmd.ExecuteReader();
            while (r.Read()) pending.Add(r.GetString(0));
        }
        using (var cmd = _db.CreateCommand())
        {
            cmd.Transaction = tx;
            cmd.CommandText = "DELETE FROM messages WHERE seq = $s";
            cmd.Parameters.AddWithValue("$s", seq);
            cmd.ExecuteNonQuery();
        }
        return pending.Where(_destinations.ContainsKey).ToList();
    }

    private bool RemoveDelivery(SqliteTransaction tx, string destination, long seq)
    {
        using (var cmd = _db.CreateCommand())
        {
            cmd.Transaction = tx;
            cmd.CommandText = "DELETE FROM deliveries WHERE destination = $d AND seq = $s";
            cmd.Parameters.AddWithValue("$d", destination);
            cmd.Parameters.AddWithValue("$s", seq);
            if (cmd.ExecuteNonQuery() == 0) return false;
        }
        using (var cmd = _db.CreateCommand())
        {
            cmd.Transaction = tx;
            cmd.CommandText = "DELETE FROM messages WHERE seq = $s AND NOT EXISTS (SELECT 1 FROM deliveries WHERE seq = $s) RETURNING kind, size";
            cmd.Parameters.AddWithValue("$s", seq);
            using var r = cmd.ExecuteReader();
            if (r.Read())
            {
                var lane = r.GetInt32(0) == (int)OutboxKinds.Snapshot ? SnapshotLane : DefaultLane;
                _laneCount[lane]--;
                _laneBytes[lane] -= r.GetInt64(1);
            }
        }
        return true;
    }

    private SqliteConnection OpenWithPolicy()
    {
        var dir = System.IO.Path.GetDirectoryName(Path);
        try
        {
            if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new OutboxStorageException(Path, $"cannot create the folder '{dir}': {ex.Message}", ex);
        }

        try
        {
            return OpenCore();
        }
        catch (OutboxCorruptException ex) when (_options.OnCorrupt == OutboxCorruptPolicy.Quarantine)
        {
            var stamp = _time.GetUtcNow().ToString("yyyyMMdd'T'HHmmss'Z'", System.Globalization.CultureInfo.InvariantCulture);
            var aside = $"{Path}.corrupt-{stamp}";
            try
            {
                File.Move(Path, aside, overwrite: true);
                foreach (var suffix in new[] { "-wal", "-shm" })
                    if (File.Exists(Path + suffix)) File.Move(Path + suffix, aside + suffix, overwrite: true);
            }
            catch (Exception moveEx) when (moveEx is IOException or UnauthorizedAccessException)
            {
                throw new OutboxStorageException(Path, $"is corrupt and could not be moved aside to '{aside}': {moveEx.Message}", ex);
            }
            QuarantinedFile = aside;
            _logger.LogError(ex,
                "Outbox {Path} is corrupt; moved it to {QuarantinePath} and started an empty outbox: its undelivered messages are lost",
                Path, aside);
            return OpenCore();
        }
    }

    private SqliteConnection OpenCore()
    {
        var csb = new SqliteConnectionStringBuilder
        {
            DataSource = Path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            // A pooled connection would keep the file (and its exclusive lock) open after Dispose.
            Pooling = false,
            // Microsoft.Data.Sqlite retries SQLITE_BUSY until the command timeout; 0 would mean forever.
            DefaultTimeout = Math.Max(1, (int)Math.Ceiling(_options.BusyTimeout.TotalSeconds)),
        };
        var db = new SqliteConnection(csb.ConnectionString);
        try
        {
            db.Open();
            Exec(db, $"PRAGMA busy_timeout = {(long)_options.BusyTimeout.TotalMilliseconds}");
            // EXCLUSIVE before WAL: the WAL index lives in heap memory and the lock, taken at the first write below, is kept
            // until Dispose, so a second process fails fast instead of draining the same rows.
            Exec(db, "PRAGMA locking_mode = EXCLUSIVE");
            var mode = Scalar(db, "PRAGMA journal_mode = WAL");
            if (!string.Equals(mode, "wal", StringComparison.OrdinalIgnoreCase))
                throw new OutboxStorageException(Path, $"cannot switch to WAL journal mode (got '{mode}').");
            Exec(db, _options.SyncEveryCommit ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
            Exec(db, """
                BEGIN IMMEDIATE;
                CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
                CREATE TABLE IF NOT EXISTS messages(
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    kind INTEGER NOT NULL,
                    camera TEXT,
                    topic TEXT NOT NULL,
                    payload BLOB NOT NULL,
                    qos INTEGER NOT NULL,
                    retain INTEGER NOT NULL,
                    message_id TEXT,
                    created_at_ms INTEGER NOT NULL,
                    size INTEGER NOT NULL);
                CREATE TABLE IF NOT EXISTS deliveries(
                    destination TEXT NOT NULL,
                    seq INTEGER NOT NULL,
                    PRIMARY KEY(destination, seq)) WITHOUT ROWID;
                CREATE INDEX IF NOT EXISTS deliveries_seq ON deliveries(seq);
                INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', '1');
                COMMIT;
                """);
            var version = Scalar(db, "SELECT value FROM meta WHERE key = 'schema_version'");
            if (version != SchemaVersion.ToString(System.Globalization.CultureInfo.InvariantCulture))
                throw new OutboxStorageException(Path, $"has schema version {version}; this build reads version {SchemaVersion}.");
            var check = Scalar(db, "PRAGMA quick_check");
            if (!string.Equals(check, "ok", StringComparison.Ordinal))
                throw new OutboxCorruptException(Path, $"integrity check: {check}");
            _db = db;
            PurgeUnknownDestinations();
            Recount();
            using (var tx = db.BeginTransaction())
            {
                // The limits may have shrunk since the file was written.
                EnforceBound(tx, DefaultLane);
                EnforceBound(tx, SnapshotLane);
                tx.Commit();
            }
            var pending = string.Join(", ", _destinations.Values.Select(d => $"{d.Name}={d.Depth}"));
            _logger.LogInformation("Outbox {Path} open: {Messages} message(s) stored, pending per destination: {Pending}",
                Path, _laneCount[0] + _laneCount[1], pending);
            return db;
        }
        catch (SqliteException ex)
        {
            db.Dispose();
            throw ex.SqliteErrorCode switch
            {
                5 or 6 => new OutboxLockedException(Path, ex),            // SQLITE_BUSY, SQLITE_LOCKED
                11 or 26 => new OutboxCorruptException(Path, ex.Message, ex), // SQLITE_CORRUPT, SQLITE_NOTADB
                _ => new OutboxStorageException(Path, $"cannot open: {ex.Message} (SQLite error {ex.SqliteErrorCode})", ex),
            };
        }
        catch
        {
            db.Dispose();
            throw;
        }
    }

    private void PurgeUnknownDestinations()
    {
        var known = _destinations.Keys.ToArray();
        var unknown = new List<(string Name, long Count)>();
        using (var cmd = _db.CreateCommand())
        {
            cmd.CommandText = "SELECT destination, COUNT(*) FROM deliveries GROUP BY destination";
            using var r = cmd.ExecuteReader();
            while (r.Read())
                if (!known.Contains(r.GetString(0))) unknown.Add((r.GetString(0), r.GetInt64(1)));
        }
        if (unknown.Count == 0) return;
        using var tx = _db.BeginTransaction();
        foreach (var (name, count) in unknown)
        {
            using var cmd = _db.CreateCommand();
            cmd.Transaction = tx;
            cmd.CommandText = "DELETE FROM deliveries WHERE destination = $d";
            cmd.Parameters.AddWithValue("$d", name);
            cmd.ExecuteNonQuery();
            _logger.LogWarning("Outbox destination {Destination} is no longer configured: discarded its {Count} undelivered message(s)", name, count);
        }
        using (var cmd = _db.CreateCommand())
        {
            cmd.Transaction = tx;
            cmd.CommandText = "DELETE FROM messages WHERE seq NOT IN (SELECT seq FROM deliveries)";
            cmd.ExecuteNonQuery();
        }
        tx.Commit();
    }

    /// <summary>Reloads the in-memory counters from the tables (at open, and after a failed transaction).</summary>
    private void Recount()
    {
        foreach (var d in _destinations.Values) d.Depth = 0;
        using (var cmd = _db.CreateCommand())
        {
            cmd.CommandText = "SELECT destination, COUNT(*) FROM deliveries GROUP BY destination";
            using var r = cmd.ExecuteReader();
            while (r.Read())
                if (_destinations.TryGetValue(r.GetString(0), out var s)) s.Depth = r.GetInt64(1);
        }
        _laneCount[0] = _laneCount[1] = _laneBytes[0] = _laneBytes[1] = 0;
        using (var cmd = _db.CreateCommand())
        {
            cmd.CommandText = "SELECT kind = $snap, COUNT(*), COALESCE(SUM(size), 0) FROM messages GROUP BY kind = $snap";
            cmd.Parameters.AddWithValue("$snap", (int)OutboxKinds.Snapshot);
            using var r = cmd.ExecuteReader();
            while (r.Read())
            {
                var lane = r.GetInt64(0) != 0 ? SnapshotLane : DefaultLane;
                _laneCount[lane] = r.GetInt64(1);
                _laneBytes[lane] = r.GetInt64(2);
            }
        }
    }

    private void SetSynchronousFull(bool full)
    {
        if (_synchronousFull == full) return;
        Exec(_db, full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
        _synchronousFull = full;
    }

    private static void Exec(SqliteConnection db, string sql)
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    private static string? Scalar(SqliteConnection db, string sql)
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = sql;
        return Convert.ToString(cmd.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }

    private sealed class DestinationState(OutboxDestination destination)
    {
        public string Name { get; } = destination.Name;
        // Depth and Dropped change under the outbox gate; Rejected and Acknowledged with Interlocked.
        public long Depth;
        public long Dropped;
        public long Rejected;
        public long Acknowledged;
        // One pending wake-up is enough: the drainer re-reads the table after every wake-up.
        public Channel<bool> Signal { get; } = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    }
}
