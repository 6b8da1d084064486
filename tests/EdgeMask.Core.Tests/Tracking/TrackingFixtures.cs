using EdgeMask.Core.Detection;
using EdgeMask.Core.Events;
using EdgeMask.Core.Geometry;
using EdgeMask.Core.Policy;
using EdgeMask.Core.Tracking;

namespace EdgeMask.Core.Tests.Tracking;

/// <summary>Faces, times and a tracker+policy harness built in code, for the tracking and policy specifications.</summary>
internal static class Faces
{
    public static readonly DateTimeOffset T0 = new(2026, 3, 1, 8, 0, 0, TimeSpan.Zero);
    public const double Fps = 15;

    public static DateTimeOffset At(long frame, double fps = Fps) => T0 + TimeSpan.FromSeconds(frame / fps);

    /// <summary>A square face of side <paramref name="size"/> centred at (cx, cy), with plausible landmarks.</summary>
    public static FaceDetection Face(float cx, float cy, float size, float score = 0.9f)
    {
        BoxF box = BoxF.FromCenter(cx, cy, size, size);
        float s = size;
        var lm = new Landmarks5(
            new(cx - 0.2f * s, cy - 0.12f * s), new(cx + 0.2f * s, cy - 0.12f * s), new(cx, cy + 0.05f * s),
            new(cx - 0.15f * s, cy + 0.22f * s), new(cx + 0.15f * s, cy + 0.22f * s));
        return new FaceDetection(box, score, lm);
    }

    public static MaskClassification Masked(float pMask = 0.95f) => new(pMask);
    public static MaskClassification Unmasked(float pNoMask = 0.95f) => new(1f - pNoMask);

    /// <summary>A badly worn mask: p(incorrect) as given, p(no_mask) <paramref name="pNoMask"/>, p(mask) the rest.</summary>
    public static MaskClassification Incorrect(float pIncorrect = 0.9f, float pNoMask = 0.05f) => new(1f - pIncorrect - pNoMask, pNoMask, pIncorrect);
}

/// <summary>
/// One camera's tracker + policy + event factory driven frame by frame the way the pipeline does it:
/// tracker step → policy → snapshot requests answered (kept per episode id) → events built naming them.
/// </summary>
internal sealed class PipelineHarness
{
    public const string Device = "dev1";
    public const string Camera = "cam1";

    public PipelineHarness(FaceTrackerOptions? tracking = null, ViolationPolicyOptions? policy = null,
        int width = 960, int height = 540, double fps = Faces.Fps)
    {
        Tracker = new FaceTracker(tracking ?? new FaceTrackerOptions());
        Policy = new ViolationPolicy(policy ?? new ViolationPolicyOptions(), Device, Camera);
        Factory = new MaskEventFactory(Device, Camera);
        Width = width;
        Height = height;
        FramesPerSecond = fps;
    }

    public FaceTracker Tracker { get; }
    public ViolationPolicy Policy { get; }
    public MaskEventFactory Factory { get; }
    public int Width { get; }
    public int Height { get; }
    public double FramesPerSecond { get; }
    public long Frame { get; private set; } = -1;
    public List<MaskEvent> Events { get; } = [];
    public List<SnapshotRequest> Snapshots { get; } = [];
    private readonly Dictionary<string, EventSnapshot> _stored = [];

    /// <summary>A step of the wall clock (NTP) added to every frame's time from now on.</summary>
    public TimeSpan ClockStep { get; set; }

    public DateTimeOffset Now => Faces.At(Frame, FramesPerSecond) + ClockStep;

    /// <summary>A frame with detection; each face carries its classification (null = not classified).</summary>
    public IReadOnlyList<MaskEvent> Step(params (FaceDetection Face, MaskClassification? Class)[] faces)
    {
        Frame++;
        var detections = new FaceDetection[faces.Length];
        for (int i = 0; i < faces.Length; i++) detections[i] = faces[i].Face;
        Tracker.Update(detections, Frame, Now);
        foreach (FaceTrack t in Tracker.Tracks)
        {
            if (t.IsObservedThisFrame && faces[t.Observation.DetectionIndex].Class is { } c)
                t.AttachClassification(c);
        }
        return Decide(Policy.Evaluate(Tracker, Width, Height));
    }

    /// <summary>A frame without detection (tracked by prediction only).</summary>
    public IReadOnlyList<MaskEvent> Predict()
    {
        Frame++;
        Tracker.Predict(Frame, Now);
        return Decide(Policy.Evaluate(Tracker, Width, Height));
    }

    public IReadOnlyList<MaskEvent> Flush() => Decide(Policy.Flush(Now));

    private List<MaskEvent> Decide(ReadOnlySpan<ViolationDecision> decisions)
    {
        foreach (SnapshotRequest r in Policy.SnapshotRequests)
        {
            Snapshots.Add(r);
            _stored[r.Episode.Id] = new EventSnapshot(true, $"snap-{Snapshots.Count}", Topics.Snapshot(Device, Camera), false);
        }
        var made = new List<MaskEvent>();
        foreach (ref readonly ViolationDecision d in decisions) made.Add(Factory.Create(d, _stored.GetValueOrDefault(d.Episode.Id, EventSnapshot.None)));
        Events.AddRange(made);
        return made;
    }

    public IEnumerable<MaskEvent> OfType(string type) => Events.Where(e => e.Type == type);
    public int Starts => OfType(EventTypes.ViolationStart).Count();
    public int Ends => OfType(EventTypes.ViolationEnd).Count();

    /// <summary>Every start has exactly one end with the same id, sequences 0..n-1 without gaps, the end last.</summary>
    public void AssertEpisodesWellFormed(bool requireClosed = true)
    {
        foreach (var episode in Events.GroupBy(e => e.Id))
        {
            var list = episode.ToList();
            Assert.True(EventTypes.IsStart(list[0].Type), $"episode {episode.Key} begins with {list[0].Type}");
            Assert.Equal(Enumerable.Range(0, list.Count), list.Select(e => e.Sequence));
            Assert.Single(list, e => EventTypes.IsStart(e.Type));
            // One kind per episode: violation.* or incorrect.* throughout.
            Assert.All(list, e => Assert.Equal(EventTypes.IsIncorrect(list[0].Type), EventTypes.IsIncorrect(e.Type)));
            int ends = list.Count(e => EventTypes.IsEnd(e.Type));
            if (requireClosed) Assert.Equal(1, ends);
            else Assert.True(ends <= 1);
            if (ends == 1) Assert.True(EventTypes.IsEnd(list[^1].Type));
            Assert.All(list, e => Assert.Equal(list[0].TrackId, e.TrackId));
            Assert.All(list, e => Assert.Equal(list[0].StartedAt, e.StartedAt));
        }
    }
}
