using EdgeMask.Core.Policy;
using EdgeMask.Core.Resilience;
using EdgeMask.Module.Cli;
using EdgeMask.Module.Pipeline;
using EdgeMask.Module.Snapshots;
using EdgeMask.Module.Sources;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OpenCvSharp;

namespace EdgeMask.Module.Hosting;

/// <summary>What a camera worker needs from the process around it (shared services, outputs of the run).</summary>
public sealed record CameraWorkerContext
{
    public required IModelSource Models { get; init; }
    /// <summary>Events, stats and snapshot JPEGs (console, outbox, alarm).</summary>
    public required IPipelineSink Sink { get; init; }
    /// <summary>The snapshot store in force, read per snapshot (null: none).</summary>
    public Func<SnapshotStore?> Snapshots { get; init; } = static () => null;
    /// <summary>Called per frame: the alarm's watchdog sees the pipeline alive.</summary>
    public Action<string>? Heartbeat { get; init; }
    /// <summary>Called when the camera's pipeline ends: the alarm drops its violations.</summary>
    public Action<string>? PipelineStopped { get; init; }
    public Func<long?> OutboxDepth { get; init; } = static () => null;
    public RunSettings Run { get; init; } = new();
    /// <summary>How long a pipeline that failed waits before it is made again (the device's one retry policy's delays).</summary>
    public BackoffOptions RestartBackoff { get; init; } = new() { Initial = TimeSpan.FromSeconds(1), Max = TimeSpan.FromSeconds(30) };
    /// <summary>Frames processed without an error after which the restart backoff starts from the beginning again.</summary>
    public int HealthyFramesToResetBackoff { get; init; } = 300;
    /// <summary>How long, at stop, queued snapshots may still be encoded before the remaining events go out without them.</summary>
    public TimeSpan SnapshotDrainGrace { get; init; } = TimeSpan.FromMilliseconds(300);
    public TimeProvider Time { get; init; } = TimeProvider.System;
    public ILoggerFactory Loggers { get; init; } = NullLoggerFactory.Instance;
}

/// <summary>
/// One camera, living and failing on its own: its capture (a thread reading the source), its pipeline on a thread of
/// its own (detection and classification run there, never on the thread pool), its event stage (snapshots encoded,
/// events built, off that thread) and its <c>captureSnapshot</c> tap.
/// </summary>
/// <remarks>
/// <para>Faults stay inside the camera: an exception in its pipeline ends the open episodes (<c>shutdown</c>), is logged
/// and counted (<see cref="Restarts"/>, <c>edgemask_camera_restarts_total</c>), and a new pipeline takes over after the
/// retry policy's delay; a capture that died of something other than its source (a bug, not an outage) is made again
/// the same way. A live source that is down is the capture's business: it retries with backoff while this thread ticks
/// (stats with health <c>connecting</c>/<c>reconnecting</c> keep flowing).</para>
/// <para>Stop (<see cref="StopAsync"/>): the capture stops at once (its child process is killed), the frame in flight
/// completes, the open episodes end with reason <c>shutdown</c> and go through the stage to the sink, then the thread
/// ends. Nothing the camera thread uses is disposed before it has ended: if it does not end within the timeout (a
/// frame stuck in a provider), its pipeline — and so its model lease — is left alone and the model sessions stay open.</para>
/// Owns the capture, the pipeline, the stage, the tap, the annotation writer and the thread.
/// </remarks>
public sealed class CameraWorker : IAsyncDisposable
{
    private static readonly TimeSpan TickInterval = TimeSpan.FromSeconds(1);

    private readonly Func<CameraCapture> _captureFactory;
    private readonly CameraWorkerContext _context;
    private readonly ILogger _logger;
    private readonly SnapshotEventStage _stage;
    private readonly CameraMetrics _metrics;
    private readonly CameraCounters _counters = new();
    // The camera's learnt pictures outlive a pipeline restart, as its counters do: a restart must not make every
    // poster start a violation again.
    private readonly StationaryFaces _stationary = new();
    private readonly ManualResetEventSlim _stopSignal = new(false);
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private CameraPipelineSettings _settings;
    private CameraCapture? _capture;
    private CameraPipeline? _pipeline;
    private Thread? _thread;
    private volatile bool _stopping;
    private long _restarts;
    private long _processed;
    private string? _lastError;
    private int _started;

