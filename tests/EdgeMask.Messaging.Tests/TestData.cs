using EdgeMask.Core.Events;
using EdgeMask.Messaging.Outbox;

namespace EdgeMask.Messaging.Tests;

/// <summary>Contract records filled the way the pipeline fills them.</summary>
public static class TestData
{
    public static readonly DateTimeOffset T0 = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);

    public static MaskEvent Event(string camera, int n, string type = EventTypes.ViolationStart, string device = "dev1") => new()
    {
        Id = $"{camera}-ep{n:D5}",
        Type = type,
        Sequence = EventTypes.IsStart(type) ? 0 : 1,
        Device = device,
        Camera = camera,
        TrackId = n,
        StartedAt = T0.AddSeconds(n),
        At = T0.AddSeconds(n),
        EndedAt = EventTypes.IsEnd(type) ? T0.AddSeconds(n + 5) : null,
        EndReason = EventTypes.IsEnd(type) ? "lost" : null,
        Frame = new EventFrame(960, 540),
        Face = new EventFace([100f, 50f, 180f, 150f], [100f / 960, 50f / 540, 180f / 960, 150f / 540],
            [[120f, 80f], [160f, 80f], [140f, 100f], [125f, 125f], [155f, 125f]], 0.97f),
        Mask = new EventMask("no_mask", 0.93f, 10, 8) { Probabilities = new EventProbabilities(0.05f, 0.93f, 0.02f) },
        Snapshot = new EventSnapshot(true, $"snap-{camera}-{n}", Topics.Snapshot(device, camera), false),
    };

    public static CameraStats Stats(string camera, string device = "dev1") => new()
    {
        Device = device,
        Camera = camera,
        At = T0,
        IntervalSeconds = 10,
        FramesPerSecond = 24.8,
        LatencyMs = new LatencyStats(31.5, 48.2, 70.1),
        FramesProcessed = 248,
        DroppedFrames = 3,
        FacesSeen = 57,
        FacesUnmasked = 9,
        FacesByLabel = new LabelCounts(40, 6, 3),
        ComplianceRate = 0.84,
        ActiveViolations = 1,
        CameraHealth = "ok",
        ExecutionProvider = "CPU",
        OutboxDepth = 0,
    };

    public static DeviceStatus Status(string state, string device = "dev1") => new()
    {
        Device = device,
        State = state,
        At = T0,
        Version = "1.0.0",
        ExecutionProvider = "CPU",
        Cameras = [new CameraHealthReport("cam1", "ok", T0, null, 0), new CameraHealthReport("cam2", "reconnecting", null, "no frame for 5 s", 2)],
    };

    public static OutboxEntry Entry(int n, OutboxKinds kind = OutboxKinds.Event, string camera = "cam1", int bytes = 100) =>
        new(kind, camera, $"edgemask/dev1/{camera}/{kind.ToString().ToLowerInvariant()}", Enumerable.Repeat((byte)(n % 251), bytes).ToArray(),
            MessageId: $"m{n}");
}
