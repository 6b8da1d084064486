using EdgeMask.Core.Events;
using EdgeMask.Core.Policy;
using EdgeMask.Messaging;
using Prometheus;

namespace EdgeMask.Module.Pipeline;

/// <summary>
/// Hands events and stats to store-and-forward publishing (outbox first, then MQTT / IoT Hub), in the contract version
/// the device publishes (<c>contract.version</c>; badly worn masks folded as <paramref name="incorrectCounts"/> says for
/// version 1). Never blocks.
/// </summary>
public sealed class PublisherSink(EventPublisher publisher, int contractVersion = EventContract.CurrentVersion,
    IncorrectMaskCounting incorrectCounts = IncorrectMaskCounting.Violation) : IPipelineSink
{
    public void OnEvent(MaskEvent maskEvent) => publisher.Enqueue(maskEvent.ForVersion(contractVersion, incorrectCounts));
    public void OnStats(CameraStats stats) => publisher.Enqueue(stats.ForVersion(contractVersion));
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
    private static readonly Counter Dropped = Metrics.CreateCounter("edgemask_frames_dropped_total", "Frames dropped because inference was busy (newest frame wins).", "camera");
    private static readonly Histogram Latency = Metrics.CreateHistogram("edgemask_frame_latency_seconds", "Time from frame hand-over to events, per frame.",
        new HistogramConfiguration { LabelNames = ["camera"], Buckets = Histogram.ExponentialBuckets(0.005, 1.6, 12) });
    private static readonly Gauge Faces = Metrics.CreateGauge("edgemask_faces", "Faces in the last detected frame.", "camera");
    private static readonly Counter Violations = Metrics.CreateCounter("edgemask_violations_total", "Violation episodes started.", "camera");
    private static readonly Gauge Active = Metrics.CreateGauge("edgemask_violations_active", "Violation episodes currently open.", "camera");
    private static readonly Gauge Fps = Metrics.CreateGauge("edgemask_frames_per_second", "Frames per second over the last second.", "camera");
    private static readonly Gauge Health = Metrics.CreateGauge("edgemask_camera_up", "1 when the camera delivers frames.", "camera");

    private readonly Counter.Child _frames, _dropped, _violations;
    private readonly Histogram.Child _latency;
    private readonly Gauge.Child _faces, _active, _fps, _health;
    private long _lastDropped;

    public CameraMetrics(string camera)
    {
        _frames = Frames.WithLabels(camera);
        _dropped = Dropped.WithLabels(camera);
        _latency = Latency.WithLabels(camera);
        _faces = Faces.WithLabels(camera);
        _violations = Violations.WithLabels(camera);
        _active = Active.WithLabels(camera);
        _fps = Fps.WithLabels(camera);
        _health = Health.WithLabels(camera);
    }

    public void Observe(CameraCounters counters, long droppedTotal, bool cameraUp, double latencyMs)
    {
        _frames.Inc();
        _latency.Observe(latencyMs / 1000.0);
        _faces.Set(counters.FacesInLastFrame);
        _active.Set(counters.Active);
        _fps.Set(counters.Fps);
        _health.Set(cameraUp ? 1 : 0);
        if (droppedTotal > _lastDropped) { _dropped.Inc(droppedTotal - _lastDropped); _lastDropped = droppedTotal; }
    }

    public void ViolationStarted() => _violations.Inc();
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

/// <summary>Drives the local alarm (light, buzzer, announcement) from violation events.</summary>
public sealed class AlarmSink(EdgeMask.Alarm.LocalAlarm alarm) : IPipelineSink
{
    public void OnEvent(MaskEvent maskEvent) => alarm.Handle(maskEvent);
    public void OnStats(CameraStats stats) { }
}

/// <summary>
/// Takes the snapshots the policy asks for with the camera's <see cref="Snapshots.CameraSnapshotter"/> and publishes the JPEG on the
/// snapshot topic through the outbox — only when it was stored, so an event never names a snapshot that does not exist.
/// </summary>
public sealed class PublishingSnapshotter(Snapshots.CameraSnapshotter snapshotter, EventPublisher? publisher) : IViolationSnapshotter, IDisposable
{
    public EventSnapshot Take(string camera, OpenCvSharp.Mat frame, in EdgeMask.Core.Policy.SnapshotRequest request, ReadOnlySpan<EdgeMask.Core.Detection.FaceDetection> faces)
    {
        var result = snapshotter.Take(frame, request, faces);
        if (result.Available && result.PublishJpeg is { } jpeg && result.Id is { } id) publisher?.EnqueueSnapshot(camera, id, jpeg);
        return request.Episode.Snapshot;
    }

    public void Dispose() => snapshotter.Dispose();
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
