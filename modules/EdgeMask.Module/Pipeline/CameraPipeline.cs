using System.Diagnostics;
using EdgeMask.Core.Detection;
using EdgeMask.Core.Events;
using EdgeMask.Core.Policy;
using EdgeMask.Core.Tracking;
using EdgeMask.Inference.Classification;
using EdgeMask.Inference.Detection;
using Microsoft.Extensions.Logging;
using OpenCvSharp;

namespace EdgeMask.Module.Pipeline;

/// <summary>What one camera's pipeline needs besides its frames.</summary>
public sealed record CameraPipelineSettings
{
    public required string Device { get; init; }
    public required string Camera { get; init; }
    public int DetectEveryNthFrame { get; init; } = 1;
    public FaceTrackerOptions Tracking { get; init; } = new();
    public ViolationPolicyOptions Violation { get; init; } = new();
    public TimeSpan StatsInterval { get; init; } = TimeSpan.FromSeconds(10);
    public string? ExecutionProvider { get; init; }
}

/// <summary>The counters a camera pipeline keeps, readable from any thread (console view, /metrics, twin).</summary>
public sealed class CameraCounters
{
    internal long FramesProcessed, FacesSeen, Events, Starts;
    internal double LastLatencyMs, FramesPerSecond;
    internal int ActiveViolations, LastFaces;

    public long Frames => Interlocked.Read(ref FramesProcessed);
    public long Faces => Interlocked.Read(ref FacesSeen);
    public long EventCount => Interlocked.Read(ref Events);
    public long ViolationStarts => Interlocked.Read(ref Starts);
    public double LatencyMs => Volatile.Read(ref LastLatencyMs);
    public double Fps => Volatile.Read(ref FramesPerSecond);
    public int Active => Volatile.Read(ref ActiveViolations);
    public int FacesInLastFrame => Volatile.Read(ref LastFaces);
}

/// <summary>
/// One camera's stages after capture: detect (every Nth frame) → classify all faces in one batch → track →
/// violation policy → snapshots → events and periodic stats. Owns its detector/classifier wrappers (their buffers),
/// not the sessions behind them. Runs on one thread; per-frame work reuses its lists and spans.
/// </summary>
public sealed class CameraPipeline : IDisposable
{
    private readonly CameraPipelineSettings _settings;
    private readonly RetinaFaceDetector _detector;
    private readonly MaskClassifier? _classifier;
    private readonly FaceTracker _tracker;
    private readonly ViolationPolicy _policy;
    private readonly MaskEventFactory _events;
    private readonly IPipelineSink _sink;
    private readonly IViolationSnapshotter? _snapshotter;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly List<FaceDetection> _faces = new(64);
    private MaskClassification[] _classifications = new MaskClassification[64];
    private readonly LatencyWindow _latencies = new();
    private readonly Func<long> _droppedFrames;
    private readonly Func<string?> _cameraHealth;

    private long _statsStartFrames;
    private long _statsStartTimestamp;
    private long _lastRateTimestamp;
    private long _lastRateFrames;
    private FaceCountersSnapshot _statsStartCounters;
    private DateTimeOffset _nextStatsAt;

    public CameraCounters Counters { get; } = new();
    public string Camera => _settings.Camera;
    /// <summary>The faces of the last detected frame (valid until the next frame), for annotation.</summary>
    public IReadOnlyList<FaceDetection> LastFaces => _faces;
    public ReadOnlySpan<FaceTrack> Tracks => _tracker.Tracks;
    public ViolationPolicy Policy => _policy;

    public CameraPipeline(CameraPipelineSettings settings, RetinaFaceDetector detector, MaskClassifier? classifier,
        IPipelineSink sink, IViolationSnapshotter? snapshotter, TimeProvider time, ILogger logger,
        Func<long>? droppedFrames = null, Func<string?>? cameraHealth = null)
    {
        _settings = settings;
        _detector = detector;
        _classifier = classifier;
        _tracker = new FaceTracker(settings.Tracking);
        _policy = new ViolationPolicy(settings.Violation, settings.Device, settings.Camera);
        _events = new MaskEventFactory(settings.Device, settings.Camera) { HasIncorrect = classifier?.Contract.HasIncorrect ?? true };
        _sink = sink;
        _snapshotter = snapshotter;
        _time = time;
        _logger = logger;
        _droppedFrames = droppedFrames ?? (() => 0);
        _cameraHealth = cameraHealth ?? (() => null);
        _statsStartTimestamp = _lastRateTimestamp = time.GetTimestamp();
        _nextStatsAt = time.GetUtcNow() + settings.StatsInterval;
        _statsStartCounters = _policy.Counters.Read();
        if (classifier is null)
            logger.LogWarning("Camera {Camera}: no mask classifier; faces are tracked but no violation can be raised", settings.Camera);
    }

