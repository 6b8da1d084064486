using EdgeMask.Core.Events;
using EdgeMask.Core.Policy;
using EdgeMask.Messaging;
using Prometheus;

namespace EdgeMask.Module.Pipeline;

/// <summary>
/// The event contract the device publishes (<c>contract.version</c>; for version 1 a badly worn mask is folded as
/// <c>violation.incorrectCounts</c> says): projects what the pipeline raises (always the current version) into the
/// documents consumers get. Applied when a document is handed to store-and-forward, so what waits in the outbox is
/// already what is published.
/// </summary>
public sealed record PublishedContract(int Version, IncorrectMaskCounting IncorrectCounts)
{
    public static PublishedContract Current { get; } = new(EventContract.CurrentVersion, IncorrectMaskCounting.Violation);

    public MaskEvent Project(MaskEvent maskEvent) => maskEvent.ForVersion(Version, IncorrectCounts);

    public CameraStats Project(CameraStats stats) => stats.ForVersion(Version);
}

/// <summary>Prints each violation event as one line (the console view of <c>edgemask run</c>).</summary>
public sealed class ConsoleEventSink(TextWriter output) : IPipelineSink
{
    private readonly Lock _gate = new();

    public void OnEvent(MaskEvent e)
    {
        string what = EventTypes.IsIncorrect(e.Type) ? "incorrect mask" : "violation";
        string line = e.Type switch
        {
            _ when EventTypes.IsStart(e.Type) => $"{e.At:HH:mm:ss} {e.Camera} {what.ToUpperInvariant()} START  track {e.TrackId,-5} p({e.Mask.Label}) {e.Mask.Probability:0.00}  face {e.Face.Box[2] - e.Face.Box[0]:0}px  {e.Id}",
            _ when EventTypes.IsUpdate(e.Type) => $"{e.At:HH:mm:ss} {e.Camera} {what} update track {e.TrackId,-5} p({e.Mask.Label}) {e.Mask.Probability:0.00}  {e.Mask.FramesUnmasked}/{e.Mask.FramesObserved} frames unmasked",
            _ => $"{e.At:HH:mm:ss} {e.Camera} {what} end    track {e.TrackId,-5} {e.EndReason}  after {(e.At - e.StartedAt).TotalSeconds:0.0}s",
        };
        lock (_gate) output.WriteLine(line);
    }

    public void OnStats(CameraStats stats) { }
}

/// <summary>Per-camera Prometheus metrics. Labelled children are resolved once so a frame costs no lookup or allocation.</summary>
public sealed class CameraMetrics
{
    private static readonly Counter Frames = Metrics.CreateCounter("edgemask_frames_processed_total", "Frames that went through the pipeline.", "camera");
    private static readonly Counter DroppedFrames = Metrics.CreateCounter("edgemask_frames_dropped_total", "Frames dropped because inference was busy (newest frame wins).", "camera");
    private static readonly Histogram Latency = Metrics.CreateHistogram("edgemask_frame_latency_seconds", "Time from frame hand-over to events, per frame.",
        new HistogramConfiguration { LabelNames = ["camera"], Buckets = Histogram.ExponentialBuckets(0.005, 1.6, 12) });
    private static readonly Gauge Faces = Metrics.CreateGauge("edgemask_faces", "Faces in the last detected frame.", "camera");
    private static readonly Counter Violations = Metrics.CreateCounter("edgemask_violations_total", "Violation episodes started.", "camera");
    private static readonly Gauge Active = Metrics.CreateGauge("edgemask_violations_active", "Violation episodes currently open.", "camera");
    private static readonly Gauge Fps = Metrics.CreateGauge("edgemask_frames_per_second", "Frames per second over the last second.", "camera");
    private static readonly Gauge CameraUp = Metrics.CreateGauge("edgemask_camera_up", "1 when the camera delivers frames.", "camera");
    private static readonly Gauge State = Metrics.CreateGauge("edgemask_camera_state",
        "1 for the camera's current health (starting, connecting, ok, reconnecting, failed, ended, stopped), 0 for the others.", "camera", "state");
    private static readonly Counter Restarts = Metrics.CreateCounter("edgemask_camera_restarts_total",
        "Times the camera's pipeline or capture was restarted after an unexpected error.", "camera");
    private static readonly Counter SnapshotsTaken = Metrics.CreateCounter("edgemask_snapshots_taken_total",
        "Violation snapshots rendered and handed to the store (off the camera thread, at a lower CPU priority).", "camera");
    private static readonly Counter SnapshotsSkipped = Metrics.CreateCounter("edgemask_snapshots_skipped_total",
        "Snapshot requests skipped because the camera's queue of frame copies was full (their events name an earlier snapshot, or none).", "camera");
    private static readonly Gauge SnapshotQueue = Metrics.CreateGauge("edgemask_snapshot_queue_frames", "Frame copies waiting for snapshot encoding.", "camera");
    private static readonly Gauge Pictures = Metrics.CreateGauge("edgemask_stationary_faces",
        "Faces the camera learnt as pictures (posters, screens): where one is found again it starts no violation until it leaves that spot.", "camera");
    private static readonly Counter StartsHeld = Metrics.CreateCounter("edgemask_violation_starts_held_total",
        "Violation starts held back because the face was at a learnt picture's spot and had not moved.", "camera");
    private static readonly string[] StateNames = ["starting", "connecting", "ok", "reconnecting", "failed", "ended", "stopped"];

