using System.Collections.Concurrent;
using EdgeMask.Core.Detection;
using EdgeMask.Core.Events;
using EdgeMask.Core.Policy;
using EdgeMask.Module.Snapshots;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OpenCvSharp;

namespace EdgeMask.Module.Pipeline;

/// <summary>Where a camera pipeline hands the decisions of each policy step (and what their snapshots need).</summary>
public interface IEventOutput
{
    /// <summary>Whether snapshot requests are served now; when false the pipeline does not copy frames for them.</summary>
    bool TakesSnapshots { get; }

    /// <summary>
    /// Called on the camera thread after every policy step, in order. <paramref name="frame"/> is the frame the step
    /// evaluated (null for the shutdown flush) and is only read during the call; <paramref name="faces"/> are every
    /// face detected in it (for blurring the others in a snapshot).
    /// </summary>
    void Submit(ReadOnlySpan<ViolationDecision> decisions, ReadOnlySpan<SnapshotRequest> requests, Mat? frame, ReadOnlySpan<FaceDetection> faces);

    /// <summary>
    /// Called on the camera thread when the pipeline starts on a classifier (first, and after a model reload): whether
    /// it has the label <c>incorrect</c>, so events of a two-class model leave <c>probabilities.incorrect</c> out.
    /// </summary>
    void ClassifierChanged(bool hasIncorrect) { }
}

/// <summary>
/// Builds each event at once on the camera thread, without snapshots: the output of benchmarks, of tests, and of any
/// pipeline that stores no snapshots. Allocates only the events themselves.
/// </summary>
public sealed class DirectEventOutput(string device, string camera, IPipelineSink sink) : IEventOutput
{
    private readonly MaskEventFactory _factory = new(device, camera);

    public bool TakesSnapshots => false;

    public void ClassifierChanged(bool hasIncorrect) => _factory.HasIncorrect = hasIncorrect;

    public void Submit(ReadOnlySpan<ViolationDecision> decisions, ReadOnlySpan<SnapshotRequest> requests, Mat? frame, ReadOnlySpan<FaceDetection> faces)
    {
        foreach (ref readonly var decision in decisions) sink.OnEvent(_factory.Create(decision, EventSnapshot.None));
    }
}

/// <summary>
/// A camera's events with their snapshots, built off the camera thread and in order. For a step with snapshot requests
/// the camera thread only copies the frame (one copy shared by every request of the step) and the face boxes; this
/// stage's worker then renders, JPEG-encodes and stores each snapshot, publishes its JPEG, and only then builds the
/// events of the step, each naming the latest snapshot stored for its episode (the snapshot result flows forward to
/// <see cref="MaskEventFactory.Create"/>; nothing is written back into the policy's episode). So an event never names
/// a snapshot that does not exist, events keep their order, and a burst of violations costs the camera a memcpy per
/// frame instead of an encode per face.
/// <para>
/// Rendering and encoding run on a <see cref="LowPriorityThread"/>: off the camera thread is not enough on a 2-core
/// device, where the dozens of snapshots a crowd starts at once took a core from inference and made the camera drop
/// frames (measured: 2–3 of 864 frames with snapshots on, 0 with them off). At a lower priority they take the CPU
/// inference leaves between frames. The worker itself (ordering, events, publishing) runs on its own thread at normal
/// priority, since the sinks it calls wake async code.
/// </para>
/// </summary>
/// <remarks>
/// At most <see cref="MaxPendingFrames"/> frame copies wait for the worker: beyond that, new snapshot requests are
/// skipped (counted in <see cref="SnapshotsSkipped"/>) and their events name the episode's earlier snapshot, or none.
/// A step that only asks for better views of open episodes is admitted while fewer than half of them wait: in a crowd
/// the start of a violation (its only evidence) keeps the room that a better view of an old one would take.
/// <see cref="CompleteAsync"/> lets the queue drain for a grace period, then stops rendering and only builds the
/// events still queued, so a stop never waits for JPEG encoding. Owns its worker, the frame copies and the
/// <see cref="CameraSnapshotter"/> it makes over the current store; not the store or the sink.
/// </remarks>
public sealed class SnapshotEventStage : IEventOutput, IAsyncDisposable
{
    /// <summary>Eight 960×540 copies are 12 MB; enough for the burst of starts a crowd of 50 makes at the lower priority.</summary>
    public const int DefaultMaxPendingFrames = 8;

