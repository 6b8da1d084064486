using System.Threading.Channels;
using EdgeMask.Core.Events;
using EdgeMask.Messaging.Outbox;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMask.Messaging;

/// <summary>Options of the pipeline-facing <see cref="EventPublisher"/> (configuration section <c>Publisher</c>).</summary>
public sealed record EventPublisherOptions
{
    /// <summary>Device id for the snapshot topic (events and stats carry their own <c>device</c>).</summary>
    public required string Device { get; init; }

    /// <summary>Messages held in memory between the pipeline and the outbox writer; when full the oldest is dropped and counted.
    /// Only fills if the disk stalls. Default 4096.</summary>
    public int QueueCapacity { get; init; } = 4096;

    /// <summary>Largest batch written in one SQLite transaction (one fsync). Default 256.</summary>
    public int MaxBatch { get; init; } = 256;

    public void Validate(string section = "Publisher")
    {
        if (string.IsNullOrWhiteSpace(Device)) throw new MessagingOptionsException($"{section}:Device", "must not be empty.");
        if (QueueCapacity is < 1 or > 1_000_000) throw new MessagingOptionsException($"{section}:QueueCapacity", $"must be 1..1000000 (was {QueueCapacity}).");
        if (MaxBatch is < 1 or > 10_000) throw new MessagingOptionsException($"{section}:MaxBatch", $"must be 1..10000 (was {MaxBatch}).");
    }
}

/// <summary>
/// What the pipeline calls. Every method returns at once (no network, no disk on the caller's thread): the message is serialized
/// and put on a bounded in-memory queue; a background writer stores queued messages in the <see cref="SqliteOutbox"/> in batches,
/// and the outbox drainers publish from there. A message is therefore written to the outbox before any transport sees it.
/// Snapshots go through the outbox too, in their own bounded lane (see README: an event that names a snapshot should not arrive
/// after an outage without it). The constructor only builds; <see cref="Start"/> starts the writer (messages queued before
/// wait for it), <see cref="DisposeAsync"/> stores what is queued and stops it. Does not own the outbox.
/// </summary>
public sealed class EventPublisher : IAsyncDisposable
{
    private readonly SqliteOutbox _outbox;
    private readonly EventPublisherOptions _options;
    private readonly ILogger _logger;
    private readonly Channel<OutboxEntry> _queue;
    private Task _writer = Task.CompletedTask;
    private int _started;
    private long _accepted, _droppedQueueFull, _stored, _refused, _storeFailures;
    private volatile bool _writing;
    private int _disposed;