    private readonly string _camera;
    private readonly Counter.Child _frames, _dropped, _violations, _restarts, _snapshotsTaken, _snapshotsSkipped, _startsHeld;
    private readonly Gauge.Child _snapshotQueue, _pictures;
    private long _lastTaken, _lastSkipped;
    private readonly Histogram.Child _latency;
    private readonly Gauge.Child _faces, _active, _fps, _health;
    private readonly Gauge.Child[] _states;
    private long _lastDropped;
    private string? _lastState;

    public CameraMetrics(string camera)
    {
        _camera = camera;
        _frames = Frames.WithLabels(camera);
        _dropped = DroppedFrames.WithLabels(camera);
        _latency = Latency.WithLabels(camera);
        _faces = Faces.WithLabels(camera);
        _violations = Violations.WithLabels(camera);
        _active = Active.WithLabels(camera);
        _fps = Fps.WithLabels(camera);
        _health = CameraUp.WithLabels(camera);
        _restarts = Restarts.WithLabels(camera);
        _states = StateNames.Select(s => State.WithLabels(camera, s)).ToArray();
        _snapshotsTaken = SnapshotsTaken.WithLabels(camera);
        _snapshotsSkipped = SnapshotsSkipped.WithLabels(camera);
        _snapshotQueue = SnapshotQueue.WithLabels(camera);
        _pictures = Pictures.WithLabels(camera);
        _startsHeld = StartsHeld.WithLabels(camera);
        _startsHeld.Inc(0);
        _snapshotsTaken.Inc(0);
        _snapshotsSkipped.Inc(0);
        // Prometheus shows a counter only once it has a value: 0 says "seen, none yet" rather than "unknown".
        _violations.Inc(0);
        _restarts.Inc(0);
    }

    /// <summary>After each processed frame (camera thread).</summary>
    public void Observe(CameraCounters counters, long droppedTotal, double latencyMs)
    {
        _frames.Inc();
        _latency.Observe(latencyMs / 1000.0);
        _faces.Set(counters.FacesInLastFrame);
        _active.Set(counters.Active);
        _fps.Set(counters.Fps);
        Dropped(droppedTotal);
    }

    /// <summary>The capture's state (per frame it is a string compare; changes set the one-hot gauges).</summary>
    public void Health(string state, CameraCounters counters, long droppedTotal)
    {
        if (!ReferenceEquals(state, _lastState))
        {
            _lastState = state;
            _health.Set(state == "ok" ? 1 : 0);
            for (int i = 0; i < StateNames.Length; i++) _states[i].Set(StateNames[i] == state ? 1 : 0);
        }
        _fps.Set(counters.Fps);
        Dropped(droppedTotal);
    }

    private void Dropped(long droppedTotal)
    {
        if (droppedTotal > _lastDropped) { _dropped.Inc(droppedTotal - _lastDropped); _lastDropped = droppedTotal; }
    }

    public void ViolationStarted() => _violations.Inc();

    /// <summary>The event stage's snapshot totals so far and its queue (camera thread, after each frame or tick).</summary>
    public void Snapshots(long takenTotal, long skippedTotal, int pendingFrames)
    {
        if (takenTotal > _lastTaken) { _snapshotsTaken.Inc(takenTotal - _lastTaken); _lastTaken = takenTotal; }
        if (skippedTotal > _lastSkipped) { _snapshotsSkipped.Inc(skippedTotal - _lastSkipped); _lastSkipped = skippedTotal; }
        _snapshotQueue.Set(pendingFrames);
    }

