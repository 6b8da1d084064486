using System.Threading.Channels;
using EdgeMask.Module.Sources;
using EdgeMask.Tests.Shared;

namespace EdgeMask.Module.Tests.Sources;

public class CameraCaptureTests
{
    [Fact]
    public async Task CameraCapture_RealtimeImageFolder_FramesInOrderAtFolderRateThenEnded()
    {
        var dir = SourceFixtures.ImageFolder(TestPaths.NewTempDirectory(), 4);
        var states = new List<string>();
        await using var capture = CameraCapture.Create("door", dir,
            new FrameSourceOptions { ImageFolderFps = 10 },
            new CameraCaptureOptions { Realtime = true, ChannelCapacity = 8 });
        capture.HealthChanged += h => { lock (states) states.Add(h.StateName); };
        await capture.StartAsync();
        var seen = new List<(long Index, DateTimeOffset At, int Width)>();
        long n = await SourceFixtures.DrainAsync(capture, f => seen.Add((f.Index, f.CapturedAt, f.Width)));

        Assert.Equal(4, n);
        Assert.Equal([0L, 1, 2, 3], seen.Select(s => s.Index));
        Assert.All(seen, s => Assert.Equal(960, s.Width));
        // Paced at 10 frames/s: frame i is never read before i × 100 ms after frame 0 (a loaded machine only makes it later).
        for (int i = 1; i < seen.Count; i++)
            Assert.True(seen[i].At - seen[0].At >= TimeSpan.FromMilliseconds(i * 100 - 5), $"frame {i} read {(seen[i].At - seen[0].At).TotalMilliseconds} ms after frame 0");
        await capture.Completion.WaitAsync(SourceFixtures.Patience);
        var health = capture.Health;
        Assert.Equal(CameraHealthState.Ended, health.State);
        Assert.Equal(CameraHealthState.Ended, capture.State);
        Assert.Equal(4, health.FramesCaptured);
        Assert.Equal(1, health.FramesSkipped);
        Assert.Equal(0, health.FramesDropped);
        lock (states) Assert.Equal(["ok", "ended"], states);
    }

    [Fact]
    public async Task CameraCapture_SlowConsumer_OldestDroppedCountedAndPoolStaysBounded()
    {
        var options = new CameraCaptureOptions();
        var capture = CameraCapture.Create("platform", SourceFixtures.SampleVideo, null, options);
        await capture.StartAsync();
        var indices = new List<long>();
        for (int i = 0; i < 25; i++)
        {
            using var frame = await capture.Frames.ReadAsync().AsTask().WaitAsync(SourceFixtures.Patience);
            indices.Add(frame.Index);
            Assert.Equal((960, 540), (frame.Width, frame.Height));
            // Stands for inference that is slower than decoding.
            Thread.Sleep(100);
        }
        long droppedWhileRunning = capture.FramesDropped;
        await capture.DisposeAsync();

        Assert.True(droppedWhileRunning > 0, "a consumer slower than the file dropped nothing");
        Assert.Equal(indices.Order(), indices);
        Assert.Equal(indices.Count, indices.Distinct().Count());
        Assert.Contains(indices.Zip(indices.Skip(1)), p => p.Second - p.First > 1);
        // Every captured frame was consumed, dropped, or was in the channel/in flight at disposal.
        Assert.InRange(capture.FramesCaptured - indices.Count - capture.FramesDropped, 0, options.ChannelCapacity + 1);
        // No leak: every dropped frame went back to the pool, so a handful of buffers served the whole run.
        Assert.InRange(capture.Pool.Created, 1, options.ChannelCapacity + 4);
        Assert.Equal(0, capture.Pool.Outstanding);
        Assert.Equal(CameraHealthState.Stopped, capture.Health.State);
    }

    [Fact]
    public async Task CameraCapture_CorruptSegment_FramesBeforeAndAfterItSkipsCounted()
    {
        string corrupt = SourceFixtures.CorruptCopy(TestPaths.NewTempDirectory());
        await using var capture = CameraCapture.Create("corrupt", corrupt, null, new CameraCaptureOptions { ChannelCapacity = 64 });
        await capture.StartAsync();
        var positions = new List<double>();
        using var enough = new CancellationTokenSource();
        await SourceFixtures.DrainAsync(capture, f =>
        {
            positions.Add(f.MediaPosition!.Value.TotalSeconds);
            if (f.MediaPosition.Value > TimeSpan.FromSeconds(9)) enough.Cancel();
        }, enough.Token).WaitAsync(SourceFixtures.Patience);

        Assert.Contains(positions, p => p < 2);
        Assert.Contains(positions, p => p > 9);
        Assert.NotEqual(CameraHealthState.Failed, capture.Health.State);
        Assert.True(capture.Health.FramesSkipped > 0, "the corrupt stretch was not noticed");
    }

