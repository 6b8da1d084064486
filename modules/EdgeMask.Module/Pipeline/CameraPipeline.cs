using System.Diagnostics;
using System.Runtime.InteropServices;
using EdgeMask.Core.Detection;
using EdgeMask.Core.Events;
using EdgeMask.Core.Geometry;
using EdgeMask.Core.Policy;
using EdgeMask.Core.Resilience;
using EdgeMask.Core.Tracking;
using EdgeMask.Inference.Detection;
using Microsoft.Extensions.Logging;
using OpenCvSharp;

namespace EdgeMask.Module.Pipeline;

/// <summary>
/// The live settings of one camera's pipeline: one immutable snapshot, swapped whole at a frame boundary
/// (<see cref="CameraPipeline.UpdateSettings"/>). <see cref="Version"/> says which device configuration it came from.
/// </summary>
public sealed record CameraPipelineSettings
{
    public required string Device { get; init; }
    public required string Camera { get; init; }
    public int DetectEveryNthFrame { get; init; } = 1;
    public DetectorOptions Detector { get; init; } = new();
    public FaceTrackerOptions Tracking { get; init; } = new();
    public ViolationPolicyOptions Violation { get; init; } = new();
    /// <summary>
    /// Classify faces smaller than <see cref="ViolationPolicyOptions.MinFaceSize"/> too. Off by default: such a face can
    /// never start a violation and the classifier is only validated from 20 px up, so classifying it buys only a
    /// compliance statistic of doubtful worth at a classifier run per face — in a crowd, a quarter of the frame's faces.
    /// </summary>
    public bool ClassifySmallFaces { get; init; }
    /// <summary>
    /// A track whose policy window is settled (<see cref="ViolationPolicy.IsSettled"/>: N frames agreeing) has its face
    /// classified on every Nth frame only, staggered by track id so a crowd's settled faces spread over the frames; 1
    /// classifies every face on every frame. In a crowd most faces are settled, and the classifier is most of a crowd
    /// frame's time; the price is that a settled face's change is seen up to N − 1 frames later (3: 133 ms at 15
    /// frames/s, against the 333 ms a start needs anyway: K = 5 frames).
    /// </summary>
    public int ClassifySettledEveryNthFrame { get; init; } = 3;
    public TimeSpan StatsInterval { get; init; } = TimeSpan.FromSeconds(10);
    /// <summary>The configuration version these settings belong to (0: not from a managed configuration).</summary>
    public long Version { get; init; }

    public CameraPipelineSettings Validate()
    {
        if (!Configuration.EdgeMaskOptions.IsTopicSafe(Device)) throw new InvalidOptionException("device", Device, "must be a topic-safe name.");
        if (!Configuration.EdgeMaskOptions.IsTopicSafe(Camera)) throw new InvalidOptionException("camera", Camera, "must be a topic-safe name.");
        if (DetectEveryNthFrame is < 1 or > 30) throw new InvalidOptionException("detector:detectEveryNthFrame", DetectEveryNthFrame, "must be between 1 and 30.");
        if (ClassifySettledEveryNthFrame is < 1 or > 8) throw new InvalidOptionException("classifier:settledEveryNthFrame", ClassifySettledEveryNthFrame, "must be between 1 (every frame) and 8.");
        try { Detector.Validate(); }
        catch (ArgumentException ex) { throw new InvalidOptionException("detector", null, ex.Message); }
        Tracking.Validate("tracking");
        Violation.Validate("violation");
        if (StatsInterval <= TimeSpan.Zero) throw new InvalidOptionException("stats:interval", StatsInterval, "must be positive.");
        return this;
    }
}

