using EdgeMask.Core.Events;
using EdgeMask.Core.Resilience;
using EdgeMask.Core.Tracking;
using EdgeMask.Module.Hosting;
using EdgeMask.Module.Pipeline;
using EdgeMask.Module.Sources;
using EdgeMask.Module.Tests.Pipeline;
using Paths = EdgeMask.Tests.Shared.TestPaths;

namespace EdgeMask.Module.Tests.Cameras;

/// <summary>
/// A camera on its own thread, over a real capture (a looping folder of photos) and fake models: a fault in its
/// pipeline restarts that camera only; a stop ends its episodes and never disposes what its thread may still use.
/// </summary>
public sealed class CameraWorkerTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    private static string Folder()
    {
        var dir = Path.Combine(Paths.NewTempDirectory(), "images");
        Directory.CreateDirectory(dir);
        foreach (var n in new[] { 0, 5 }) File.CreateSymbolicLink(Path.Combine(dir, $"img{n}.jpg"), Paths.VocImage(n));
        return dir;
    }

    private static CameraWorker Worker(string id, FakeModels models, RecordingSink sink, double fps = 20)
    {
        string folder = Folder();
        var settings = new CameraPipelineSettings { Device = "dev", Camera = id, Tracking = new FaceTrackerOptions { ConfirmHits = 1 } };
        var context = new CameraWorkerContext
        {
            Models = models,
            Sink = sink,
            RestartBackoff = new BackoffOptions { Initial = TimeSpan.FromMilliseconds(10), Max = TimeSpan.FromMilliseconds(50) },
        };
        return new CameraWorker(id, () => CameraCapture.Create(id, folder, new FrameSourceOptions { ImageFolderFps = fps },
            new CameraCaptureOptions { Realtime = true, Loop = true }), settings, context);
    }

    private static async Task WaitUntil(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"waiting for {what}");
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task PipelineThrows_ThatCameraRestartsCountedItsEpisodeEndedTheOtherCameraUntouched()
    {
        var faultyModels = new FakeModels { Faces = _ => [FakeModels.Face(200, 150)] };
        faultyModels.ThrowOnCall.Add(8);
        var steadyModels = new FakeModels { Faces = _ => [FakeModels.Face(200, 150)] };
        var faultySink = new RecordingSink();
        var steadySink = new RecordingSink();
        await using var faulty = Worker("faulty", faultyModels, faultySink);
        await using var steady = Worker("steady", steadyModels, steadySink);
        await faulty.StartAsync(CancellationToken.None);
        await steady.StartAsync(CancellationToken.None);

        await WaitUntil(() => faulty.Restarts == 1 && faulty.Counters.Frames >= 20 && steady.Counters.Frames >= 20, "the faulty camera back at work");

        Assert.Equal(0, steady.Restarts);
        Assert.False(faulty.Completion.IsCompleted);
        // The episode open when the fault hit was ended (shutdown), then a new pipeline started a new one.
        var first = faultySink.OfType(EventTypes.ViolationStart).First();
        Assert.Equal("shutdown", faultySink.Events.Single(e => e.Id == first.Id && e.Type == EventTypes.ViolationEnd).EndReason);
        await WaitUntil(() => faultySink.OfType(EventTypes.ViolationStart).Count() == 2, "a new episode after the restart");
        Assert.Single(steadySink.OfType(EventTypes.ViolationStart));
        Assert.Equal(1, faultyModels.OpenLeases);
    }

    [Fact]
    public async Task StopAsync_FrameInFlight_CompletesThenEndsEpisodesReleasesModelsAndReturnsInTime()
    {
        var models = new FakeModels { Faces = _ => [FakeModels.Face(200, 150)], DetectTime = _ => TimeSpan.FromMilliseconds(150) };
        var sink = new RecordingSink();
        await using var worker = Worker("door", models, sink);
        await worker.StartAsync(CancellationToken.None);
        await WaitUntil(() => sink.OfType(EventTypes.ViolationStart).Any(), "a violation");

        var started = DateTime.UtcNow;
        bool ended = await worker.StopAsync(TimeSpan.FromSeconds(2));

        Assert.True(ended);
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(2));
        var start = Assert.Single(sink.OfType(EventTypes.ViolationStart));
        Assert.Equal("shutdown", Assert.Single(sink.OfType(EventTypes.ViolationEnd)).EndReason);
        Assert.Equal(start.Id, sink.OfType(EventTypes.ViolationEnd).Single().Id);
        Assert.Equal(0, models.OpenLeases);
        Assert.Equal(models.DetectorsCreated, models.DetectorsDisposed);
        Assert.Equal(CameraHealthState.Stopped, worker.Health.State);
    }

    [Fact]
    public async Task StopAsync_ThreadStuckInAFrame_ReturnsFalseAndNothingItUsesIsDisposedUntilItEnds()
    {
        var models = new FakeModels { DetectTime = call => call >= 3 ? TimeSpan.FromSeconds(3) : TimeSpan.Zero };
        await using var worker = Worker("door", models, new RecordingSink());
        await worker.StartAsync(CancellationToken.None);
        await WaitUntil(() => Interlocked.Read(ref models.DetectorCalls) >= 4, "a frame stuck in the detector");

        bool ended = await worker.StopAsync(TimeSpan.FromMilliseconds(200));

        Assert.False(ended);
        // The thread still runs the detector: its lease (the sessions) and its detector are untouched.
        Assert.Equal(1, models.OpenLeases);
        Assert.Equal(0, models.DetectorsDisposed);
        await worker.Completion.WaitAsync(Patience);
        Assert.Equal(0, models.OpenLeases);
        Assert.Equal(1, models.DetectorsDisposed);
    }
}