    [Fact]
    public async Task StartAsync_MissingFile_UnavailableNamingFileAndHealthFailed()
    {
        string path = Path.Combine(TestPaths.NewTempDirectory(), "nope.mp4");
        await using var capture = CameraCapture.Create("cam", path);
        var ex = await Assert.ThrowsAsync<FrameSourceUnavailableException>(() => capture.StartAsync());
        Assert.Equal(path, ex.FrameSource);
        Assert.Contains(path, ex.Message);
        Assert.Contains("does not exist", ex.Message);
        Assert.Equal(CameraHealthState.Failed, capture.Health.State);
        Assert.Equal("failed", capture.Health.ToReport().Health);
        Assert.Contains("does not exist", capture.Health.LastError);
        await Assert.ThrowsAsync<FrameSourceUnavailableException>(() => capture.Frames.Completion);
    }

    [Fact]
    public async Task StartAsync_NotAVideo_UnavailableSayingOpenCvCannotDecodeIt()
    {
        string path = Path.Combine(TestPaths.NewTempDirectory(), "fake.mp4");
        File.WriteAllText(path, "this is not a video");
        await using var capture = CameraCapture.Create("cam", path);
        var ex = await Assert.ThrowsAsync<FrameSourceUnavailableException>(() => capture.StartAsync());
        Assert.Contains("could not open it as a video", ex.Message);
        Assert.Contains("ffprobe", ex.Hint);
    }

    [Fact]
    public async Task StartAsync_AbsentDevice_RetriedInTheBackgroundHealthConnectingNamingTheDevice()
    {
        await using var capture = CameraCapture.Create("cam", "/dev/video63", null,
            new CameraCaptureOptions { InitialBackoff = TimeSpan.FromMilliseconds(50), MaxBackoff = TimeSpan.FromMilliseconds(100) });
        await capture.StartAsync();
        await SourceFixtures.WaitUntil(() => capture.Health.ReconnectAttempts >= 2, "two attempts");
        var health = capture.Health;
        Assert.Equal(CameraHealthState.Connecting, health.State);
        Assert.Equal("connecting", health.ToReport().Health);
        Assert.Contains("does not exist", health.LastError);
        Assert.False(capture.Frames.Completion.IsCompleted);
    }