/// <summary>Per-camera facts the pipeline reads for its stats (health, drops, outbox), from any thread.</summary>
public sealed record PipelineProbes
{
    public Func<long> DroppedFrames { get; init; } = static () => 0;
    public Func<string?> CameraHealth { get; init; } = static () => null;
    /// <summary>Messages waiting in the outbox (all destinations); null when there is none.</summary>
    public Func<long?> OutboxDepth { get; init; } = static () => null;
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
/// One camera's stages after capture: detect (every Nth frame) → classify all faces in one batch → track → violation
/// policy → events (with their snapshots, through <see cref="IEventOutput"/>) and periodic stats and metrics. Depends
/// on the detection and classification interfaces, never on ONNX Runtime, so every path is testable with fakes.
/// </summary>
/// <remarks>
/// Runs on its camera's thread only; per-frame work reuses its lists and spans. Two things may change while it runs,
/// both taken at the next frame boundary on that thread, so a frame is always processed with one consistent set:
/// <list type="bullet">
/// <item>settings (<see cref="UpdateSettings"/>): thresholds, tracking, policy, zones, stats interval — the tracker's
/// tracks and the policy's open episodes are kept; a changed detector input size or threshold makes a new detector
/// wrapper over the same sessions;</item>
/// <item>models (the <see cref="IModelSource"/>'s generation): a new detector and classifier over the new sessions,
/// then the lease on the old ones is released (the model service closes them when no camera holds them).</item>
/// </list>
/// Owns its detector/classifier wrappers and its model lease; not the sessions, the output or the sink.
/// </remarks>
public sealed class CameraPipeline : IDisposable
{
    private readonly IModelSource _models;
    private readonly IEventOutput _output;
    private readonly IPipelineSink _sink;
    private readonly CameraMetrics? _metrics;
    private readonly PipelineProbes _probes;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly FaceTracker _tracker;
    private readonly ViolationPolicy _policy;
    private readonly List<FaceDetection> _faces = new(64);
    private readonly LatencyWindow _latencies = new();
    private MaskClassification[] _classifications = new MaskClassification[64];
    // Faces worth classifying this frame (tracked, big enough for the policy, not settled or due) and their tracks.
    private readonly List<FaceDetection> _toClassify = new(64);
    private readonly List<FaceTrack> _classifiedTracks = new(64);
    private CameraPipelineSettings _settings;
    private CameraPipelineSettings? _pending;
    private long _appliedVersion;
    private IModelLease _lease;
    private IFaceDetector _detector;
    private IMaskClassifier? _classifier;
    private long _modelsReplaced;

    private long _statsStartFrames;
    private long _statsStartTimestamp;
    private long _lastRateTimestamp;
    private long _lastRateFrames;
    private FaceCountersSnapshot _statsStartCounters;
    // What /metrics last showed of the learnt pictures (the list in force and the starts held by this pipeline's policy).
    private IReadOnlyList<StationaryFace>? _stationaryMetered;
    private long _heldMetered;
    private readonly ClockStepDetector _clockSteps;
    private bool _disposed;

    /// <param name="settings">The first settings (validated here).</param>
    /// <param name="models">Where detectors and classifiers come from; a lease is taken here.</param>
    /// <param name="output">Where each step's decisions go (events, snapshots).</param>
    /// <param name="sink">Where the stats go (events go through <paramref name="output"/>).</param>
    /// <param name="metrics">Prometheus series of this camera (null: none).</param>
    /// <param name="counters">Counters to continue (a camera's counters outlive a pipeline restart); null: new ones.</param>
    /// <param name="stationary">The camera's learnt stationary faces, to continue likewise; null: new ones.</param>
    public CameraPipeline(CameraPipelineSettings settings, IModelSource models, IEventOutput output, IPipelineSink sink,
        TimeProvider time, ILogger logger, CameraMetrics? metrics = null, PipelineProbes? probes = null, CameraCounters? counters = null,
        StationaryFaces? stationary = null)
    {
        Counters = counters ?? new CameraCounters();
        _settings = (settings ?? throw new ArgumentNullException(nameof(settings))).Validate();
        _models = models;
        _output = output;
        _sink = sink;
        _metrics = metrics;
        _probes = probes ?? new PipelineProbes();
        _time = time;
        _logger = logger;
        _tracker = new FaceTracker(settings.Tracking);
        _clockSteps = new ClockStepDetector(time);
        _policy = new ViolationPolicy(settings.Violation, settings.Device, settings.Camera, stationary: stationary);
        _appliedVersion = settings.Version;
        _lease = models.Acquire();
        try
        {
            (_detector, _classifier) = CreateStages(_lease.Models, settings.Detector);
            output.ClassifierChanged(_classifier?.HasIncorrect ?? true);
        }
        catch
        {
            _lease.Dispose();
            throw;
        }
        _statsStartTimestamp = _lastRateTimestamp = time.GetTimestamp();
        _statsStartFrames = _lastRateFrames = Counters.Frames;
        _statsStartCounters = _policy.Counters.Read();
        if (_classifier is null)
            logger.LogWarning("Camera {Camera}: no mask classifier; faces are tracked but no violation can be raised", settings.Camera);
    }

