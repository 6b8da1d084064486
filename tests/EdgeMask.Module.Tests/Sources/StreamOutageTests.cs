using System.Diagnostics;
using EdgeMask.Module.Sources;

namespace EdgeMask.Module.Tests.Sources;

/// <summary>
/// A real ffmpeg serves the sample as an HTTP MPEG-TS stream on loopback; the capture reads it through its own
/// ffmpeg child. The server is killed, frozen and restarted to check the watchdog, backoff and health reports.
/// </summary>
public class StreamOutageTests
{
    private static CameraCaptureOptions Options(TimeSpan stall) => new()
    {
        StallTimeout = stall,
        InitialBackoff = TimeSpan.FromMilliseconds(200),
        MaxBackoff = TimeSpan.FromSeconds(1),
    };

    [Fact]
    public async Task HttpStream_ServerKilledAndRestarted_ReconnectsFramesFlowAgainOutageReported()
    {
        int port = SourceFixtures.FreePort();
        Process? server = SourceFixtures.ServeHttp(port);
        var states = new List<string>();
        try
        {
            await using var capture = CameraCapture.Create("gate", $"http://127.0.0.1:{port}/live.ts", null, Options(TimeSpan.FromSeconds(10)));
            capture.HealthChanged += h => { lock (states) states.Add(h.StateName); };
            await capture.StartAsync();
            var drain = SourceFixtures.DrainAsync(capture);
            await SourceFixtures.WaitUntil(() => capture.Health is { State: CameraHealthState.Ok, FramesCaptured: >= 10 }, "the first 10 frames", describe: () => capture.Health.ToString());
            Assert.Equal((960, 540), ((PipeFrameSource)capture.Source).FrameSize);
            Assert.Equal(15, capture.Source.NominalFps, 3);
            // The first attempts may have come before the server listened: count outages from here.
            int reconnectsBefore = capture.Health.Reconnects;

            SourceFixtures.Stop(server);
            server = null;
            await SourceFixtures.WaitUntil(() => capture.Health.State == CameraHealthState.Reconnecting, "health reconnecting");
            // While the server is down, attempts are refused and backed off.
            await SourceFixtures.WaitUntil(() => capture.Health.ReconnectAttempts >= 2, "a second reconnect attempt");
            var down = capture.Health;
            Assert.Equal("reconnecting", down.ToReport().Health);
            Assert.Equal(reconnectsBefore + 1, down.Reconnects);
            Assert.NotNull(down.LastError);
            long framesBefore = down.FramesCaptured;

            server = SourceFixtures.ServeHttp(port);
            await SourceFixtures.WaitUntil(() => capture.Health is { State: CameraHealthState.Ok } h && h.FramesCaptured >= framesBefore + 10, "frames after the restart");

            var up = capture.Health;
            Assert.Equal(reconnectsBefore + 1, up.Reconnects);
            Assert.Equal(0, up.ReconnectAttempts);
            Assert.NotNull(up.LastOutage);
            Assert.True(up.LastOutage > TimeSpan.Zero);
            Assert.NotNull(up.LastFrameAt);
            var report = up.ToReport();
            Assert.Equal(("gate", "ok", reconnectsBefore + 1), (report.Camera, report.Health, report.Reconnects));
            Assert.Equal(up.LastError, report.LastError);
            lock (states) Assert.Equal(["ok", "reconnecting", "ok"], Collapse(states).SkipWhile(s => s != "ok"));

            int? child = ((PipeFrameSource)capture.Source).ProcessId;
            await capture.DisposeAsync();
            Assert.True(await drain.WaitAsync(SourceFixtures.Patience) >= 20);
            if (child is { } pid) AssertExited(pid);
        }
        finally
        {
            SourceFixtures.Stop(server);
        }
    }

    [Fact]
    public async Task HttpStream_ServerFrozen_WatchdogRestartsSourceAfterStallTimeout()
    {
        int port = SourceFixtures.FreePort();
        Process? server = SourceFixtures.ServeHttp(port);
        try
        {
            await using var capture = CameraCapture.Create("hall", $"http://127.0.0.1:{port}/live.ts", null, Options(TimeSpan.FromSeconds(3)));
            await capture.StartAsync();
            var drain = SourceFixtures.DrainAsync(capture);
            await SourceFixtures.WaitUntil(() => capture.Health is { State: CameraHealthState.Ok, FramesCaptured: >= 10 }, "the first 10 frames", describe: () => capture.Health.ToString());
            int stalledChild = Assert.NotNull(((PipeFrameSource)capture.Source).ProcessId);
            int reconnectsBefore = capture.Health.Reconnects;

            // A frozen server keeps the connection open and sends nothing: only the watchdog can notice.
            SourceFixtures.Signal(server, "STOP");
            await SourceFixtures.WaitUntil(() => capture.Health.State == CameraHealthState.Reconnecting, "the watchdog to declare the stall");
            Assert.Contains("no frame for 3 s", capture.Health.LastError);
            AssertExited(stalledChild);

            SourceFixtures.Stop(server);
            server = SourceFixtures.ServeHttp(port);
            long framesBefore = capture.Health.FramesCaptured;
            await SourceFixtures.WaitUntil(() => capture.Health is { State: CameraHealthState.Ok } h && h.FramesCaptured >= framesBefore + 10, "frames after the restart");
            Assert.Equal(reconnectsBefore + 1, capture.Health.Reconnects);
            await capture.DisposeAsync();
            await drain.WaitAsync(SourceFixtures.Patience);
        }
        finally
        {
            SourceFixtures.Stop(server);
        }
    }

    private static List<string> Collapse(List<string> states)
    {
        var result = new List<string>();
        foreach (var s in states)
            if (result.Count == 0 || result[^1] != s) result.Add(s);
        return result;
    }

    private static void AssertExited(int pid)
    {
        try
        {
            using var p = Process.GetProcessById(pid);
            Assert.True(p.WaitForExit(10_000), $"the capture's ffmpeg {pid} still runs");
        }
        catch (ArgumentException)
        {
            // Already gone and reaped.
        }
    }
}