    private readonly string _device;
    private readonly string _camera;
    private readonly MaskEventFactory _factory;
    private readonly Func<SnapshotStore?> _store;
    private readonly IPipelineSink _sink;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger _logger;
    // Blocking (not a Channel): its reader is a dedicated thread, and the camera thread's add wakes it without the thread pool.
    private readonly BlockingCollection<Item> _queue = new(new ConcurrentQueue<Item>());
    private readonly TaskCompletionSource _workerDone = new(TaskCreationOptions.RunContinuationsAsynchronously);
    // The latest stored snapshot of each open episode, read and written by the worker only.
    private readonly Dictionary<string, EventSnapshot> _episodeSnapshots = new(StringComparer.Ordinal);
    private CameraSnapshotter? _snapshotter;
    private LowPriorityThread? _encoder;
    private Thread? _worker;
    private int _pendingFrames;
    private long _skipped, _taken, _events;
    private volatile bool _hurry;
    private int _completed;

    /// <param name="store">The snapshot store in force (null: snapshots off); read per snapshot, so a new store applies at once.</param>
    /// <param name="sink">Receives the events (outbox, alarm, console) and the JPEGs to publish, on the stage's worker.</param>
    public SnapshotEventStage(string device, string camera, Func<SnapshotStore?> store, IPipelineSink sink, ILoggerFactory? loggers = null,
        int maxPendingFrames = DefaultMaxPendingFrames)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxPendingFrames, 1);
        _device = device;
        _camera = camera;
        _factory = new MaskEventFactory(device, camera);
        _store = store;
        _sink = sink;
        _loggers = loggers ?? NullLoggerFactory.Instance;
        _logger = _loggers.CreateLogger<SnapshotEventStage>();
        MaxPendingFrames = maxPendingFrames;
    }

    public int MaxPendingFrames { get; }

    // Read by the worker when it builds an event; a reload between a step and its event is harmless (same faces).
    public void ClassifierChanged(bool hasIncorrect) => _factory.HasIncorrect = hasIncorrect;

    public bool TakesSnapshots => _store() is { Options.Enabled: true } && !_hurry;

    /// <summary>Snapshot requests not served because <see cref="MaxPendingFrames"/> frame copies were already waiting.</summary>
    public long SnapshotsSkipped => Interlocked.Read(ref _skipped);

    /// <summary>Snapshots rendered and handed to the store (stored or failed).</summary>
    public long SnapshotsTaken => Interlocked.Read(ref _taken);

    /// <summary>Events handed to the sink.</summary>
    public long EventsEmitted => Interlocked.Read(ref _events);

    /// <summary>True once a stop's grace ran out: the remaining snapshots are skipped, the remaining events still built.</summary>
    public bool SkippingSnapshots => _hurry;

    /// <summary>Frame copies waiting for the worker.</summary>
    public int PendingFrames => Volatile.Read(ref _pendingFrames);

    /// <summary>Whether the stage's worker thread (ordering, events, publishing) still runs.</summary>
    public bool WorkerRunning => _worker?.IsAlive == true;

    /// <summary>The thread snapshots are rendered on (null before <see cref="Start"/> and after disposal): its priority, for health and tests.</summary>
    public LowPriorityThread? Encoder => _encoder;

    /// <summary>Starts the worker and the encoder (each on its own thread: encoding and disk writes never run on the camera thread).</summary>
    public void Start()
    {
        if (_worker is not null) throw new InvalidOperationException("The stage is already started.");
        _encoder = new LowPriorityThread($"snapshots-{_camera}");
        if (!_encoder.PriorityLowered)
            _logger.LogWarning("Camera {Camera}: snapshots are encoded at normal CPU priority ({Reason}); in a crowd they compete with inference", _camera, _encoder.PriorityError);
        _worker = new Thread(Run) { IsBackground = true, Name = $"events-{_camera}" };
        _worker.Start();
    }

    public void Submit(ReadOnlySpan<ViolationDecision> decisions, ReadOnlySpan<SnapshotRequest> requests, Mat? frame, ReadOnlySpan<FaceDetection> faces)
    {
        if (requests.Length > 0 && frame is not null && TakesSnapshots)
        {
            bool starts = false;
            foreach (ref readonly var request in requests) starts |= request.IsStart;
            int limit = starts ? MaxPendingFrames : Math.Max(1, MaxPendingFrames / 2);
            if (Interlocked.Increment(ref _pendingFrames) > limit)
            {
                Interlocked.Decrement(ref _pendingFrames);
                long n = Interlocked.Add(ref _skipped, requests.Length);
                // The first skip and every doubling: a crowd that outruns the encoder is worth one line, not one per frame.
                if ((n & (n - 1)) == 0 || n - requests.Length == 0)
                    _logger.LogWarning("Camera {Camera}: {Pending} frames wait for snapshot encoding; {Skipped} snapshot requests skipped so far", _camera, limit, n);
            }
            else
            {
                var copy = new SharedFrame(frame.Clone(), faces.ToArray(), requests.Length);
                foreach (ref readonly var request in requests) Write(new Item(default, request, copy));
            }
        }
        foreach (ref readonly var decision in decisions) Write(new Item(decision, default, null));
    }

    private void Write(Item item)
    {
        bool added;
        try
        {
            added = _queue.TryAdd(item);
        }
        catch (InvalidOperationException)
        {
            added = false; // adding was completed
        }
        if (!added)
        {
            // Only after CompleteAsync: the pipeline was told to stop before this step; nothing may be lost silently.
            item.Frame?.Release(ref _pendingFrames);
            _logger.LogError("Camera {Camera}: an event of episode {Episode} arrived after its output closed", _camera, item.Decision.Episode?.Id ?? item.Request.Episode?.Id);
        }
    }

    private void Run()
    {
        try
        {
            foreach (var item in _queue.GetConsumingEnumerable())
            {
                try
                {
                    if (item.Frame is { } frame) TakeSnapshot(item.Request, frame);
                    else Emit(item.Decision);
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    // One bad snapshot or sink must not stop the events after it.
                    _logger.LogError(ex, "Camera {Camera}: the event output failed on an item of episode {Episode}", _camera, item.Decision.Episode?.Id ?? item.Request.Episode?.Id);
                }
            }
            _workerDone.TrySetResult();
        }
        catch (Exception ex)
        {
            _workerDone.TrySetException(ex);
        }
    }

    private void TakeSnapshot(in SnapshotRequest request, SharedFrame frame)
    {
        try
        {
            if (_hurry) return;
            var store = _store();
            if (store is not { Options.Enabled: true }) return;
            if (!ReferenceEquals(_snapshotter?.Store, store))
            {
                _snapshotter?.Dispose();
                _snapshotter = new CameraSnapshotter(store, _device, _camera, _loggers.CreateLogger<CameraSnapshotter>());
            }
            var snapshotter = _snapshotter;
            SnapshotResult result = default!;
            SnapshotRequest job = request;
            _encoder!.Run(() => result = snapshotter.Take(frame.Image, job, frame.Faces));
            Interlocked.Increment(ref _taken);
            if (!result.Available) return;
            _episodeSnapshots[request.Episode.Id] = result.ToEventSnapshot(_snapshotter.Topic);
            if (result.PublishJpeg is { } jpeg && result.Id is { } id) _sink.OnSnapshot(_camera, id, jpeg);
        }
        finally
        {
            frame.Release(ref _pendingFrames);
        }
    }

    private void Emit(in ViolationDecision decision)
    {
        string id = decision.Episode.Id;
        var snapshot = _episodeSnapshots.GetValueOrDefault(id, EventSnapshot.None);
        if (decision.Kind == ViolationDecisionKind.End) _episodeSnapshots.Remove(id);
        _sink.OnEvent(_factory.Create(decision, snapshot));
        Interlocked.Increment(ref _events);
    }

    /// <summary>
    /// No more submissions: lets the worker finish what is queued within <paramref name="grace"/>, then skips the
    /// remaining snapshots and only builds the remaining events (each still gets out, naming what was stored).
    /// </summary>
    public async Task CompleteAsync(TimeSpan grace)
    {
        if (_worker is null) _workerDone.TrySetResult(); // never started: nothing can be queued
        Task worker = _workerDone.Task;
        if (Interlocked.Exchange(ref _completed, 1) != 0)
        {
            await worker.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            return;
        }
        _queue.CompleteAdding();
        if (await Task.WhenAny(worker, Task.Delay(grace)).ConfigureAwait(false) != worker)
        {
            _hurry = true;
            _logger.LogWarning("Camera {Camera}: snapshots still queued after {Grace}; the remaining events go out without new snapshots", _camera, grace);
        }
        await worker.ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await CompleteAsync(TimeSpan.Zero).ConfigureAwait(false);
        _worker?.Join(); // it has signalled completion and is returning
        _encoder?.Dispose();
        _encoder = null;
        _snapshotter?.Dispose();
        _snapshotter = null;
        _queue.Dispose();
    }

    private readonly record struct Item(ViolationDecision Decision, SnapshotRequest Request, SharedFrame? Frame);

    /// <summary>A frame copy shared by the snapshot requests of one step; freed when the last of them is served.</summary>
    private sealed class SharedFrame(Mat image, FaceDetection[] faces, int users)
    {
        private int _users = users;

        public Mat Image { get; } = image;
        public FaceDetection[] Faces { get; } = faces;

        public void Release(ref int pendingFrames)
        {
            if (Interlocked.Decrement(ref _users) != 0) return;
            Image.Dispose();
            Interlocked.Decrement(ref pendingFrames);
        }
    }
}