    public CameraCounters Counters { get; }
    public string Camera => _settings.Camera;
    /// <summary>The settings in force (camera thread; other threads see the latest applied snapshot).</summary>
    public CameraPipelineSettings Settings => Volatile.Read(ref _settings);
    /// <summary>The version of the settings in force: the camera took them at a frame boundary (any thread).</summary>
    public long AppliedVersion => Interlocked.Read(ref _appliedVersion);
    /// <summary>The model generation this pipeline runs on.</summary>
    public long ModelGeneration => _lease.Models.Generation;
    /// <summary>Times the pipeline moved to a new model generation.</summary>
    public long ModelsReplaced => Interlocked.Read(ref _modelsReplaced);
    public string ExecutionProvider => _lease.Models.ExecutionProvider;
    /// <summary>The faces of the last detected frame (valid until the next frame), for annotation.</summary>
    public IReadOnlyList<FaceDetection> LastFaces => _faces;
    public ReadOnlySpan<FaceTrack> Tracks => _tracker.Tracks;
    public ViolationPolicy Policy => _policy;

    /// <summary>
    /// Hands over new settings (any thread); the camera takes them before its next frame (or its next
    /// <see cref="Tick"/>), then <see cref="AppliedVersion"/> says so. Device and camera id cannot change.
    /// </summary>
    public void UpdateSettings(CameraPipelineSettings settings)
    {
        settings.Validate();
        if (settings.Device != _settings.Device || settings.Camera != _settings.Camera)
            throw new ArgumentException("A pipeline's device and camera id are fixed; start a new pipeline for another.", nameof(settings));
        Volatile.Write(ref _pending, settings);
    }