    /// <summary>Runs every stage on one frame (8-bit BGR). <paramref name="capturedAt"/> is the frame's time for tracking and events.</summary>
    public void ProcessFrame(Mat frame, long frameIndex, DateTimeOffset capturedAt)
    {
        long started = Stopwatch.GetTimestamp();
        bool detect = frameIndex % _settings.DetectEveryNthFrame == 0;
        if (detect)
        {
            _detector.Detect(frame, _faces);
            int n = _faces.Count;
            if (_classifier is not null && n > 0)
            {
                if (_classifications.Length < n) _classifications = new MaskClassification[Math.Max(n, 2 * _classifications.Length)];
                _classifier.Classify(frame, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_faces), _classifications.AsSpan(0, n));
                _tracker.Update(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_faces), _classifications.AsSpan(0, n), frameIndex, capturedAt);
            }
            else
            {
                _tracker.Update(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_faces), frameIndex, capturedAt);
            }
            Interlocked.Add(ref Counters.FacesSeen, n);
            Volatile.Write(ref Counters.LastFaces, n);
        }
        else
        {
            _tracker.Predict(frameIndex, capturedAt);
        }

        var decisions = _policy.Evaluate(_tracker, frame.Width, frame.Height);
        if (_snapshotter is not null)
        {
            foreach (ref readonly var request in _policy.SnapshotRequests)
                request.Episode.Snapshot = _snapshotter.Take(_settings.Camera, frame, request, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_faces));
        }
        Emit(decisions);

        double ms = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        _latencies.Add(ms);
        Volatile.Write(ref Counters.LastLatencyMs, ms);
        Volatile.Write(ref Counters.ActiveViolations, _policy.ActiveViolations);
        long frames = Interlocked.Increment(ref Counters.FramesProcessed);
        UpdateRate(frames);
        if (_time.GetUtcNow() >= _nextStatsAt) PublishStats();
    }

    /// <summary>Ends every open episode (reason <c>shutdown</c>) and publishes the last stats: call when the source ends or the process stops.</summary>
    public void Complete()
    {
        Emit(_policy.Flush(_time.GetUtcNow()));
        Volatile.Write(ref Counters.ActiveViolations, _policy.ActiveViolations);
        PublishStats();
    }

    private void Emit(ReadOnlySpan<ViolationDecision> decisions)
    {
        foreach (ref readonly var decision in decisions)
        {
            var maskEvent = _events.Create(decision);
            Interlocked.Increment(ref Counters.Events);
            if (decision.Kind == ViolationDecisionKind.Start) Interlocked.Increment(ref Counters.Starts);
            _sink.OnEvent(maskEvent);
        }
    }

    private void UpdateRate(long frames)
    {
        long now = _time.GetTimestamp();
        var elapsed = _time.GetElapsedTime(_lastRateTimestamp, now);
        if (elapsed < TimeSpan.FromSeconds(1)) return;
        Volatile.Write(ref Counters.FramesPerSecond, (frames - _lastRateFrames) / elapsed.TotalSeconds);
        _lastRateFrames = frames;
        _lastRateTimestamp = now;
    }

    private void PublishStats()
    {
        long now = _time.GetTimestamp();
        var interval = _time.GetElapsedTime(_statsStartTimestamp, now);
        long frames = Counters.Frames;
        var counters = _policy.Counters.Read();
        var (p50, p95, max) = _latencies.TakePercentiles();
        var stats = new CameraStats
        {
            Device = _settings.Device,
            Camera = _settings.Camera,
            At = _time.GetUtcNow(),
            IntervalSeconds = Math.Round(interval.TotalSeconds, 3),
            FramesPerSecond = interval.TotalSeconds > 0 ? Math.Round((frames - _statsStartFrames) / interval.TotalSeconds, 2) : 0,
            LatencyMs = new LatencyStats(Math.Round(p50, 2), Math.Round(p95, 2), Math.Round(max, 2)),
            FramesProcessed = frames,
            DroppedFrames = _droppedFrames(),
            FacesSeen = counters.FacesSeen - _statsStartCounters.FacesSeen,
            FacesUnmasked = counters.FacesUnmasked - _statsStartCounters.FacesUnmasked,
            FacesByLabel = new LabelCounts(
                counters.LabelledMask - _statsStartCounters.LabelledMask,
                counters.LabelledNoMask - _statsStartCounters.LabelledNoMask,
                counters.LabelledIncorrect - _statsStartCounters.LabelledIncorrect),
            ComplianceRate = counters.ComplianceRateSince(_statsStartCounters),
            ActiveViolations = _policy.ActiveViolations,
            CameraHealth = _cameraHealth(),
            ExecutionProvider = _settings.ExecutionProvider,
        };
        _statsStartFrames = frames;
        _statsStartTimestamp = now;
        _statsStartCounters = counters;
        _nextStatsAt = _time.GetUtcNow() + _settings.StatsInterval;
        _sink.OnStats(stats);
    }

    public void Dispose()
    {
        _detector.Dispose();
        _classifier?.Dispose();
        (_snapshotter as IDisposable)?.Dispose();
    }
}
