using System.Globalization;
using EdgeMask.Core.Detection;
using EdgeMask.Core.Events;
using EdgeMask.Core.Policy;
using EdgeMask.Core.Tracking;
using EdgeMask.Inference.Detection;
using EdgeMask.Module.Hosting;
using EdgeMask.Module.Pipeline;
using EdgeMask.Module.Snapshots;
using EdgeMask.Module.Tests.Snapshots;
using Microsoft.Extensions.Logging.Abstractions;
using OpenCvSharp;
using static EdgeMask.Module.Tests.Pipeline.FakeModels;

namespace EdgeMask.Module.Tests.Pipeline;

/// <summary>
/// The camera pipeline on its own, over fake detection and classification: events, stats, metrics, snapshots, live
/// settings and a model reload, each path driven frame by frame on a manual clock.
/// </summary>
public sealed class CameraPipelineTests : IDisposable
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 1, 9, 0, 0, TimeSpan.Zero);
    private readonly ManualTimeProvider _time = new(T0);
    private readonly Mat _frame = new(540, 960, MatType.CV_8UC3, Scalar.All(90));
    private readonly FakeModels _models = new();
    private readonly RecordingSink _sink = new();
    private readonly string _camera = "cam-" + Guid.NewGuid().ToString("N")[..8];

    public void Dispose() => _frame.Dispose();

    private CameraPipelineSettings Settings(long version = 1, ViolationPolicyOptions? violation = null, float score = 0.5f) => new()
    {
        Device = "dev",
        Camera = _camera,
        Detector = new DetectorOptions { Thresholds = new DetectionThresholds { ScoreThreshold = score } },
        // Confirm at once so a handful of frames makes a violation.
        Tracking = new FaceTrackerOptions { ConfirmHits = 1 },
        Violation = violation ?? new ViolationPolicyOptions(),
        StatsInterval = TimeSpan.FromSeconds(10),
        Version = version,
    };

    private CameraPipeline Pipeline(CameraPipelineSettings? settings = null, IEventOutput? output = null, CameraMetrics? metrics = null,
        PipelineProbes? probes = null) =>
        new(settings ?? Settings(), _models, output ?? new DirectEventOutput("dev", _camera, _sink), _sink, _time, NullLogger.Instance, metrics, probes);

    private void Frames(CameraPipeline pipeline, int count, ref long index)
    {
        for (int i = 0; i < count; i++)
        {
            pipeline.ProcessFrame(_frame, index, _time.GetUtcNow());
            index++;
            _time.Advance(TimeSpan.FromMilliseconds(66));
        }
    }

    [Fact]
    public void ProcessFrame_UnmaskedPersonForFiveFrames_OneStartEventCountedInCountersAndMetrics()
    {
        _models.Faces = _ => [Face(300, 250)];
        using var pipeline = Pipeline(metrics: new CameraMetrics(_camera));
        long index = 0;

        Frames(pipeline, 8, ref index);

        var start = Assert.Single(_sink.Events);
        Assert.Equal(EventTypes.ViolationStart, start.Type);
        Assert.Equal(_camera, start.Camera);
        Assert.Equal(EventSnapshot.None, start.Snapshot);
        Assert.Equal(1, pipeline.Counters.ViolationStarts);
        Assert.Equal(1, pipeline.Counters.Active);
        Assert.Equal(8, pipeline.Counters.Frames);
        Assert.Equal(8, pipeline.Counters.Faces);
        // The metric that always said 0.
        Assert.Equal("1", PrometheusText.Metric("edgemask_violations_total", _camera));
        Assert.Equal("8", PrometheusText.Metric("edgemask_frames_processed_total", _camera));
        Assert.Equal("1", PrometheusText.Metric("edgemask_violations_active", _camera));
    }

    [Fact]
    public void Complete_OpenEpisode_EndedWithReasonShutdownAndLastStatsPublished()
    {
        _models.Faces = _ => [Face(300, 250)];
        using var pipeline = Pipeline();
        long index = 0;
        Frames(pipeline, 6, ref index);

        pipeline.Complete();

        var end = Assert.Single(_sink.OfType(EventTypes.ViolationEnd));
        Assert.Equal("shutdown", end.EndReason);
        Assert.Equal(_sink.OfType(EventTypes.ViolationStart).Single().Id, end.Id);
        Assert.Equal(0, pipeline.Counters.Active);
        Assert.Equal(0, Assert.Single(_sink.Stats).ActiveViolations);
    }

    [Fact]
    public void Stats_IntervalElapsed_CarryHealthDropsOutboxDepthAndProvider()
    {
        _models.Faces = _ => [Face(300, 250), Face(700, 250)];
        _models.MaskProbability = f => f.Box.X1 > 480 ? 0.95f : 0.05f;
        // Every face classified on every frame, so the compliance rate is exactly one of two (settled faces are
        // otherwise sampled every other frame, staggered by track id, which moves the rate by a frame's worth).
        using var pipeline = Pipeline(Settings() with { ClassifySettledEveryNthFrame = 1 },
            probes: new PipelineProbes { DroppedFrames = () => 7, CameraHealth = () => "ok", OutboxDepth = () => 42 });
        long index = 0;

        Frames(pipeline, 10, ref index);
        _time.Advance(TimeSpan.FromSeconds(10));
        Frames(pipeline, 1, ref index);

        var stats = Assert.Single(_sink.Stats);
        Assert.Equal(_camera, stats.Camera);
        Assert.Equal(11, stats.FramesProcessed);
        Assert.Equal(7, stats.DroppedFrames);
        Assert.Equal("ok", stats.CameraHealth);
        Assert.Equal(42, stats.OutboxDepth);
        Assert.Equal("fake", stats.ExecutionProvider);
        Assert.Equal(22, stats.FacesSeen);
        Assert.Equal(0.5, stats.ComplianceRate!.Value, 3);
        var validation = Messaging.Schemas.ContractSchemas.ValidateStats(EventJsonContext.Serialize(stats));
        Assert.True(validation.IsValid, validation.ToString());
    }

    /// <summary>Frames as a camera delivers them: the wall-clock time and the monotonic timestamp of the capture.</summary>
    private void CapturedFrames(CameraPipeline pipeline, int count, ref long index)
    {
        for (int i = 0; i < count; i++)
        {
            pipeline.ProcessFrame(_frame, index, _time.GetUtcNow(), _time.GetTimestamp());
            index++;
            _time.Advance(TimeSpan.FromMilliseconds(66));
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(-1)]
    public void ProcessFrame_WallClockSetByAnHourDuringAViolation_OneEpisodeEndedMaskedWithItsRealDuration(int hours)
    {
        _models.Faces = _ => [Face(300, 250)];
        using var pipeline = Pipeline();
        long index = 0;
        CapturedFrames(pipeline, 8, ref index);
        var start = Assert.Single(_sink.Events);

        // NTP sets the clock while the person is in view: an hour of absence to a tracker timed by the wall clock.
        _time.StepWallClock(TimeSpan.FromHours(hours));
        CapturedFrames(pipeline, 10, ref index);
        _models.MaskProbability = _ => 0.95f;
        CapturedFrames(pipeline, 6, ref index);

        Assert.Equal([EventTypes.ViolationStart, EventTypes.ViolationEnd], _sink.Events.Select(e => e.Type));
        var end = _sink.Events.Last();
        Assert.Equal(start.Id, end.Id);
        Assert.Equal("masked", end.EndReason);
        // The start on the corrected clock, so the episode lasts what it lasted (about 1.3 s), not an hour more or less.
        Assert.Equal(start.StartedAt + TimeSpan.FromHours(hours), end.StartedAt);
        Assert.InRange((end.EndedAt!.Value - end.StartedAt).TotalSeconds, 0.5, 2);
    }

    [Fact]
    public void Stats_WallClockSetBackAnHour_StillEveryInterval()
    {
        using var pipeline = Pipeline();
        long index = 0;
        Frames(pipeline, 1, ref index);

        // NTP corrects a clock that ran an hour ahead: stats timed by the wall clock would stop for that hour.
        _time.StepWallClock(TimeSpan.FromHours(-1));
        for (int i = 0; i < 3; i++)
        {
            _time.Advance(TimeSpan.FromSeconds(10));
            pipeline.Tick();
        }

        Assert.Equal(3, _sink.Stats.Count);
        Assert.All(_sink.Stats, s => Assert.InRange(s.IntervalSeconds, 10, 10.1));
    }

    [Fact]
    public void Tick_NoFramesForAnInterval_StatsStillPublishedWithTheCameraHealth()
    {
        string health = "connecting";
        using var pipeline = Pipeline(probes: new PipelineProbes { CameraHealth = () => health });

        _time.Advance(TimeSpan.FromSeconds(11));
        pipeline.Tick();

        var stats = Assert.Single(_sink.Stats);
        Assert.Equal("connecting", stats.CameraHealth);
        Assert.Equal(0, stats.FramesProcessed);
        Assert.Equal(0, stats.FramesPerSecond);
        var validation = Messaging.Schemas.ContractSchemas.ValidateStats(EventJsonContext.Serialize(stats));
        Assert.True(validation.IsValid, validation.ToString());
    }

    [Fact]
    public void UpdateSettings_MidEpisode_TakenAtTheNextFrameEpisodeKeptDetectorRemadeOverTheSameModels()
    {
        _models.Faces = _ => [Face(300, 250)];
        using var pipeline = Pipeline();
        long index = 0;
        Frames(pipeline, 6, ref index);
        Assert.Single(_sink.Events);
        int leases = _models.OpenLeases;

        pipeline.UpdateSettings(Settings(version: 2, score: 0.8f, violation: new ViolationPolicyOptions { StartProbability = 0.9f }));
        Assert.Equal(1, pipeline.AppliedVersion);            // not before the next frame boundary
        Frames(pipeline, 1, ref index);

        Assert.Equal(2, pipeline.AppliedVersion);
        Assert.Equal(0.8f, pipeline.Settings.Detector.Thresholds.ScoreThreshold);
        Assert.Equal(0.9f, pipeline.Policy.Options.StartProbability);
        Assert.Equal(2, _models.DetectorsCreated);
        Assert.Equal(1, _models.DetectorsDisposed);
        Assert.Equal(0.8f, _models.DetectorOptionsSeen.Last().Thresholds.ScoreThreshold);
        Assert.Equal(leases, _models.OpenLeases);
        // The violation in progress goes on: no end, no second start.
        Assert.Single(_sink.Events);
        Assert.Equal(1, pipeline.Counters.Active);
    }

    [Fact]
    public void UpdateSettings_OnlyPolicyChanged_DetectorKept()
    {
        using var pipeline = Pipeline();
        long index = 0;
        pipeline.UpdateSettings(Settings(version: 2, violation: new ViolationPolicyOptions { MinFaceSize = 40 }));
        Frames(pipeline, 1, ref index);

        Assert.Equal(1, _models.DetectorsCreated);
        Assert.Equal(40, pipeline.Policy.Options.MinFaceSize);
    }

    [Fact]
    public void UpdateSettings_AnotherCamera_Refused()
    {
        using var pipeline = Pipeline();
        Assert.Throws<ArgumentException>(() => pipeline.UpdateSettings(Settings() with { Camera = "other" }));
    }

    [Fact]
    public void ModelsReloaded_NextFrameRunsOnTheNewGenerationOldLeaseReleased()
    {
        _models.Faces = _ => [Face(300, 250)];
        using var pipeline = Pipeline();
        long index = 0;
        Frames(pipeline, 3, ref index);

        _models.Reload();
        Assert.Equal(1, pipeline.ModelGeneration);
        Frames(pipeline, 1, ref index);

        Assert.Equal(2, pipeline.ModelGeneration);
        Assert.Equal(1, pipeline.ModelsReplaced);
        Assert.Equal((2, 1), (_models.DetectorsCreated, _models.DetectorsDisposed));
        Assert.Equal((2, 1), (_models.ClassifiersCreated, _models.ClassifiersDisposed));
        Assert.Equal(1, _models.OpenLeases);
        pipeline.Dispose();
        Assert.Equal(0, _models.OpenLeases);
    }

    [Fact]
    public void ProcessFrame_FaceBelowMinFaceSize_NotClassifiedTrackedAndStartsNothing()
    {
        // A bare face of 80 px, another of 16 px (below violation.minFaceSize 24), and a 40 px face cut by the
        // frame's left edge to 14 px: only the first can ever start a violation, so only it is classified.
        _models.Faces = _ => [Face(300, 250), Face(600, 250, 16), Face(-6, 250, 40)];
        _models.MaskProbability = _ => 0.02f;
        using var pipeline = Pipeline();
        long index = 0;

        Frames(pipeline, 8, ref index);

        Assert.Equal(8, _models.FacesClassified);
        Assert.Equal([80f], _models.LastBatchSizes);
        var start = Assert.Single(_sink.Events);
        Assert.Equal(EventTypes.ViolationStart, start.Type);
        Assert.Equal(80f, start.Face.Box[2] - start.Face.Box[0], 0.01f);
        Assert.Equal(3, pipeline.Tracks.Length);
        var classified = pipeline.Tracks.ToArray().Where(t => t.Observation.IsClassified).ToList();
        Assert.Equal(80f, Assert.Single(classified).Box.Width, 1f);
        var counters = pipeline.Policy.Counters.Read();
        Assert.Equal(24, counters.FacesSeen);
        Assert.Equal(8, counters.FacesClassified);
    }

    [Fact]
    public void ProcessFrame_ClassifySmallFaces_EveryFaceClassifiedStillOneStart()
    {
        _models.Faces = _ => [Face(300, 250), Face(600, 250, 16)];
        _models.MaskProbability = _ => 0.02f;
        using var pipeline = Pipeline(Settings() with { ClassifySmallFaces = true });
        long index = 0;

        Frames(pipeline, 8, ref index);

        Assert.Equal(16, _models.FacesClassified);
        Assert.Single(_sink.Events);
        Assert.Equal(16, pipeline.Policy.Counters.Read().FacesClassified);
    }

    [Fact]
    public void ProcessFrame_SettledMaskedFace_ClassifiedEveryOtherFrameAndAMaskPulledDownStillStarts()
    {
        _models.Faces = _ => [Face(300, 250)];
        _models.MaskProbability = _ => 0.97f;
        using var pipeline = Pipeline();
        long index = 0;

        Frames(pipeline, 30, ref index);

        // Every frame until the 8-frame window is full of masked frames, then every third frame (staggered by the
        // track id, 1: frames 8, 11, …, 29): 8 + 8.
        Assert.Equal(16, _models.FacesClassified);
        Assert.Equal(30, pipeline.Counters.Faces);

        _models.MaskProbability = _ => 0.02f;
        Frames(pipeline, 7, ref index);

        // Unsettled by its first classified unmasked frame (at most two skipped before it), then classified every
        // frame again: K = 5 strong frames by the 7th.
        Assert.Equal(EventTypes.ViolationStart, Assert.Single(_sink.Events).Type);
    }

    [Fact]
    public void ProcessFrame_SettledEveryFrame_EveryFaceClassifiedEveryFrame()
    {
        _models.Faces = _ => [Face(300, 250)];
        _models.MaskProbability = _ => 0.97f;
        using var pipeline = Pipeline(Settings() with { ClassifySettledEveryNthFrame = 1 });
        long index = 0;

        Frames(pipeline, 30, ref index);

        Assert.Equal(30, _models.FacesClassified);
    }

    [Fact]
    public void ProcessFrame_DetectionNoTrackTook_NotClassified()
    {
        // A second, doubtful detection (score 0.55: below the tracker's new-track threshold) never becomes a track.
        _models.Faces = _ => [Face(300, 250), Face(700, 250, 80, score: 0.55f)];
        using var pipeline = Pipeline(Settings(score: 0.5f));
        long index = 0;

        Frames(pipeline, 4, ref index);

        Assert.Equal(4, _models.FacesClassified);
    }

    [Fact]
    public void NoClassifier_FacesTrackedNoViolation()
    {
        _models.Classifies = false;
        _models.Faces = _ => [Face(300, 250)];
        using var pipeline = Pipeline();
        long index = 0;
        Frames(pipeline, 10, ref index);

        Assert.Empty(_sink.Events);
        Assert.Equal(10, pipeline.Counters.Faces);
        Assert.Equal(1, pipeline.Tracks.Length);
    }

    [Fact]
    public async Task SnapshotStage_Violation_JpegStoredAndPublishedOffTheCameraThreadThenTheEventNamesIt()
    {
        using var photo = new VocPhoto();
        var dir = EdgeMask.Tests.Shared.TestPaths.NewTempDirectory();
        using var store = new SnapshotStore(new SnapshotOptions { Directory = dir }, time: _time);
        var stage = new SnapshotEventStage("dev", _camera, () => store, _sink);
        stage.Start();
        var faces = photo.Faces.Select(b => new FaceDetection(b, 0.95f, default)).ToArray();
        _models.Faces = _ => faces;
        _models.MaskProbability = f => f.Box == photo.Violator ? 0.02f : 0.97f;
        RunFrames(stage, photo.Frame, frames: 8);
        await stage.CompleteAsync(TimeSpan.FromSeconds(30));

        var start = Assert.Single(_sink.OfType(EventTypes.ViolationStart));
        Assert.True(start.Snapshot.Available);
        Assert.Equal($"edgemask/dev/{_camera}/snapshot", start.Snapshot.Topic);
        Assert.NotNull(store.Find(start.Snapshot.Id));
        // Every event of the episode names it, and the JPEG went out before the first of them.
        Assert.All(_sink.Events.Where(e => e.Id == start.Id), e => Assert.Equal(start.Snapshot, e.Snapshot));
        Assert.Equal([$"snapshot:{start.Snapshot.Id}", $"event:{EventTypes.ViolationStart}:{start.Id}"], _sink.Order.Take(2));
        Assert.DoesNotContain(Environment.CurrentManagedThreadId, _sink.Threads);
        Assert.Equal(1, stage.SnapshotsTaken);
        Assert.Equal(0, stage.PendingFrames);
    }

    /// <summary>
    /// Unmasked people stepping into view one every 6 frames (each starts a violation 5 frames later), over a real
    /// photo, through a started <paramref name="stage"/>; the pipeline completes at the end (ending every episode).
    /// </summary>
    private void PeopleWalkIn(SnapshotEventStage stage, int people, int spacing, int frames)
    {
        using var photo = new VocPhoto();
        stage.Start();
        var faces = Enumerable.Range(0, people).Select(i => new FaceDetection(new Core.Geometry.BoxF(10 + spacing * i, 100, 70 + spacing * i, 160), 0.95f, default)).ToArray();
        _models.Faces = call => faces.Take((int)Math.Min(people, call / 6 + 1)).ToArray();
        RunFrames(stage, photo.Frame, frames);
    }

    /// <summary>
    /// A pipeline into <paramref name="stage"/> over <paramref name="frames"/> frames of <paramref name="image"/>, 66 ms
    /// apart on the manual clock, then completed (ending every episode).
    /// </summary>
    private void RunFrames(SnapshotEventStage stage, Mat image, int frames)
    {
        using var pipeline = Pipeline(output: stage);
        for (long i = 0; i < frames; i++)
        {
            pipeline.ProcessFrame(image, i, _time.GetUtcNow());
            _time.Advance(TimeSpan.FromMilliseconds(66));
        }
        pipeline.Complete();
    }

    [Fact]
    public async Task SnapshotStage_Burst_JpegsEncodedBelowInferencePriorityEventsAtNormalNoOtherThreadInheritsIt()
    {
        using var store = new SnapshotStore(new SnapshotOptions { Directory = EdgeMask.Tests.Shared.TestPaths.NewTempDirectory() }, time: _time);
        int baseline = CpuPriority.NiceOf(CpuPriority.CurrentThreadId()!.Value)!.Value;
        // The sinks wake async code from the events thread (the outbox, the MQTT client): here with enough queued work
        // to make the thread pool grow. A thread created from a lowered thread would inherit its priority for good.
        ThreadPool.GetMinThreads(out int minWorkers, out int minIo);
        ThreadPool.SetMinThreads(minWorkers + 8, minIo);
        _sink.OnEventHook = () =>
        {
            for (int i = 0; i < 4; i++) ThreadPool.UnsafeQueueUserWorkItem(_ => Thread.Sleep(30), null);
        };
        var stage = new SnapshotEventStage("dev", _camera, () => store, _sink, maxPendingFrames: 16);
        try
        {
            PeopleWalkIn(stage, people: 5, spacing: 75, frames: 40);
            await stage.CompleteAsync(TimeSpan.FromSeconds(30));

            Assert.Equal(5, stage.SnapshotsTaken);
            var encoder = stage.Encoder!;
            Assert.True(encoder.PriorityLowered, encoder.PriorityError);
            Assert.Equal(Math.Min(19, baseline + LowPriorityThread.DefaultNiceness), CpuPriority.NiceOf(encoder.OsThreadId!.Value));
            // Events and JPEG publishing ran on the stage's normal-priority worker.
            Assert.Equal(15, _sink.CallerNice.Count); // 5 JPEGs, 5 starts, 5 ends
            Assert.All(_sink.CallerNice, nice => Assert.Equal(baseline, nice));
            // No thread of the process runs below the cameras' priority but snapshot encoders.
            foreach (var task in Directory.GetDirectories("/proc/self/task"))
            {
                if (CpuPriority.NiceOf(int.Parse(Path.GetFileName(task), CultureInfo.InvariantCulture)) is not { } nice || nice <= baseline) continue;
                string name = File.ReadAllText(Path.Combine(task, "comm")).Trim();
                Assert.StartsWith("snapshots-", name, StringComparison.Ordinal);
            }
        }
        finally
        {
            ThreadPool.SetMinThreads(minWorkers, minIo);
            await stage.DisposeAsync();
        }
    }

    [Fact]
    public async Task SnapshotStage_EncoderFallsBehind_RequestsBeyondTheBoundSkippedEveryEventStillInOrder()
    {
        using var store = new SnapshotStore(new SnapshotOptions { Directory = EdgeMask.Tests.Shared.TestPaths.NewTempDirectory() }, time: _time);
        _sink.SnapshotGate = new ManualResetEventSlim(false);
        var stage = new SnapshotEventStage("dev", _camera, () => store, _sink, maxPendingFrames: 1);
        // Five people, each starting a violation on a different frame: five steps with a snapshot request.
        PeopleWalkIn(stage, people: 5, spacing: 75, frames: 40);
        _sink.SnapshotGate.Set();
        await stage.CompleteAsync(TimeSpan.FromSeconds(30));

        Assert.True(stage.SnapshotsSkipped > 0, "the bound of pending frame copies was reached");
        Assert.Equal(5, _sink.OfType(EventTypes.ViolationStart).Count());
        Assert.Equal(5, _sink.OfType(EventTypes.ViolationEnd).Count());
        foreach (var episode in _sink.Events.GroupBy(e => e.Id))
            Assert.Equal(Enumerable.Range(0, episode.Count()), episode.Select(e => e.Sequence));
        Assert.Contains(_sink.Events, e => !e.Snapshot.Available);
        Assert.All(_sink.Events.Where(e => e.Snapshot.Available), e => Assert.NotNull(store.Find(e.Snapshot.Id)));
        Assert.Equal(0, stage.PendingFrames);
    }

    [Fact]
    public void CameraMetrics_SnapshotTotals_ExportedAsCountersTheQueueAsAGauge()
    {
        var metrics = new CameraMetrics(_camera);
        Assert.Equal("0", PrometheusText.Metric("edgemask_snapshots_skipped_total", _camera));

        metrics.Snapshots(takenTotal: 5, skippedTotal: 2, pendingFrames: 3);
        metrics.Snapshots(takenTotal: 7, skippedTotal: 2, pendingFrames: 0);

        Assert.Equal("7", PrometheusText.Metric("edgemask_snapshots_taken_total", _camera));
        Assert.Equal("2", PrometheusText.Metric("edgemask_snapshots_skipped_total", _camera));
        Assert.Equal("0", PrometheusText.Metric("edgemask_snapshot_queue_frames", _camera));
        metrics.Remove();
    }

    [Fact]
    public async Task SnapshotStage_BacklogOfBetterViews_ANewViolationsStartStillGetsItsSnapshot()
    {
        using var store = new SnapshotStore(new SnapshotOptions { Directory = EdgeMask.Tests.Shared.TestPaths.NewTempDirectory() }, time: _time);
        _sink.SnapshotGate = new ManualResetEventSlim(false);
        var stage = new SnapshotEventStage("dev", _camera, () => store, _sink, maxPendingFrames: 4);
        using var photo = new VocPhoto();
        stage.Start();
        // Person A walks towards the camera (a face 12 % larger every frame up to frame 22: a better-view request every
        // other frame once A's violation started); person B steps in at frame 20 and stands still.
        _models.Faces = call =>
        {
            float side = 20f * MathF.Pow(1.12f, Math.Min(call, 22));
            var a = new FaceDetection(new Core.Geometry.BoxF(10, 10, 10 + side, 10 + side * 1.2f), 0.95f, default);
            var b = new FaceDetection(new Core.Geometry.BoxF(280, 150, 340, 222), 0.95f, default);
            return call < 20 ? [a] : [a, b];
        };
        RunFrames(stage, photo.Frame, frames: 34);
        _sink.SnapshotGate.Set();
        await stage.CompleteAsync(TimeSpan.FromSeconds(30));

        var starts = _sink.OfType(EventTypes.ViolationStart).ToList();
        Assert.Equal(2, starts.Count);
        Assert.True(stage.SnapshotsSkipped > 0, "better views of A beyond half the bound were skipped");
        // A's start and B's start (while A's better views filled half the queue) both carry a stored snapshot.
        Assert.All(starts, e => Assert.True(e.Snapshot.Available));
        Assert.All(starts, e => Assert.NotNull(store.Find(e.Snapshot.Id)));
        Assert.Equal(0, stage.PendingFrames);
        await stage.DisposeAsync();
    }

    [Fact]
    public async Task SnapshotStage_CompleteWhileEncodingIsStuck_EventsStillGoOutWithinTheGrace()
    {
        using var store = new SnapshotStore(new SnapshotOptions { Directory = EdgeMask.Tests.Shared.TestPaths.NewTempDirectory() }, time: _time);
        _sink.SnapshotGate = new ManualResetEventSlim(false);
        var stage = new SnapshotEventStage("dev", _camera, () => store, _sink, maxPendingFrames: 8);
        PeopleWalkIn(stage, people: 3, spacing: 110, frames: 20);

        // The first JPEG is stuck in a slow consumer; the stop gives the queue 200 ms, then only builds the events.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (Volatile.Read(ref _sink.SnapshotsEntered) == 0 && DateTime.UtcNow < deadline) await Task.Delay(10);
        var completing = stage.CompleteAsync(TimeSpan.FromMilliseconds(200));
        while (!stage.SkippingSnapshots && DateTime.UtcNow < deadline) await Task.Delay(10);
        Assert.True(stage.SkippingSnapshots, "the grace ran out while the first JPEG was stuck");
        _sink.SnapshotGate.Set();
        await completing.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(3, _sink.OfType(EventTypes.ViolationStart).Count());
        Assert.Equal(3, _sink.OfType(EventTypes.ViolationEnd).Count());
        Assert.Equal(1, stage.SnapshotsTaken);
        Assert.Equal(0, stage.PendingFrames);
    }
}
