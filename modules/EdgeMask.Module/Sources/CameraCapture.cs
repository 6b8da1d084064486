using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMask.Module.Sources;

/// <summary>
/// One camera's capture: a dedicated thread reads its <see cref="IFrameSource"/> into pooled <see cref="Frame"/>s and
/// writes them to <see cref="Frames"/>, a bounded channel where the newest frame wins (when full, the oldest frame
/// is removed, disposed and counted as dropped), so capture never waits for inference. A watchdog closes and
/// reopens a source that errs, ends (live) or delivers no frame for <see cref="CameraCaptureOptions.StallTimeout"/>,
/// with exponential backoff (forever for live sources unless <see cref="CameraCaptureOptions.MaxReconnectAttempts"/>).
/// Files and folders end with the channel completed. Health is a snapshot (<see cref="Health"/>) plus
/// <see cref="HealthChanged"/>. Owns the source (unless told otherwise), the frame pool and the thread.
/// </summary>
public sealed class CameraCapture : IAsyncDisposable, IDisposable
{
    private readonly IFrameSource _source;
    private readonly bool _disposeSource;
    private readonly CameraCaptureOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Channel<Frame> _channel;
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _gate = new();
    private readonly bool _waitForConsumer;
    private readonly ManualResetEventSlim? _roomSignal;
    private ITimer? _watchdog;
    private Thread? _thread;
    private int _startCalled;
    private int _disposed;

    // Health, written by the capture thread; snapshots taken under _gate.
    private CameraHealthState _state = CameraHealthState.Starting;
    private DateTimeOffset _since;
    private string? _lastError;
    private int _reconnects;
    private int _attempts;
    private TimeSpan? _lastOutage;
    private DateTimeOffset _outageStart;
    private long _lastFrameUtcTicks;
    private long _captured;
    private long _dropped;

    // Watchdog: armed while reading an open source; progress is a TimeProvider timestamp.
    private long _progressTimestamp;
    private int _armed;
    private int _stalled;