    /// <summary>Runs every stage on one frame (8-bit BGR). <paramref name="capturedAt"/> is the frame's time for tracking and events.</summary>
    /// <param name="capturedTimestamp">The capture's monotonic timestamp of the frame (<see cref="TimeProvider.GetTimestamp"/>
    /// of this pipeline's clock), to see the wall clock step between frames; 0 when the times are the caller's own (a replay).</param>
    public void ProcessFrame(Mat frame, long frameIndex, DateTimeOffset capturedAt, long capturedTimestamp = 0)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        AtFrameBoundary();
        FollowClockStep(capturedAt, capturedTimestamp);
        long started = Stopwatch.GetTimestamp();
        bool detect = frameIndex % _settings.DetectEveryNthFrame == 0;
        if (detect)
        {
            _detector.Detect(frame, _faces);
            int n = _faces.Count;
            if (_classifier is not null && n > 0)
            {
                if (_classifications.Length < n) _classifications = new MaskClassification[Math.Max(n, 2 * _classifications.Length)];
                if (_settings.ClassifySmallFaces && _settings.ClassifySettledEveryNthFrame == 1)
                {
                    _classifier.Classify(frame, CollectionsMarshal.AsSpan(_faces), _classifications.AsSpan(0, n));
                    _tracker.Update(CollectionsMarshal.AsSpan(_faces), _classifications.AsSpan(0, n), frameIndex, capturedAt);
                }
                else
                {
                    // Track first (association does not use the labels), then classify only the faces whose label can
                    // matter: a detection no track took, a face too small to count, a settled track between its
                    // re-checks would be classified for nothing.
                    _tracker.Update(CollectionsMarshal.AsSpan(_faces), frameIndex, capturedAt);
                    int k = SelectFacesToClassify(frameIndex, frame.Width, frame.Height);
                    if (k > 0)
                    {
                        _classifier.Classify(frame, CollectionsMarshal.AsSpan(_toClassify), _classifications.AsSpan(0, k));
                        for (int j = 0; j < k; j++) _classifiedTracks[j].AttachClassification(_classifications[j]);
                    }
                }
            }
            else
            {
                _tracker.Update(CollectionsMarshal.AsSpan(_faces), frameIndex, capturedAt);
            }
            Interlocked.Add(ref Counters.FacesSeen, n);
            Volatile.Write(ref Counters.LastFaces, n);
        }
        else
        {
            _tracker.Predict(frameIndex, capturedAt);
        }

        var decisions = _policy.Evaluate(_tracker, frame.Width, frame.Height);
        Emit(decisions, _policy.SnapshotRequests, frame);
        foreach (StationaryFace learnt in _policy.LearnedThisStep) LogLearned(learnt);
        // The list is replaced only when a picture is learnt, forgotten or holds a start: a reference compare per frame.
        if (_metrics is not null && !ReferenceEquals(_stationaryMetered, _policy.Stationary.Current)) MeterStationary();

        double ms = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        _latencies.Add(ms);
        Volatile.Write(ref Counters.LastLatencyMs, ms);
        Volatile.Write(ref Counters.ActiveViolations, _policy.ActiveViolations);
        long frames = Interlocked.Increment(ref Counters.FramesProcessed);
        UpdateRate(frames);
        _metrics?.Observe(Counters, _probes.DroppedFrames(), ms);
        if (StatsDue) PublishStats();
    }

    /// <summary>
    /// Fills <see cref="_toClassify"/> (and <see cref="_classifiedTracks"/>) with the faces of this step's observed
    /// tracks that are worth a classifier run: big enough for the policy to count (short side of the box clipped to the
    /// frame at least the violation's min face size, the test the policy applies to the same box; unless small faces
    /// are classified too), and not settled — or settled and due this frame. Returns how many.
    /// </summary>
    private int SelectFacesToClassify(long frameIndex, int width, int height)
    {
        float minSide = _settings.ClassifySmallFaces ? 0f : _settings.Violation.MinFaceSize;
        int every = _settings.ClassifySettledEveryNthFrame;
        _toClassify.Clear();
        _classifiedTracks.Clear();
        foreach (FaceTrack track in _tracker.Tracks)
        {
            if (!track.IsObservedThisFrame) continue;
            TrackObservation obs = track.Observation;
            if (obs.Box.ClipTo(width, height).ShortSide < minSide) continue;
            if (every > 1 && (frameIndex + track.Id) % every != 0 && _policy.IsSettled(track.Id)) continue;
            _toClassify.Add(_faces[obs.DetectionIndex]);
            _classifiedTracks.Add(track);
        }
        return _toClassify.Count;
    }