    public void Restarted() => _restarts.Inc();

    /// <summary>The camera's learnt pictures and the starts they held back since the last call (camera thread, when they change).</summary>
    public void Stationary(int pictures, long newlyHeld)
    {
        _pictures.Set(pictures);
        if (newlyHeld > 0) _startsHeld.Inc(newlyHeld);
    }

    /// <summary>Removes the camera's series (a camera taken out of the configuration must not linger in /metrics).</summary>
    public void Remove()
    {
        Frames.RemoveLabelled(_camera);
        DroppedFrames.RemoveLabelled(_camera);
        Latency.RemoveLabelled(_camera);
        Faces.RemoveLabelled(_camera);
        Violations.RemoveLabelled(_camera);
        Active.RemoveLabelled(_camera);
        Fps.RemoveLabelled(_camera);
        CameraUp.RemoveLabelled(_camera);
        Restarts.RemoveLabelled(_camera);
        SnapshotsTaken.RemoveLabelled(_camera);
        SnapshotsSkipped.RemoveLabelled(_camera);
        SnapshotQueue.RemoveLabelled(_camera);
        Pictures.RemoveLabelled(_camera);
        StartsHeld.RemoveLabelled(_camera);
        foreach (var s in StateNames) State.RemoveLabelled(_camera, s);
    }
}

/// <summary>Device-wide messaging metrics: outbox depth per destination and broker connection.</summary>
public static class MessagingMetricsExport
{
    private static readonly Gauge Depth = Metrics.CreateGauge("edgemask_outbox_depth", "Messages waiting in the outbox, per destination.", "destination");
    private static readonly Gauge Connected = Metrics.CreateGauge("edgemask_destination_connected", "1 when the destination (broker, IoT Hub) is connected.", "destination");
    private static readonly Gauge Stored = Metrics.CreateGauge("edgemask_outbox_bytes", "Bytes stored in the outbox.");
    private static readonly Gauge Lost = Metrics.CreateGauge("edgemask_outbox_dropped_total", "Messages dropped by the outbox bound or lost before it.");

    public static void Update(MessagingMetrics m)
    {
        foreach (var d in m.Destinations)
        {
            Depth.WithLabels(d.Destination).Set(d.Depth);
            Connected.WithLabels(d.Destination).Set(d.Connected ? 1 : 0);
        }
        Stored.Set(m.StoredBytes);
        Lost.Set(m.DroppedByBound + m.LostBeforeOutbox);
    }
}

/// <summary>The model sessions in /metrics: how often they were opened (a live settings change opens none).</summary>
public static class ModelMetricsExport
{
    private static readonly Gauge Opened = Metrics.CreateGauge("edgemask_model_sessions_opened_total", "ONNX Runtime sessions opened since the process started.");
    private static readonly Gauge Generation = Metrics.CreateGauge("edgemask_model_generation", "Model generation in force (1 at start, +1 per reload after a model or provider change).");

    public static void Update(long sessionsOpened, long generation)
    {
        Opened.Set(sessionsOpened);
        Generation.Set(generation);
    }
}

/// <summary>The alarm's lines in /metrics: whether each output is on (the physical level is in the reported properties).</summary>
public static class AlarmMetricsExport
{
    private static readonly Gauge LineOn = Metrics.CreateGauge("edgemask_alarm_line_on", "1 while the output's line is driven on (blink phases included).", "output");
    private static readonly Gauge LineActive = Metrics.CreateGauge("edgemask_alarm_line_active", "1 while the output is active for a violation or a test (steady through blink phases).", "output");
    private static readonly Gauge Activations = Metrics.CreateGauge("edgemask_alarm_activations_total", "Times the output was switched on for a violation.", "output");
    private static readonly Gauge QuietHours = Metrics.CreateGauge("edgemask_alarm_quiet_hours", "1 during quiet hours.");

    public static void Update(EdgeMask.Alarm.AlarmSnapshot snapshot)
    {
        foreach (var line in snapshot.Lines)
        {
            LineOn.WithLabels(line.Name).Set(line.On ? 1 : 0);
            LineActive.WithLabels(line.Name).Set(line.Active ? 1 : 0);
            Activations.WithLabels(line.Name).Set(line.Activations);
        }
        QuietHours.Set(snapshot.QuietHours ? 1 : 0);
    }
}