    [Fact]
    public async Task StartAsync_RefusedUrl_ReturnsAtOnceAndRetriesWithFfmpegsReasonInTheHealth()
    {
        string url = $"http://127.0.0.1:{SourceFixtures.FreePort()}/live.ts";
        await using var capture = CameraCapture.Create("cam", url, null,
            new CameraCaptureOptions { InitialBackoff = TimeSpan.FromMilliseconds(50), MaxBackoff = TimeSpan.FromMilliseconds(100) });
        await capture.StartAsync().WaitAsync(TimeSpan.FromSeconds(5));
        await SourceFixtures.WaitUntil(() => capture.Health.ReconnectAttempts >= 2, "two attempts");
        Assert.Equal(CameraHealthState.Connecting, capture.Health.State);
        Assert.Contains("refused", capture.Health.LastError, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task StartAsync_FolderWithoutImages_UnavailableListingExtensions()
    {
        var dir = TestPaths.NewTempDirectory();
        File.WriteAllText(Path.Combine(dir, "notes.txt"), "x");
        await using var capture = CameraCapture.Create("cam", dir);
        var ex = await Assert.ThrowsAsync<FrameSourceUnavailableException>(() => capture.StartAsync());
        Assert.Contains("no images", ex.Message);
        Assert.Contains(".jpg", ex.Hint);
    }

    [Fact]
    public async Task StartAsync_FfmpegMissing_FailsAtOnceWithoutRetrySayingHowToInstall()
    {
        await using var capture = CameraCapture.Create("cam", "rtsp://127.0.0.1:1/s", new FrameSourceOptions { FfmpegPath = "/nonexistent/ffmpeg" });
        await capture.StartAsync();
        var ex = await Assert.ThrowsAsync<FrameSourceUnavailableException>(() => capture.Frames.Completion.WaitAsync(SourceFixtures.Patience));
        Assert.True(ex.IsPermanent);
        Assert.Contains("apt-get install ffmpeg", ex.Hint);
        Assert.Equal(CameraHealthState.Failed, capture.Health.State);
        Assert.Equal(0, capture.Health.ReconnectAttempts);
    }

    [Fact]
    public async Task CameraCapture_LiveSourceDownWithAttemptLimit_ConnectingThenFailsAndCompletesWithError()
    {
        string url = $"http://127.0.0.1:{SourceFixtures.FreePort()}/live.ts";
        var states = new List<string>();
        await using var capture = CameraCapture.Create("cam", url, null, new CameraCaptureOptions
        {
            InitialBackoff = TimeSpan.FromMilliseconds(50),
            MaxBackoff = TimeSpan.FromMilliseconds(100),
            MaxReconnectAttempts = 2,
        });
        capture.HealthChanged += h => { lock (states) states.Add(h.StateName); };
        await capture.StartAsync();
        await capture.Completion.WaitAsync(SourceFixtures.Patience);

        var health = capture.Health;
        Assert.Equal(CameraHealthState.Failed, health.State);
        // Never reached: connecting (not an outage of a source that worked), then given up after the limit.
        Assert.Equal(0, health.Reconnects);
        Assert.Contains("refused", health.LastError, StringComparison.OrdinalIgnoreCase);
        Assert.Null(health.LastFrameAt);
        lock (states) Assert.Equal(["connecting", "failed"], states.Distinct());
        await Assert.ThrowsAnyAsync<Exception>(() => capture.Frames.Completion);
        Assert.False(capture.Frames.TryRead(out _));
    }

    [Fact]
    public async Task Frames_AfterEnd_ChannelCompletedAndPoolEmptiedOnDispose()
    {
        var dir = SourceFixtures.ImageFolder(TestPaths.NewTempDirectory(), 2);
        var capture = CameraCapture.Create("cam", dir, null, new CameraCaptureOptions { ChannelCapacity = 4 });
        await capture.StartAsync();
        await capture.Completion.WaitAsync(SourceFixtures.Patience);
        await capture.DisposeAsync();
        // Frames never read are disposed with the capture.
        Assert.Equal(0, capture.Pool.Outstanding);
        Assert.Equal(0, capture.Pool.Retained);
        await capture.Frames.Completion.WaitAsync(SourceFixtures.Patience);
        Assert.Throws<ObjectDisposedException>(() => capture.Pool.Rent());
    }

    [Fact]
    public async Task CameraCapture_LoopedFolder_RestartsAtEndIndicesKeepCounting()
    {
        var dir = SourceFixtures.ImageFolder(TestPaths.NewTempDirectory(), 2);
        await using var capture = CameraCapture.Create("loop", dir, null, new CameraCaptureOptions { Loop = true, ChannelCapacity = 1 });
        capture.HealthChanged += _ => throw new InvalidOperationException("a broken health handler must not stop the capture");
        await capture.StartAsync();
        var indices = new List<long>();
        for (int i = 0; i < 6; i++)
        {
            using var frame = await capture.Frames.ReadAsync().AsTask().WaitAsync(SourceFixtures.Patience);
            indices.Add(frame.Index);
        }
        Assert.Equal(indices.Order(), indices);
        Assert.True(indices[^1] >= 5, "a 2-image folder delivered 6 frames only by looping");
        Assert.Equal(CameraHealthState.Ok, capture.Health.State);
    }

    [Fact]
    public async Task StartAsync_GStreamerMissing_FailsAtOnceSayingHowToInstall()
    {
        await using var capture = CameraCapture.Create("jetson", "gst:videotestsrc",
            new FrameSourceOptions { Width = 320, Height = 240, GstLaunchPath = "/nonexistent/gst-launch-1.0" });
        await capture.StartAsync();
        var ex = await Assert.ThrowsAsync<FrameSourceUnavailableException>(() => capture.Frames.Completion.WaitAsync(SourceFixtures.Patience));
        Assert.StartsWith("gst:videotestsrc", ex.FrameSource);
        Assert.Contains("Install GStreamer", ex.Hint);
        Assert.Equal(CameraHealthState.Failed, capture.Health.State);
    }

    [Fact]
    public async Task CameraCapture_WaitForConsumerOnFiles_SlowConsumerGetsEveryFrameNoDrops()
    {
        await using var capture = CameraCapture.Create("batch", SourceFixtures.SampleVideo, null, new CameraCaptureOptions { WaitForConsumerOnFiles = true });
        await capture.StartAsync();
        var indices = new List<long>();
        for (int i = 0; i < 20; i++)
        {
            using var frame = await capture.Frames.ReadAsync().AsTask().WaitAsync(SourceFixtures.Patience);
            indices.Add(frame.Index);
            Thread.Sleep(30);
        }
        Assert.Equal(Enumerable.Range(0, 20).Select(i => (long)i), indices);
        Assert.Equal(0, capture.FramesDropped);
        Assert.InRange(capture.FramesCaptured, 20, 20 + 2 + 1);
    }
}