    /// <param name="captureFactory">Makes the camera's capture (again, after an unexpected capture failure).</param>
    /// <param name="settings">The pipeline's first settings.</param>
    /// <param name="sourceKey">What identifies the source settings (a change restarts the camera).</param>
    public CameraWorker(string id, Func<CameraCapture> captureFactory, CameraPipelineSettings settings, CameraWorkerContext context, string sourceKey = "")
    {
        Id = id;
        _captureFactory = captureFactory;
        _settings = settings.Validate();
        _context = context;
        SourceKey = sourceKey;
        _logger = context.Loggers.CreateLogger($"edgemask.camera.{id}");
        _metrics = new CameraMetrics(id);
        _stage = new SnapshotEventStage(settings.Device, id, context.Snapshots, context.Sink, context.Loggers);
        FrameTap = new CameraFrameTap(context.Time, context.Snapshots()?.Options);
    }

    public string Id { get; }

    /// <summary>The source settings this worker was made for.</summary>
    public string SourceKey { get; }

    /// <summary>The capture in force (replaced only after an unexpected capture failure).</summary>
    public CameraCapture Capture => Volatile.Read(ref _capture) ?? throw new InvalidOperationException($"Camera {Id} is not started.");

    /// <summary>The camera's health: its capture's, or <c>failed</c> with the error when the camera could not start.</summary>
    public CameraHealth Health
    {
        get
        {
            if (Volatile.Read(ref _capture) is { } capture) return capture.Health;
            return new CameraHealth(Id, "", CameraHealthState.Failed, _context.Time.GetUtcNow(), null, _lastError, 0, 0, null, 0, 0, 0);
        }
    }

    /// <summary>Frames, faces, violations and frames/s, continued across pipeline restarts.</summary>
    public CameraCounters Counters => _counters;

    /// <summary>The faces this camera has learnt as pictures (posters, screens); readable from any thread.</summary>
    public IReadOnlyList<StationaryFace> StationaryFaces => _stationary.Current;

    /// <summary>The memory behind <see cref="StationaryFaces"/>: restored before the start, watched for changes to save.</summary>
    internal StationaryFaces StationaryMemory => _stationary;

    /// <summary>The camera's source as configured (the learnt pictures are kept per camera and source).</summary>
    public string Source { get; init; } = "";

    /// <summary>The pipeline in force (null between a failure and its replacement).</summary>
    public CameraPipeline? Pipeline => Volatile.Read(ref _pipeline);

    /// <summary>The event stage (snapshots, events) of this camera.</summary>
    public SnapshotEventStage Events => _stage;

    public CameraFrameTap FrameTap { get; }

    /// <summary>Times the pipeline or the capture was made again after an unexpected error.</summary>
    public long Restarts => Interlocked.Read(ref _restarts);

    /// <summary>The settings version the pipeline runs with (it takes new settings at a frame boundary).</summary>
    public long AppliedVersion => Pipeline?.AppliedVersion ?? -1;

    /// <summary>The settings last handed to this camera.</summary>
    public CameraPipelineSettings Settings => Volatile.Read(ref _settings);

    /// <summary>Completes when the camera's thread has ended (source ended, failed for good, <c>--max-frames</c>, or stopped).</summary>
    public Task Completion => _completion.Task;