    public CameraCapture(string camera, IFrameSource source, CameraCaptureOptions? options = null, TimeProvider? time = null,
        ILogger? logger = null, bool shouldDisposeSource = true)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(camera);
        ArgumentNullException.ThrowIfNull(source);
        options ??= new CameraCaptureOptions();
        options.Validate();
        Camera = camera;
        _source = source;
        _disposeSource = shouldDisposeSource;
        _options = options;
        _time = time ?? TimeProvider.System;
        _logger = logger ?? NullLogger.Instance;
        _since = _time.GetUtcNow();
        // The pool covers the channel, one frame being filled, and a few held by the consumer (current frame,
        // a detector working on the previous one); more than that are freed on return.
        Pool = new FramePool(options.ChannelCapacity + 4);
        _waitForConsumer = options.WaitForConsumerOnFiles && !options.Realtime && !source.IsLive;
        if (_waitForConsumer)
        {
            _roomSignal = new ManualResetEventSlim(false);
            Pool.ReturnSignal = _roomSignal;
        }
        _channel = Channel.CreateBounded<Frame>(
            new BoundedChannelOptions(options.ChannelCapacity)
            {
                FullMode = BoundedChannelFullMode.DropOldest,
                SingleWriter = true,
                SingleReader = false,
                AllowSynchronousContinuations = false,
            },
            OnDropped);
    }

    /// <summary>Parses <paramref name="source"/> (see <see cref="FrameSourceSpec.Parse"/>) and captures it; the capture owns the source.</summary>
    public static CameraCapture Create(string camera, string source, FrameSourceOptions? sourceOptions = null,
        CameraCaptureOptions? options = null, TimeProvider? time = null, ILoggerFactory? loggers = null)
    {
        options?.Validate();
        var frameSource = FrameSourceFactory.Create(source, sourceOptions, loggers);
        return new CameraCapture(camera, frameSource, options, time, loggers?.CreateLogger<CameraCapture>(), shouldDisposeSource: true);
    }

    public string Camera { get; }

    public IFrameSource Source => _source;

    /// <summary>Frames, newest wins. The reader owns each frame it takes and must dispose it. Completes at the end of
    /// a file/folder, or with the error when the capture fails (unopenable source, reconnect attempts exhausted).</summary>
    public ChannelReader<Frame> Frames => _channel.Reader;

    /// <summary>The pool frames come from (its <see cref="FramePool.Created"/> stays small in a steady stream).</summary>
    public FramePool Pool { get; }

    public long FramesCaptured => Interlocked.Read(ref _captured);
    public long FramesDropped => Interlocked.Read(ref _dropped);

    /// <summary>Completes when the capture thread has stopped (end of file, failure or disposal).</summary>
    public Task Completion => _completion.Task;

    /// <summary>Raised on the capture thread whenever the state changes. Keep handlers quick; exceptions are logged.</summary>
    public event Action<CameraHealth>? HealthChanged;

    /// <summary>The current state without building a snapshot (cheap enough to read per frame).</summary>
    public CameraHealthState State => (CameraHealthState)Volatile.Read(ref Unsafe.As<CameraHealthState, int>(ref _state));

    /// <summary>A snapshot of the camera's health (allocates: read it per stats interval, not per frame).</summary>
    public CameraHealth Health
    {
        get
        {
            lock (_gate) return SnapshotLocked();
        }
    }

    /// <summary>
    /// Starts the capture thread. With <see cref="CameraCaptureOptions.FailFastOnStart"/> (the default) waits until the
    /// first frame is in the channel (or a file turned out empty) and throws <see cref="FrameSourceUnavailableException"/>
    /// when the source cannot be opened or gives no first frame within the stall timeout; otherwise returns at once
    /// and a failing source is retried in the background.
    /// </summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (Interlocked.Exchange(ref _startCalled, 1) != 0) throw new InvalidOperationException($"Camera {Camera} is already started.");
        var period = TimeSpan.FromTicks(Math.Max(TimeSpan.TicksPerMillisecond * 100, _options.StallTimeout.Ticks / 4));
        _watchdog = _time.CreateTimer(_ => CheckStall(), null, period, period);
        _thread = new Thread(RunLoop) { IsBackground = true, Name = $"capture-{Camera}" };
        _thread.Start();
        if (_options.FailFastOnStart) await _started.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private void RunLoop()
    {
        var ct = _stop.Token;
        bool firstFrame = true;
        bool opened = false;
        long framesSinceOpen = 0;
        long openedAt = 0;
        var backoff = _options.InitialBackoff;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                if (!opened)
                {
                    // Opening is bounded by the source's own open timeout (sources:openTimeout): a camera or
                    // stream may take longer to connect and decode a first picture than frames may be apart.
                    Disarm();
                    try
                    {
                        _source.Open(ct);
                        opened = true;
                        framesSinceOpen = 0;
                        Arm();
                    }
                    catch (FrameSourceUnavailableException ex) when (!ct.IsCancellationRequested)
                    {
                        Disarm();
                        Interlocked.Exchange(ref _stalled, 0);
                        if (!OnLost(ex.Problem, ex, firstFrame, ref backoff, ct)) return;
                        continue;
                    }
                }

                var frame = Pool.Rent();
                FrameReadStatus status;
                FrameSourceReadException? readError = null;
                try
                {
                    status = _source.Read(frame.Image, out var position);
                    frame.MediaPosition = position;
                }
                catch (FrameSourceReadException ex)
                {
                    status = FrameReadStatus.EndOfStream;
                    readError = ex;
                }
                catch (Exception)
                {
                    // Anything else fails the capture (below); the frame still goes back to the pool.
                    frame.Dispose();
                    throw;
                }

                if (status == FrameReadStatus.Frame)
                {
                    var now = _time.GetUtcNow();
                    frame.CapturedAt = now;
                    frame.Index = Interlocked.Increment(ref _captured) - 1;
                    Volatile.Write(ref _progressTimestamp, _time.GetTimestamp());
                    Volatile.Write(ref _lastFrameUtcTicks, now.UtcTicks);
                    // A stall flagged on a source that cannot be interrupted is over once frames flow again.
                    if (Volatile.Read(ref _stalled) != 0) Interlocked.Exchange(ref _stalled, 0);
                    // Realtime pacing is anchored at the first frame of each opening: frame n is due n/fps after it.
                    if (framesSinceOpen++ == 0) openedAt = _time.GetTimestamp();
                    if (_state != CameraHealthState.Ok) OnRecovered(now);
                    backoff = _options.InitialBackoff;
                    if (firstFrame)
                    {
                        firstFrame = false;
                        _started.TrySetResult();
                    }
                    if (_waitForConsumer) WaitForRoom(ct);
                    // DropOldest: never waits; a full channel hands its oldest frame to OnDropped.
                    if (!_channel.Writer.TryWrite(frame))
                    {
                        frame.Dispose();
                        return;
                    }
                    if (_options.Realtime && !_source.IsLive) Pace(openedAt, framesSinceOpen, ct);
                    continue;
                }

                frame.Dispose();
                Disarm();
                _source.Close();
                opened = false;
                if (ct.IsCancellationRequested) return;
                bool stalled = Interlocked.Exchange(ref _stalled, 0) != 0;
                if (readError is null && !stalled && !_source.IsLive)
                {
                    if (_options.Loop && framesSinceOpen > 0) continue;
                    SetState(CameraHealthState.Ended, null);
                    _logger.LogInformation("Camera {Camera} reached the end of {Source} after {Frames} frames", Camera, _source.Description, FramesCaptured);
                    _started.TrySetResult();
                    _channel.Writer.TryComplete();
                    return;
                }
                string reason = stalled
                    ? $"no frame for {_options.StallTimeout.TotalSeconds:0.#} s"
                    : readError?.Problem ?? "the live stream ended";
                if (!OnLost(reason, readError, firstFrame, ref backoff, ct)) return;
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Disposal while opening, reading or backing off.
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            _logger.LogError(ex, "Capture of camera {Camera} stopped unexpectedly", Camera);
            SetState(CameraHealthState.Failed, ex.Message);
            _started.TrySetException(ex);
            _channel.Writer.TryComplete(ex);
        }
        finally
        {
            Disarm();
            _source.Close();
            _started.TrySetCanceled(CancellationToken.None);
            _channel.Writer.TryComplete();
            _completion.TrySetResult();
        }
    }

    /// <summary>Records a lost source and waits its backoff; false when the capture gives up.</summary>
    private bool OnLost(string reason, Exception? error, bool beforeFirstFrame, ref TimeSpan backoff, CancellationToken ct)
    {
        if (beforeFirstFrame && _options.FailFastOnStart)
        {
            var failure = error as FrameSourceUnavailableException
                ?? new FrameSourceUnavailableException(_source.Description, reason, "Check that the source delivers video.", error);
            _logger.LogError("Camera {Camera} cannot start: {Error}", Camera, failure.Message);
            SetState(CameraHealthState.Failed, failure.Message);
            _started.TrySetException(failure);
            _channel.Writer.TryComplete(failure);
            return false;
        }
        if (!_source.IsLive)
        {
            _logger.LogError("Camera {Camera} failed on {Source}: {Error}", Camera, _source.Description, reason);
            SetState(CameraHealthState.Failed, reason);
            _channel.Writer.TryComplete(error ?? new FrameSourceReadException(_source.Description, reason));
            return false;
        }
        int attempt;
        lock (_gate)
        {
            if (_state is CameraHealthState.Ok or CameraHealthState.Starting)
            {
                _reconnects++;
                _outageStart = _time.GetUtcNow();
                _attempts = 0;
            }
            attempt = ++_attempts;
        }
        if (_options.MaxReconnectAttempts is { } max && attempt > max)
        {
            _logger.LogError("Camera {Camera} gave up on {Source} after {Attempts} reconnect attempts: {Error}", Camera, _source.Description, max, reason);
            SetState(CameraHealthState.Failed, reason);
            _channel.Writer.TryComplete(error ?? new FrameSourceReadException(_source.Description, reason));
            return false;
        }
        _logger.LogWarning("Camera {Camera} lost {Source}: {Error}; reopening in {Backoff} (attempt {Attempt})",
            Camera, _source.Description, reason, backoff, attempt);
        SetState(CameraHealthState.Reconnecting, reason);
        Task.Delay(backoff, _time, ct).GetAwaiter().GetResult();
        backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, _options.MaxBackoff.Ticks));
        return true;
    }

    private void OnRecovered(DateTimeOffset now)
    {
        bool wasOutage;
        lock (_gate)
        {
            wasOutage = _state == CameraHealthState.Reconnecting;
            if (wasOutage) _lastOutage = now - _outageStart;
        }
        if (wasOutage)
            _logger.LogInformation("Camera {Camera} recovered {Source} after {Outage} ({Attempts} attempts)", Camera, _source.Description, _lastOutage, _attempts);
        SetState(CameraHealthState.Ok, null);
    }

    // Sleeps until frame n of this opening is due at the source's rate; a slow consumer or decoder just runs late.
    private void Pace(long openedAt, long framesSinceOpen, CancellationToken ct)
    {
        double fps = _source.NominalFps;
        if (fps <= 0) return;
        var due = TimeSpan.FromSeconds(framesSinceOpen / fps) - _time.GetElapsedTime(openedAt);
        if (due <= TimeSpan.Zero) return;
        // Waiting for the due time is not a stall: a slow folder may pace beyond the stall timeout.
        Disarm();
        Task.Delay(due, _time, ct).GetAwaiter().GetResult();
        Arm();
    }

    // The consumer disposes each frame after its work, which signals the pool: re-check the channel then. The
    // short timed wait covers a frame taken but not yet disposed; no allocation, cancellation seen within 50 ms.
    private void WaitForRoom(CancellationToken ct)
    {
        var signal = _roomSignal!;
        if (_channel.Reader.Count < _options.ChannelCapacity) return;
        Disarm();
        while (_channel.Reader.Count >= _options.ChannelCapacity)
        {
            ct.ThrowIfCancellationRequested();
            signal.Reset();
            if (_channel.Reader.Count < _options.ChannelCapacity) break;
            signal.Wait(50);
        }
        Arm();
    }

    private void OnDropped(Frame frame)
    {
        Interlocked.Increment(ref _dropped);
        frame.Dispose();
    }

    private void Arm()
    {
        Volatile.Write(ref _progressTimestamp, _time.GetTimestamp());
        Volatile.Write(ref _armed, 1);
    }

    private void Disarm() => Volatile.Write(ref _armed, 0);

    private void CheckStall()
    {
        if (Volatile.Read(ref _armed) == 0) return;
        if (_time.GetElapsedTime(Volatile.Read(ref _progressTimestamp)) < _options.StallTimeout) return;
        if (Interlocked.CompareExchange(ref _stalled, 1, 0) != 0) return;
        _logger.LogWarning("Camera {Camera}: no frame from {Source} for {Timeout}; restarting it", Camera, _source.Description, _options.StallTimeout);
        _source.Interrupt();
    }

    private void SetState(CameraHealthState state, string? error)
    {
        CameraHealth snapshot;
        lock (_gate)
        {
            bool changed = _state != state;
            if (error is not null) _lastError = error;
            if (state == CameraHealthState.Ok) _attempts = 0;
            if (!changed && error is null) return;
            if (changed)
            {
                _state = state;
                _since = _time.GetUtcNow();
            }
            snapshot = SnapshotLocked();
        }
        var handlers = HealthChanged;
        if (handlers is null) return;
        try
        {
            handlers(snapshot);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            _logger.LogError(ex, "A health handler of camera {Camera} failed", Camera);
        }
    }

    private CameraHealth SnapshotLocked()
    {
        long ticks = Volatile.Read(ref _lastFrameUtcTicks);
        return new CameraHealth(Camera, _source.Description, _state, _since,
            ticks == 0 ? null : new DateTimeOffset(ticks, TimeSpan.Zero), _lastError, _reconnects, _attempts, _lastOutage,
            FramesCaptured, FramesDropped, _source.SkippedFrames);
    }

    /// <summary>Stops the thread, kills any child process, disposes unread frames, the source (when owned) and the pool.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _stop.Cancel();
        _source.Interrupt();
        if (_thread is not null) await _completion.Task.ConfigureAwait(false);
        if (_watchdog is not null) await _watchdog.DisposeAsync().ConfigureAwait(false);
        _channel.Writer.TryComplete();
        while (_channel.Reader.TryRead(out var frame)) frame.Dispose();
        if (_disposeSource) _source.Dispose();
        // _roomSignal is not disposed: a consumer may still dispose a late frame and Set it; without a wait handle
        // ever created it holds nothing native.
        Pool.ReturnSignal = null;
        Pool.Dispose();
        SetState(CameraHealthState.Stopped, null);
        _stop.Dispose();
    }

    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();
}
