using EdgeMask.Core.Detection;
using EdgeMask.Core.Events;
using EdgeMask.Core.Geometry;
using EdgeMask.Core.Policy;
using EdgeMask.Core.Tracking;
using EdgeMask.Module.Snapshots;
using EdgeMask.Tests.Shared;

namespace EdgeMask.Module.Tests.Snapshots;

/// <summary>The snapshot step as the pipeline runs it: the real tracker and violation policy ask, the snapshotter answers.</summary>
public sealed class CameraSnapshotterTests : IDisposable
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);
    private readonly VocPhoto _photo = new();
    private readonly string _root = TestPaths.NewTempDirectory("edgemask-snapshotter");
    private readonly ManualTimeProvider _time = new(T0);

    public void Dispose()
    {
        _photo.Dispose();
        Directory.Delete(_root, recursive: true);
    }

    /// <summary>The photo's three faces as detections, every frame; the violator unmasked, the others masked.</summary>
    private (FaceDetection[] Faces, MaskClassification[] Classes) Frame()
    {
        var faces = _photo.Faces.Select(b => new FaceDetection(b, 0.98f, Landmarks(b))).ToArray();
        var classes = _photo.Faces.Select(b => new MaskClassification(b == _photo.Violator ? 0.03f : 0.97f)).ToArray();
        return (faces, classes);
    }

    private static Landmarks5 Landmarks(BoxF b) => new(
        new(b.X1 + b.Width * 0.3f, b.Y1 + b.Height * 0.4f), new(b.X1 + b.Width * 0.7f, b.Y1 + b.Height * 0.4f),
        new(b.CenterX, b.CenterY), new(b.X1 + b.Width * 0.35f, b.Y1 + b.Height * 0.75f), new(b.X1 + b.Width * 0.65f, b.Y1 + b.Height * 0.75f));

    /// <summary>Runs frames through tracker and policy until the violation starts; returns that step's request and decision.</summary>
    private static (SnapshotRequest Request, ViolationDecision Start) RunUntilStart(FaceTracker tracker, ViolationPolicy policy,
        FaceDetection[] faces, MaskClassification[] classes)
    {
        for (int i = 0; i < 50; i++)
        {
            tracker.Update(faces, classes, i, T0.AddMilliseconds(100 * i));
            ReadOnlySpan<ViolationDecision> decisions = policy.Evaluate(tracker, 400, 306);
            if (policy.SnapshotRequests.Length > 0)
                return (policy.SnapshotRequests[0], decisions[0]);
        }
        throw new InvalidOperationException("The policy never started a violation.");
    }

    [Fact]
    public void Take_PolicyStartRequest_StoredAndTheEventBuiltWithTheResultNamesIt()
    {
        using var store = new SnapshotStore(new SnapshotOptions { Directory = _root }, time: _time);
        using var snapshotter = new CameraSnapshotter(store, "dev-1", "door");
        var tracker = new FaceTracker(new FaceTrackerOptions());
        var policy = new ViolationPolicy(new ViolationPolicyOptions(), "dev-1", "door");
        var (faces, classes) = Frame();

        var (request, start) = RunUntilStart(tracker, policy, faces, classes);
        SnapshotResult result = snapshotter.Take(_photo.Frame, request, faces);
        MaskEvent e = new MaskEventFactory("dev-1", "door").Create(start, result.ToEventSnapshot(snapshotter.Topic));

        Assert.True(request.IsStart);
        Assert.True(result.Available, result.Error);
        Assert.True(result.Blurred);
        Assert.Equal(new EventSnapshot(true, result.Id, "edgemask/dev-1/door/snapshot", true), e.Snapshot);
        Assert.Equal(Topics.Snapshot("dev-1", "door"), snapshotter.Topic);
        Assert.NotNull(result.PublishJpeg);
        using var published = SnapshotFiles.Decode(result.PublishJpeg!);
        Assert.Equal((400, 306), (published.Width, published.Height));
        Assert.NotNull(store.Read(result.Id, SnapshotImageKind.Crop));
    }

    [Fact]
    public void Take_ImprovementSoonAfterTheLastSnapshot_ThrottledUntilTheIntervalPassed()
    {
        using var store = new SnapshotStore(new SnapshotOptions { Directory = _root, MinIntervalPerEpisode = TimeSpan.FromSeconds(2) }, time: _time);
        using var snapshotter = new CameraSnapshotter(store, "dev-1", "door");
        var tracker = new FaceTracker(new FaceTrackerOptions());
        var policy = new ViolationPolicy(new ViolationPolicyOptions(), "dev-1", "door");
        var (faces, classes) = Frame();
        var (start, _) = RunUntilStart(tracker, policy, faces, classes);
        string firstId = snapshotter.Take(_photo.Frame, start, faces).Id!;

        SnapshotRequest soon = start with { IsStart = false, Observation = start.Observation with { Timestamp = start.Observation.Timestamp.AddSeconds(1) } };
        SnapshotRequest later = start with { IsStart = false, Observation = start.Observation with { Timestamp = start.Observation.Timestamp.AddSeconds(2.5) } };

        Assert.Equal(SnapshotStatus.Throttled, snapshotter.Take(_photo.Frame, soon, faces).Status);
        Assert.NotNull(store.Find(firstId));
        SnapshotResult second = snapshotter.Take(_photo.Frame, later, faces);
        Assert.True(second.Available);
        Assert.NotEqual(firstId, second.Id);
        Assert.Equal(2, store.SnapshotCount);
    }

    [Fact]
    public void Take_DiskFull_NoExceptionEpisodeWithoutSnapshotAndTheEventStillBuilt()
    {
        var fs = new DiskFullFileSystem { DiskFull = true };
        using var store = new SnapshotStore(new SnapshotOptions { Directory = _root }, time: _time, fileSystem: fs);
        using var snapshotter = new CameraSnapshotter(store, "dev-1", "door");
        var tracker = new FaceTracker(new FaceTrackerOptions());
        var policy = new ViolationPolicy(new ViolationPolicyOptions(), "dev-1", "door");
        var (faces, classes) = Frame();
        var (request, start) = RunUntilStart(tracker, policy, faces, classes);

        SnapshotResult result = snapshotter.Take(_photo.Frame, request, faces);
        MaskEvent e = new MaskEventFactory("dev-1", "door").Create(start, result.ToEventSnapshot(snapshotter.Topic));

        Assert.Equal(SnapshotStatus.Failed, result.Status);
        Assert.Equal(EventSnapshot.None, e.Snapshot);
        Assert.Equal(EventTypes.ViolationStart, e.Type);
        Assert.Contains("\"available\":false", System.Text.Encoding.UTF8.GetString(EventJsonContext.Serialize(e)));

        fs.DiskFull = false;
        SnapshotResult retry = snapshotter.Take(_photo.Frame, request, faces);
        Assert.True(retry.Available);
        Assert.NotNull(store.Find(retry.Id));
    }

    [Fact]
    public void Take_Disabled_NothingRenderedNothingStored()
    {
        using var store = new SnapshotStore(new SnapshotOptions { Directory = Path.Combine(_root, "off"), Enabled = false }, time: _time);
        using var snapshotter = new CameraSnapshotter(store, "dev-1", "door");
        var tracker = new FaceTracker(new FaceTrackerOptions());
        var policy = new ViolationPolicy(new ViolationPolicyOptions(), "dev-1", "door");
        var (faces, classes) = Frame();
        var (request, _) = RunUntilStart(tracker, policy, faces, classes);

        var result = snapshotter.Take(_photo.Frame, request, faces);
        Assert.Equal(SnapshotStatus.Disabled, result.Status);
        Assert.Equal(EventSnapshot.None, result.ToEventSnapshot(snapshotter.Topic));
        Assert.False(Directory.Exists(Path.Combine(_root, "off")));
    }
}