    /// <summary>
    /// Starts the capture, the stage and the camera thread. A file or folder that cannot be read throws
    /// <see cref="FrameSourceUnavailableException"/> (it never comes back by waiting); a live source that is down is
    /// retried in the background while the camera runs.
    /// </summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _started, 1) != 0) throw new InvalidOperationException($"Camera {Id} is already started.");
        var capture = _captureFactory();
        try
        {
            await capture.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            _lastError = ex.Message;
            await capture.DisposeAsync().ConfigureAwait(false);
            _completion.TrySetResult();
            throw;
        }
        Volatile.Write(ref _capture, capture);
        if (_context.Run.AnnotatePath is { } annotate) Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(annotate))!);
        _stage.Start();
        _thread = new Thread(Run) { IsBackground = true, Name = $"camera-{Id}" };
        _thread.Start();
    }

    /// <summary>New live settings: the camera thread hands them to its pipeline at the next frame boundary (or tick).</summary>
    public void UpdateSettings(CameraPipelineSettings settings)
    {
        settings.Validate();
        Volatile.Write(ref _settings, settings);
        Volatile.Read(ref _capture)?.Wake();
    }

    /// <summary>Completes when the pipeline runs with settings of <paramref name="version"/> or later, or the camera has ended.</summary>
    public async Task<bool> WaitForSettingsAsync(long version, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = _context.Time.GetTimestamp();
        while (AppliedVersion < version && !Completion.IsCompleted)
        {
            if (_context.Time.GetElapsedTime(deadline) > timeout) return false;
            await Task.Delay(TimeSpan.FromMilliseconds(5), _context.Time, cancellationToken).ConfigureAwait(false);
        }
        return AppliedVersion >= version;
    }

    private void Run()
    {
        var time = _context.Time;
        CameraPipelineSettings? handed = null;
        VideoWriter? writer = null;
        int consecutiveFailures = 0;
        long healthyFrames = 0;
        try
        {
            while (!_stopping)
            {
                var pipeline = Volatile.Read(ref _pipeline);
                var capture = Capture;
                try
                {
                    if (pipeline is null)
                    {
                        pipeline = CreatePipeline(capture);
                        handed = pipeline.Settings;
                        Volatile.Write(ref _pipeline, pipeline);
                    }
                    var settings = Volatile.Read(ref _settings);
                    if (!ReferenceEquals(settings, handed))
                    {
                        pipeline.UpdateSettings(settings);
                        handed = settings;
                    }
                    switch (capture.WaitForFrame(TickInterval, out var frame))
                    {
                        case FrameWait.Frame:
                            using (frame!)
                            {
                                pipeline.ProcessFrame(frame!.Image, frame.Index, frame.CapturedAt, frame.CapturedTimestamp);
                                FrameTap.Offer(frame.Image, frame.CapturedAt, pipeline.Tracks);
                                // The alarm's watchdog switches this camera's lines off if the heartbeats stop (a hung pipeline).
                                _context.Heartbeat?.Invoke(Id);
                                _metrics.Health(CameraHealth.Name(capture.State), _counters, capture.FramesDropped);
                                _metrics.Snapshots(_stage.SnapshotsTaken, _stage.SnapshotsSkipped, _stage.PendingFrames);
                                if (_context.Run.AnnotatePath is { } path)
                                {
                                    writer ??= OpenWriter(path, frame.Image, capture.Source.NominalFps);
                                    // Where faces count, under the faces: the video is what an operator sets zones up with.
                                    Annotator.DrawPolicyOverlay(frame.Image, pipeline.Policy.Options, StationaryFaces);
                                    Annotator.DrawTracks(frame.Image, pipeline.Tracks);
                                    writer.Write(frame.Image);
                                }
                            }
                            if (++healthyFrames >= _context.HealthyFramesToResetBackoff) consecutiveFailures = 0;
                            if (_context.Run.MaxFrames is { } max && Interlocked.Increment(ref _processed) >= max) return;
                            break;
                        case FrameWait.Timeout:
                        case FrameWait.Woken:
                            pipeline.Tick();
                            _metrics.Health(CameraHealth.Name(capture.State), _counters, capture.FramesDropped);
                            _metrics.Snapshots(_stage.SnapshotsTaken, _stage.SnapshotsSkipped, _stage.PendingFrames);
                            break;
                        case FrameWait.Completed:
                            if (_stopping || !RestartCaptureIfBroken(capture)) return;
                            break;
                    }
                }
                catch (Exception ex) when (!_stopping && ex is not OutOfMemoryException)
                {
                    Interlocked.Increment(ref _restarts);
                    _metrics.Restarted();
                    consecutiveFailures++;
                    healthyFrames = 0;
                    var delay = RetryPolicy.DelayFor(_context.RestartBackoff, consecutiveFailures - 1, Random.Shared.NextDouble());
                    _logger.LogError(ex, "Camera {Camera}: the pipeline failed ({Error}); a new one starts in {DelaySeconds:0.0} s (restart {Restarts})", Id, ex.Message, delay.TotalSeconds, Restarts);
                    RetirePipeline();
                    handed = null;
                    _stopSignal.Wait(delay);
                }
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Only reached while stopping (or from the capture restart): the camera ends, the others run on.
            _logger.LogError(ex, "Camera {Camera} stopped on an error", Id);
        }
        finally
        {
            RetirePipeline();
            _context.PipelineStopped?.Invoke(Id);
            writer?.Dispose();
            _metrics.Health(CameraHealth.Name(Volatile.Read(ref _capture)?.State ?? CameraHealthState.Failed), _counters, Volatile.Read(ref _capture)?.FramesDropped ?? 0);
            _completion.TrySetResult();
        }
    }

    private CameraPipeline CreatePipeline(CameraCapture capture) =>
        new(Volatile.Read(ref _settings), _context.Models, _stage, _context.Sink, _context.Time, _logger, _metrics,
            new PipelineProbes
            {
                DroppedFrames = () => Capture.FramesDropped,
                CameraHealth = () => CameraHealth.Name(Capture.State),
                OutboxDepth = _context.OutboxDepth,
            }, _counters, _stationary);

    /// <summary>Ends the open episodes of the pipeline in force (reason <c>shutdown</c>) and releases it. Camera thread only.</summary>
    private void RetirePipeline()
    {
        var pipeline = Interlocked.Exchange(ref _pipeline, null);
        if (pipeline is null) return;
        try
        {
            pipeline.Complete();
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            _logger.LogError(ex, "Camera {Camera}: its open episodes could not be ended", Id);
        }
        pipeline.Dispose();
    }

    /// <summary>
    /// The capture ended. A source that ended (a file) or gave up (unreadable, attempts exhausted) ends the camera; a
    /// capture that died of an unexpected error is made again after the backoff. True when a new capture runs.
    /// </summary>
    private bool RestartCaptureIfBroken(CameraCapture capture)
    {
        if (capture.State != CameraHealthState.Failed || capture.Failure is null or FrameSourceUnavailableException or FrameSourceReadException)
            return false;
        Interlocked.Increment(ref _restarts);
        _metrics.Restarted();
        var delay = RetryPolicy.DelayFor(_context.RestartBackoff, 0, Random.Shared.NextDouble());
        _logger.LogError("Camera {Camera}: the capture failed ({Error}); a new one starts in {DelaySeconds:0.0} s", Id, capture.Failure.Message, delay.TotalSeconds);
        capture.Dispose();
        if (_stopSignal.Wait(delay)) return false;
        var next = _captureFactory();
        next.StartAsync().GetAwaiter().GetResult();
        Volatile.Write(ref _capture, next);
        return true;
    }

    private static VideoWriter OpenWriter(string path, Mat first, double fps)
    {
        var writer = new VideoWriter(path, FourCC.MJPG, fps is > 0 and < 240 ? fps : 15, first.Size());
        if (!writer.IsOpened()) throw new IOException($"Cannot write the annotated video {path} (use a .avi file name).");
        return writer;
    }

    /// <summary>
    /// Stops the camera: capture at once, the frame in flight completes, open episodes end (<c>shutdown</c>) and their
    /// events reach the sink. Waits at most <paramref name="timeout"/> for the camera thread; returns whether it ended.
    /// </summary>
    public async Task<bool> StopAsync(TimeSpan timeout)
    {
        _stopping = true;
        _stopSignal.Set();
        var capture = Volatile.Read(ref _capture);
        capture?.Wake();
        // The capture stops in parallel: its child process is killed, its thread leaves a blocking read.
        var captureStopped = capture?.DisposeAsync().AsTask() ?? Task.CompletedTask;
        bool ended = _thread is null || await Task.WhenAny(_completion.Task, Task.Delay(timeout)).ConfigureAwait(false) == _completion.Task;
        if (!ended)
            _logger.LogWarning("Camera {Camera}: the frame in flight did not finish within {Timeout}; its pipeline and models are left to the process exit", Id, timeout);
        await _stage.CompleteAsync(_context.SnapshotDrainGrace).ConfigureAwait(false);
        if (ended) FrameTap.Dispose();
        await Task.WhenAny(captureStopped, Task.Delay(timeout)).ConfigureAwait(false);
        return ended;
    }

    /// <summary>Removes the camera's series from /metrics (the camera left the configuration).</summary>
    public void RemoveMetrics() => _metrics.Remove();

    public async ValueTask DisposeAsync()
    {
        if (!_stopping) await StopAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        await _stage.DisposeAsync().ConfigureAwait(false);
    }
}