    public EventPublisher(SqliteOutbox outbox, EventPublisherOptions options, ILogger<EventPublisher>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(outbox);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _outbox = outbox;
        _options = options;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _queue = Channel.CreateBounded<OutboxEntry>(
            new BoundedChannelOptions(options.QueueCapacity) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true },
            dropped => OnQueueDrop(dropped));
    }

    /// <summary>Starts the background writer (once).</summary>
    public void Start()
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (Interlocked.Exchange(ref _started, 1) != 0) throw new InvalidOperationException("The event publisher is already started.");
        _writer = Task.Run(WriterLoopAsync);
    }

    /// <summary>Messages accepted from the pipeline.</summary>
    public long Accepted => Interlocked.Read(ref _accepted);

    /// <summary>Messages stored in the outbox.</summary>
    public long Stored => Interlocked.Read(ref _stored);

    /// <summary>Messages lost before reaching the outbox: in-memory queue overflow (disk stalled) or a failed write (disk full).</summary>
    public long Dropped => Interlocked.Read(ref _droppedQueueFull) + Interlocked.Read(ref _storeFailures);

    /// <summary>Messages the outbox refused (too large, or no destination takes the kind).</summary>
    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>Queues a violation event for <c>edgemask/&lt;device&gt;/&lt;camera&gt;/events</c> (QoS 1). Message id <c>id:type:sequence</c>.</summary>
    public bool Enqueue(MaskEvent e)
    {
        ArgumentNullException.ThrowIfNull(e);
        return Post(new OutboxEntry(OutboxKinds.Event, e.Camera, Topics.Events(e.Device, e.Camera), EventJsonContext.Serialize(e),
            Qos: 1, Retain: false, MessageId: $"{e.Id}:{e.Type}:{e.Sequence}"));
    }

    /// <summary>Queues camera statistics for <c>edgemask/&lt;device&gt;/&lt;camera&gt;/stats</c> (QoS 1).</summary>
    public bool Enqueue(CameraStats s)
    {
        ArgumentNullException.ThrowIfNull(s);
        return Post(new OutboxEntry(OutboxKinds.Stats, s.Camera, Topics.Stats(s.Device, s.Camera), EventJsonContext.Serialize(s), Qos: 1));
    }

    /// <summary>Queues a device status (retained, QoS 1) for <c>edgemask/&lt;device&gt;/status</c>, e.g. after a camera health change.</summary>
    public bool Enqueue(DeviceStatus s)
    {
        ArgumentNullException.ThrowIfNull(s);
        return Post(new OutboxEntry(OutboxKinds.Status, null, Topics.Status(s.Device), EventJsonContext.Serialize(s), Qos: 1, Retain: true));
    }

    /// <summary>Queues a JPEG for <c>edgemask/&lt;device&gt;/&lt;camera&gt;/snapshot</c> (QoS 1; MQTT 5 user property <c>id</c> =
    /// <paramref name="snapshotId"/>). The bytes are copied, so the caller may reuse its buffer.</summary>
    public bool EnqueueSnapshot(string camera, string snapshotId, ReadOnlySpan<byte> jpeg)
    {
        ArgumentException.ThrowIfNullOrEmpty(camera);
        ArgumentException.ThrowIfNullOrEmpty(snapshotId);
        return Post(new OutboxEntry(OutboxKinds.Snapshot, camera, Topics.Snapshot(_options.Device, camera), jpeg.ToArray(), Qos: 1, MessageId: snapshotId));
    }

    /// <summary>Completes when everything queued before the call is stored in the outbox (for shutdown and tests).</summary>
    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        while (_queue.Reader.Count > 0 || _writing)
        {
            if (Volatile.Read(ref _started) == 0) throw new InvalidOperationException("The event publisher is not started (call Start).");
            if (_writer.IsCompleted) return;
            await Task.Delay(10, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Stores what is still queued (also when never started), then stops the writer.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _queue.Writer.TryComplete();
        if (Interlocked.Exchange(ref _started, 1) == 0) _writer = Task.Run(WriterLoopAsync);
        await _writer.ConfigureAwait(false);
    }

    private bool Post(OutboxEntry entry)
    {
        if (Volatile.Read(ref _disposed) != 0) return false;
        Interlocked.Increment(ref _accepted);
        return _queue.Writer.TryWrite(entry);
    }

    private void OnQueueDrop(OutboxEntry dropped)
    {
        var n = Interlocked.Increment(ref _droppedQueueFull);
        // Power-of-two throttling: the first drop and then every doubling is logged, never one line per message.
        if ((n & (n - 1)) == 0)
            _logger.LogWarning("Publisher queue full ({Capacity}): dropped the oldest {Kind} message for camera {Camera}; {Dropped} dropped so far (is the outbox disk stalled?)",
                _options.QueueCapacity, dropped.Kind, dropped.Camera, n);
    }

    private async Task WriterLoopAsync()
    {
        var batch = new List<OutboxEntry>(_options.MaxBatch);
        while (await _queue.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            _writing = true;
            try
            {
                batch.Clear();
                while (batch.Count < _options.MaxBatch && _queue.Reader.TryRead(out var e)) batch.Add(e);
                if (batch.Count == 0) continue;
                try
                {
                    var seqs = _outbox.EnqueueBatch(batch);
                    var stored = seqs.Count(s => s is not null);
                    Interlocked.Add(ref _stored, stored);
                    Interlocked.Add(ref _refused, seqs.Count - stored);
                }
                catch (OutboxStorageException ex)
                {
                    Interlocked.Add(ref _storeFailures, batch.Count);
                    _logger.LogError(ex, "Could not store {Count} message(s) in the outbox; they are lost: {Error}", batch.Count, ex.Message);
                    // A full or failing disk is not fixed by hammering it.
                    await Task.Delay(TimeSpan.FromSeconds(1)).ConfigureAwait(false);
                }
                catch (ArgumentException ex)
                {
                    Interlocked.Add(ref _storeFailures, batch.Count);
                    _logger.LogError(ex, "Could not store {Count} message(s) in the outbox, one is invalid; they are lost: {Error}", batch.Count, ex.Message);
                }
                catch (ObjectDisposedException ex)
                {
                    Interlocked.Add(ref _storeFailures, batch.Count);
                    _logger.LogError(ex, "The outbox was disposed before the publisher: {Count} message(s) lost", batch.Count);
                    return;
                }
            }
            finally
            {
                _writing = false;
            }
        }
    }
}