    /// <summary>
    /// Called by the camera thread when no frame came for a while (a source connecting, a slow stream): takes new
    /// settings and models, keeps frames/s honest, and publishes the periodic stats (with the camera's health) even
    /// without frames, so a camera that is down is seen as down.
    /// </summary>
    public void Tick()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        AtFrameBoundary();
        UpdateRate(Counters.Frames);
        if (StatsDue) PublishStats();
    }

    /// <summary>Ends every open episode (reason <c>shutdown</c>) and publishes the last stats: call when the source ends or the camera stops.</summary>
    public void Complete()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        Emit(_policy.Flush(_time.GetUtcNow()), ReadOnlySpan<SnapshotRequest>.Empty, null);
        Volatile.Write(ref Counters.ActiveViolations, _policy.ActiveViolations);
        PublishStats();
    }

    private void AtFrameBoundary()
    {
        if (Volatile.Read(ref _pending) is not null) ApplyPendingSettings();
        if (_models.Generation != _lease.Models.Generation) ReplaceModels();
    }

    private void ApplyPendingSettings()
    {
        var next = Interlocked.Exchange(ref _pending, null);
        if (next is null) return;
        var previous = _settings;
        if (next.Detector != previous.Detector)
        {
            // Thresholds and input size live in the detector wrapper (its buffers follow the input size): a new one
            // over the same session, made before the old one goes, so a failure leaves the old one working.
            var detector = _lease.Models.CreateDetector(next.Detector);
            _detector.Dispose();
            _detector = detector;
        }
        if (next.Tracking != previous.Tracking) _tracker.Reconfigure(next.Tracking);
        if (!ReferenceEquals(next.Violation, previous.Violation) && next.Violation != previous.Violation) _policy.Reconfigure(next.Violation);
        Volatile.Write(ref _settings, next);
        Interlocked.Exchange(ref _appliedVersion, next.Version);
        _logger.LogDebug("Camera {Camera} took settings version {Version}", next.Camera, next.Version);
    }

    // Compact, unlike the config file's own options: the zone goes on one log line, ready to paste into a config or twin.
    private static readonly System.Text.Json.JsonSerializerOptions ZoneJson = new(Configuration.ConfigLoader.JsonOptions) { WriteIndented = false };

    /// <summary>
    /// A learnt picture is worth a warning: the operator learns that a poster or screen is in view and gets the zone that
    /// ignores it for good (learning alone forgets it when the module restarts, and reports its first appearance).
    /// </summary>
    private void LogLearned(StationaryFace learnt)
    {
        BoxF n = learnt.NormalizedBox;
        string zone = System.Text.Json.JsonSerializer.Serialize(learnt.SuggestedIgnoreZone($"stationary-{learnt.LearnedAt.UtcDateTime:yyyyMMddHHmmss}"), ZoneJson);
        _logger.LogWarning(
            "Camera {Camera}: a face has not moved for {Seconds} s at x {X1}–{X2}, y {Y1}–{Y2} of the frame: taken for a picture (a poster, a screen). " +
            "Where it is found again it starts no violation until it leaves that spot. If it is a picture, ignore it for good: add {Zone} to violation.ignoreZones (or this camera's ignoreZones)",
            _settings.Camera, _settings.Violation.Stationary.After.TotalSeconds, n.X1, n.X2, n.Y1, n.Y2, zone);
    }

    /// <summary>
    /// The frames' times are wall-clock times (events carry them), so a step of the system clock between two frames (NTP,
    /// <see cref="ClockStepDetector"/>) would look like hours of absence to the tracker (every track lost, every person in
    /// view started again) and stretch or cut every cooldown; the tracker's and the policy's instants move by the step.
    /// </summary>
    private void FollowClockStep(DateTimeOffset capturedAt, long capturedTimestamp)
    {
        if (capturedTimestamp == 0) return;
        TimeSpan step = _clockSteps.Observe(capturedAt, capturedTimestamp);
        if (step == TimeSpan.Zero) return;
        _tracker.ShiftTimes(step);
        _policy.ShiftTimes(step);
        _logger.LogWarning("Camera {Camera}: the system clock was set by {Step} (NTP?); tracks, open violations and cooldowns follow it",
            _settings.Camera, step);
    }

    private void MeterStationary()
    {
        _stationaryMetered = _policy.Stationary.Current;
        long held = _policy.Counters.Read().StationaryHeld;
        _metrics!.Stationary(_stationaryMetered.Count, held - _heldMetered);
        _heldMetered = held;
    }

    private void ReplaceModels()
    {
        var lease = _models.Acquire();
        IFaceDetector detector;
        IMaskClassifier? classifier;
        try
        {
            (detector, classifier) = CreateStages(lease.Models, _settings.Detector);
        }
        catch
        {
            lease.Dispose();
            throw;
        }
        _detector.Dispose();
        _classifier?.Dispose();
        _lease.Dispose();
        (_lease, _detector, _classifier) = (lease, detector, classifier);
        _output.ClassifierChanged(classifier?.HasIncorrect ?? true);
        Interlocked.Increment(ref _modelsReplaced);
        _logger.LogInformation("Camera {Camera} runs on model generation {Generation} ({Provider})", _settings.Camera, lease.Models.Generation, lease.Models.ExecutionProvider);
    }

    private static (IFaceDetector, IMaskClassifier?) CreateStages(IModelSet models, DetectorOptions options)
    {
        var detector = models.CreateDetector(options);
        try
        {
            return (detector, models.CreateClassifier());
        }
        catch
        {
            detector.Dispose();
            throw;
        }
    }

    private void Emit(ReadOnlySpan<ViolationDecision> decisions, ReadOnlySpan<SnapshotRequest> requests, Mat? frame)
    {
        if (decisions.IsEmpty && requests.IsEmpty) return;
        foreach (ref readonly var decision in decisions)
        {
            Interlocked.Increment(ref Counters.Events);
            if (decision.Kind == ViolationDecisionKind.Start)
            {
                Interlocked.Increment(ref Counters.Starts);
                _metrics?.ViolationStarted();
            }
        }
        _output.Submit(decisions, requests, frame, CollectionsMarshal.AsSpan(_faces));
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

    /// <summary>
    /// Whether the stats interval has passed since the last stats, on the monotonic clock: the wall clock may step (NTP
    /// setting a Jetson's clock after boot, by hours), and stats timed by it would stop for as long as a step back.
    /// </summary>
    private bool StatsDue => _time.GetElapsedTime(_statsStartTimestamp) >= _settings.StatsInterval;

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
            IntervalSeconds = Math.Max(0.001, Math.Round(interval.TotalSeconds, 3)),
            FramesPerSecond = interval.TotalSeconds > 0 ? Math.Round((frames - _statsStartFrames) / interval.TotalSeconds, 2) : 0,
            LatencyMs = new LatencyStats(Math.Round(p50, 2), Math.Round(p95, 2), Math.Round(max, 2)),
            FramesProcessed = frames,
            DroppedFrames = _probes.DroppedFrames(),
            FacesSeen = counters.FacesSeen - _statsStartCounters.FacesSeen,
            FacesUnmasked = counters.FacesUnmasked - _statsStartCounters.FacesUnmasked,
            FacesByLabel = new LabelCounts(
                counters.LabelledMask - _statsStartCounters.LabelledMask,
                counters.LabelledNoMask - _statsStartCounters.LabelledNoMask,
                counters.LabelledIncorrect - _statsStartCounters.LabelledIncorrect),
            ComplianceRate = counters.ComplianceRateSince(_statsStartCounters),
            ActiveViolations = _policy.ActiveViolations,
            CameraHealth = _probes.CameraHealth(),
            ExecutionProvider = _lease.Models.ExecutionProvider,
            OutboxDepth = _probes.OutboxDepth(),
        };
        _statsStartFrames = frames;
        _statsStartTimestamp = now;
        _statsStartCounters = counters;
        _sink.OnStats(stats);
    }

    /// <summary>Disposes the detector and classifier wrappers and releases the model lease (camera thread, after its last frame).</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _detector.Dispose();
        _classifier?.Dispose();
        _lease.Dispose();
    }
}
