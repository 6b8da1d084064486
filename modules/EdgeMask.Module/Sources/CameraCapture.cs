using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using EdgeMask.Core.Resilience;
using Microsoft.Extensions.Logging.Abstractions;
using Polly;

namespace EdgeMask.Module.Sources;

/// <summary>What <see cref="CameraCapture.WaitForFrame"/> returned.</summary>
public enum FrameWait
{
    /// <summary>A frame was taken; the caller owns it.</summary>
    Frame,
    /// <summary>No frame within the timeout (a live source connecting or slow).</summary>
    Timeout,
    /// <summary><see cref="CameraCapture.Wake"/> was called: the consumer has something else to do (settings, stop).</summary>
    Woken,
    /// <summary>No frame will come any more: the file ended, the capture failed or was stopped (see <see cref="CameraCapture.Health"/>).</summary>
    Completed,
}

/// <summary>
/// One camera's capture: a dedicated thread reads its <see cref="IFrameSource"/> into pooled <see cref="Frame"/>s and
/// writes them to <see cref="Frames"/>, a bounded channel where the newest frame wins (when full, the oldest frame
/// is removed, disposed and counted as dropped), so capture never waits for inference. A live source that cannot be
/// opened — at start or after it was lost (error, end of stream, or no frame for
/// <see cref="CameraCaptureOptions.StallTimeout"/>: the watchdog) — is retried through the device's one
/// <see cref="RetryPolicy"/> (exponential, capped, jittered), forever unless
/// <see cref="CameraCaptureOptions.MaxReconnectAttempts"/>. Files and folders are never retried: they end with the
/// channel completed, or fail. Health is a snapshot (<see cref="Health"/>) plus <see cref="HealthChanged"/>. Owns the
/// source (unless told otherwise), the frame pool and the thread.
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
    // Set after every frame written and when the channel completes: the consumer thread blocks on it (WaitForFrame).
    private readonly ManualResetEventSlim _frameSignal = new(false);
    private readonly ResiliencePipeline _reconnect;
    private int _wakeRequested;
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
    private bool _everDelivered;
    private Exception? _failure;

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
        // Only a live source is worth retrying: a file that cannot be read now will not be readable in a second.
        _reconnect = RetryPolicy.Create(
            new BackoffOptions { Initial = options.InitialBackoff, Max = options.MaxBackoff, MaxAttempts = options.MaxReconnectAttempts },
            _time,
            shouldRetry: e => _source.IsLive && e is not FrameSourceUnavailableException { IsPermanent: true },
            onRetry: OnRetry);
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
    /// a file/folder, or with the error when the capture fails (unreadable file, reconnect attempts exhausted).</summary>
    public ChannelReader<Frame> Frames => _channel.Reader;

    /// <summary>The pool frames come from (its <see cref="FramePool.Created"/> stays small in a steady stream).</summary>
    public FramePool Pool { get; }

    public long FramesCaptured => Interlocked.Read(ref _captured);
    public long FramesDropped => Interlocked.Read(ref _dropped);

    /// <summary>Completes when the capture thread has stopped (end of file, failure or disposal).</summary>
    public Task Completion => _completion.Task;

    /// <summary>Why the capture gave up (null while it runs, after a normal end or a stop).</summary>
    public Exception? Failure
    {
        get { lock (_gate) return _failure; }
    }

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
    /// Starts the capture thread. A file or folder is checked at once: this waits until its first frame is in the
    /// channel (or it turned out empty) and throws <see cref="FrameSourceUnavailableException"/> when it cannot be
    /// read — such a source never comes back by waiting. A live source returns at once: one that cannot be reached
    /// yet is retried in the background with health <see cref="CameraHealthState.Connecting"/>, like one lost later.
    /// </summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (Interlocked.Exchange(ref _startCalled, 1) != 0) throw new InvalidOperationException($"Camera {Camera} is already started.");
        var period = TimeSpan.FromTicks(Math.Max(TimeSpan.TicksPerMillisecond * 100, _options.StallTimeout.Ticks / 4));
        _watchdog = _time.CreateTimer(_ => CheckStall(), null, period, period);
        _thread = new Thread(RunLoop) { IsBackground = true, Name = $"capture-{Camera}" };
        _thread.Start();
        if (!_source.IsLive) await _started.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Blocks the calling thread (the camera's worker) until a frame is there, <paramref name="timeout"/> passes,
    /// <see cref="Wake"/> is called or the capture completes. No allocation while frames flow.
    /// </summary>
    public FrameWait WaitForFrame(TimeSpan timeout, out Frame? frame)
    {
        long deadline = _time.GetTimestamp();
        while (true)
        {
            if (_channel.Reader.TryRead(out frame)) return FrameWait.Frame;
            if (Interlocked.Exchange(ref _wakeRequested, 0) != 0) return FrameWait.Woken;
            if (_channel.Reader.Completion.IsCompleted) return FrameWait.Completed;
            // Reset, then look again before sleeping: a frame written between the first look and the reset is seen here.
            _frameSignal.Reset();
            if (_channel.Reader.TryRead(out frame)) return FrameWait.Frame;
            if (Volatile.Read(ref _wakeRequested) != 0 || _channel.Reader.Completion.IsCompleted) continue;
            var left = timeout - _time.GetElapsedTime(deadline);
            if (left <= TimeSpan.Zero || !_frameSignal.Wait(left)) return FrameWait.Timeout;
        }
    }

    /// <summary>Makes a pending (or the next) <see cref="WaitForFrame"/> return <see cref="FrameWait.Woken"/>. Any thread.</summary>
    public void Wake()
    {
        Volatile.Write(ref _wakeRequested, 1);
        _frameSignal.Set();
    }

    private enum ReadOutcome { Stopped, Ended, Reopen, Lost }

    private void RunLoop()
    {
        var ct = _stop.Token;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                if (!Connect(ct)) return;
                switch (ReadUntilLost(ct, out string reason, out Exception? error))
                {
                    case ReadOutcome.Stopped:
                        return;
                    case ReadOutcome.Ended:
                        OnEnded();
                        return;
                    case ReadOutcome.Reopen:
                        continue;
                }
                if (!_source.IsLive)
                {
                    _logger.LogError("Camera {Camera} failed on {Source}: {Error}", Camera, _source.Description, reason);
                    Fail(error ?? new FrameSourceReadException(_source.Description, reason), reason);
                    return;
                }
                lock (_gate)
                {
                    _reconnects++;
                    _outageStart = _time.GetUtcNow();
                    _attempts = 0;
                }
                _logger.LogWarning("Camera {Camera} lost {Source}: {Error}; reopening", Camera, _source.Description, reason);
                SetState(CameraHealthState.Reconnecting, reason);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Stopped while opening, reading or backing off.
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            _logger.LogError(ex, "Capture of camera {Camera} stopped unexpectedly", Camera);
            lock (_gate) _failure = ex;
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
            _frameSignal.Set();
            _completion.TrySetResult();
        }
    }

    /// <summary>
    /// Opens the source and delivers its first frame, retrying through the retry policy while that fails (one policy
    /// execution per outage, so every outage starts at the initial backoff). False when the capture is over: the
    /// source gave up (file unreadable, decoder missing, attempts exhausted) or a file turned out empty.
    /// </summary>
    private bool Connect(CancellationToken ct)
    {
        bool delivered;
        try
        {
            delivered = _reconnect.Execute(static (self, token) => self.OpenAndDeliverFirst(token), this, ct);
        }
        catch (Exception ex) when (ex is FrameSourceUnavailableException or FrameSourceReadException)
        {
            string problem = ex is FrameSourceUnavailableException u ? u.Problem : ((FrameSourceReadException)ex).Problem;
            int attempts;
            lock (_gate) attempts = _attempts;
            if (!_source.IsLive || ex is FrameSourceUnavailableException { IsPermanent: true })
                _logger.LogError("Camera {Camera} cannot read {Source}: {Error}", Camera, _source.Description, ex.Message);
            else
                _logger.LogError("Camera {Camera} gave up on {Source} after {Attempts} reconnect attempts: {Error}", Camera, _source.Description, attempts, problem);
            Fail(ex, problem);
            return false;
        }
        if (delivered) return true;
        OnEnded();
        return false;
    }

    /// <summary>One attempt: open, read, hand the first frame over. False: a file or folder without a single frame.</summary>
    private bool OpenAndDeliverFirst(CancellationToken ct)
    {
        Disarm();
        Interlocked.Exchange(ref _stalled, 0);
        _source.Open(ct);
        Arm();
        var frame = Pool.Rent();
        FrameReadStatus status;
        try
        {
            status = _source.Read(frame.Image, out var position);
            frame.MediaPosition = position;
        }
        catch
        {
            frame.Dispose();
            Disarm();
            _source.Close();
            throw;
        }
        if (status == FrameReadStatus.Frame)
        {
            Deliver(frame, ct, framesSinceOpen: 0);
            return true;
        }
        frame.Dispose();
        Disarm();
        _source.Close();
        ct.ThrowIfCancellationRequested();
        bool stalled = Interlocked.Exchange(ref _stalled, 0) != 0;
        if (!stalled && !_source.IsLive) return false;
        throw new FrameSourceReadException(_source.Description,
            stalled ? $"no first frame within {_options.StallTimeout.TotalSeconds:0.#} s" : "the stream ended before its first frame");
    }

    /// <summary>Reads an open source until it ends, fails, stalls or the capture is stopped; the source is closed on return.</summary>
    private ReadOutcome ReadUntilLost(CancellationToken ct, out string reason, out Exception? error)
    {
        reason = "";
        error = null;
        long framesSinceOpen = 1;
        while (!ct.IsCancellationRequested)
        {
            var frame = Pool.Rent();
            FrameReadStatus status;
            try
            {
                status = _source.Read(frame.Image, out var position);
                frame.MediaPosition = position;
            }
            catch (FrameSourceReadException ex)
            {
                status = FrameReadStatus.EndOfStream;
                error = ex;
            }
            catch (Exception)
            {
                // Anything else fails the capture (RunLoop); the frame still goes back to the pool.
                frame.Dispose();
                throw;
            }
            if (status == FrameReadStatus.Frame)
            {
                if (!Deliver(frame, ct, framesSinceOpen++)) return ReadOutcome.Stopped;
                continue;
            }
            frame.Dispose();
            Disarm();
            _source.Close();
            if (ct.IsCancellationRequested) return ReadOutcome.Stopped;
            bool stalled = Interlocked.Exchange(ref _stalled, 0) != 0;
            if (error is null && !stalled && !_source.IsLive) return _options.Loop ? ReadOutcome.Reopen : ReadOutcome.Ended;
            reason = stalled
                ? $"no frame for {_options.StallTimeout.TotalSeconds:0.#} s"
                : (error as FrameSourceReadException)?.Problem ?? "the live stream ended";
            return ReadOutcome.Lost;
        }
        Disarm();
        _source.Close();
        return ReadOutcome.Stopped;
    }

    // When the first frame of the current opening was read: realtime pacing is anchored there.
    private long _openedAt;

    /// <summary>Stamps a frame and writes it to the channel (newest wins); paces files in realtime. False when stopping.</summary>
    private bool Deliver(Frame frame, CancellationToken ct, long framesSinceOpen)
    {
        var now = _time.GetUtcNow();
        frame.CapturedAt = now;
        frame.CapturedTimestamp = _time.GetTimestamp();
        frame.Index = Interlocked.Increment(ref _captured) - 1;
        Volatile.Write(ref _progressTimestamp, _time.GetTimestamp());
        Volatile.Write(ref _lastFrameUtcTicks, now.UtcTicks);
        // A stall flagged on a source that cannot be interrupted is over once frames flow again.
        if (Volatile.Read(ref _stalled) != 0) Interlocked.Exchange(ref _stalled, 0);
        // Frame n of an opening is due n/fps after its first.
        if (framesSinceOpen == 0) _openedAt = _time.GetTimestamp();
        if (_state != CameraHealthState.Ok) OnRecovered(now);
        if (!_everDelivered)
        {
            _everDelivered = true;
            _started.TrySetResult();
        }
        if (_waitForConsumer) WaitForRoom(ct);
        // DropOldest: never waits; a full channel hands its oldest frame to OnDropped.
        if (!_channel.Writer.TryWrite(frame))
        {
            frame.Dispose();
            return false;
        }
        _frameSignal.Set();
        if (_options.Realtime && !_source.IsLive) Pace(_openedAt, framesSinceOpen + 1, ct);
        return true;
    }

    /// <summary>Called by the retry policy after each failed attempt, before its wait.</summary>
    private void OnRetry(RetryAttempt attempt)
    {
        string reason = attempt.Error switch
        {
            FrameSourceUnavailableException u => u.Problem,
            FrameSourceReadException r => r.Problem,
            _ => attempt.Error.Message,
        };
        lock (_gate) _attempts = attempt.Attempt;
        var state = _everDelivered ? CameraHealthState.Reconnecting : CameraHealthState.Connecting;
        _logger.LogWarning("Camera {Camera} cannot open {Source}: {Error}; retrying in {BackoffSeconds:0.0} s (attempt {Attempt})",
            Camera, _source.Description, reason, attempt.Delay.TotalSeconds, attempt.Attempt);
        SetState(state, reason);
    }

    private void OnEnded()
    {
        SetState(CameraHealthState.Ended, null);
        _logger.LogInformation("Camera {Camera} reached the end of {Source} after {Frames} frames", Camera, _source.Description, FramesCaptured);
        _started.TrySetResult();
        _channel.Writer.TryComplete();
        _frameSignal.Set();
    }

    private void Fail(Exception error, string reason)
    {
        lock (_gate) _failure = error;
        SetState(CameraHealthState.Failed, reason);
        _started.TrySetException(error);
        _channel.Writer.TryComplete(error);
        _frameSignal.Set();
    }

    private void OnRecovered(DateTimeOffset now)
    {
        bool wasOutage, wasConnecting;
        int attempts;
        lock (_gate)
        {
            wasOutage = _state == CameraHealthState.Reconnecting;
            wasConnecting = _state == CameraHealthState.Connecting;
            if (wasOutage) _lastOutage = now - _outageStart;
            attempts = _attempts;
        }
        if (wasOutage)
            _logger.LogInformation("Camera {Camera} recovered {Source} after {Outage} ({Attempts} attempts)", Camera, _source.Description, _lastOutage, attempts);
        else if (wasConnecting)
            _logger.LogInformation("Camera {Camera} reached {Source} after {Attempts} failed attempts", Camera, _source.Description, attempts);
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
