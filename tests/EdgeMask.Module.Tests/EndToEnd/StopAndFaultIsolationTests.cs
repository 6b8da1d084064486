using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using EdgeMask.IoTHub.Tests.Infrastructure;
using EdgeMask.Messaging.Tests.Support;
using EdgeMask.Module.Tests.Cli;
using EdgeMask.Module.Tests.Support;
using Microsoft.Data.Sqlite;
using Xunit.Abstractions;
using Shared = EdgeMask.Tests.Shared.TestPaths;

namespace EdgeMask.Module.Tests.EndToEnd;

/// <summary>
/// <c>edgemask run</c> as a real process on real sources (the sample video, an HTTP MJPEG camera served here), stopped
/// with SIGTERM the way Docker and IoT Edge stop a container: it exits 0 within seconds with nothing logged as an error,
/// every violation it started has its end in the outbox, and one camera that is down never holds up the others.
/// </summary>
[Collection("end-to-end")]
public class StopAndFaultIsolationTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(120);
    /// <summary>Generous on a loaded 2-core machine; the figure itself (target 2 s) is printed and recorded in the README.</summary>
    private static readonly TimeSpan StopBound = TimeSpan.FromSeconds(10);

    private static int EventLines(EdgemaskProcess p, string camera) =>
        p.Stdout.Count(l => l.Contains($" {camera} VIOLATION START", StringComparison.Ordinal) || l.Contains($" {camera} violation ", StringComparison.Ordinal));

    /// <summary>The events stored in the outbox file (a broker that never came up: nothing was delivered or removed).</summary>
    private static List<JsonElement> OutboxEvents(string path)
    {
        using var db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ConnectionString);
        db.Open();
        using var cmd = db.CreateCommand();
        cmd.CommandText = "SELECT payload FROM messages WHERE topic LIKE '%/events' ORDER BY seq";
        using var reader = cmd.ExecuteReader();
        var events = new List<JsonElement>();
        while (reader.Read()) events.Add(JsonDocument.Parse((byte[])reader[0]).RootElement.Clone());
        return events;
    }

    [Fact]
    public async Task Run_SigtermMidRun_ExitsZeroInTimeNoErrorAndEveryStartedEpisodeHasItsEndInTheOutbox()
    {
        var dir = Shared.NewTempDirectory();
        string outbox = Path.Combine(dir, "outbox.db");
        // A broker that is not there: every event stays in the outbox, where the test reads it.
        int noBroker = TestPorts.FreeTcpPort();
        using var run = EdgemaskProcess.Start(["run", "--source", Shared.SampleVideo, "--camera", "gate", "--device", "sigterm",
            "--broker", $"127.0.0.1:{noBroker}", "--outbox", outbox, "--models", RunEndToEndTests.Models, "--realtime",
            "--metrics-port", "0", "--quiet", "--ep", "cpu", "--snapshots", Path.Combine(dir, "snapshots")]);
        await run.WaitUntilAsync(() => run.Stdout.Count(l => l.Contains("VIOLATION START", StringComparison.Ordinal)) >= 2, "two violations", Patience);

        await StopCleanlyAsync(run);
        var events = OutboxEvents(outbox);
        var starts = events.Where(e => e.GetProperty("type").GetString() == "violation.start").Select(e => e.GetProperty("id").GetString()).ToList();
        var ends = events.Where(e => e.GetProperty("type").GetString() == "violation.end").ToList();
        Assert.NotEmpty(starts);
        Assert.Equal(starts.Order(), ends.Select(e => e.GetProperty("id").GetString()).Order());
        Assert.Contains(ends, e => e.GetProperty("endReason").GetString() == "shutdown");
        // Everything the console printed is stored: nothing was lost on the way out.
        Assert.Equal(EventLines(run, "gate"), events.Count);
    }

    [Fact]
    public async Task Run_TwoCamerasOneDownAtStart_TheOtherFlowsAtOnceTheLateOneJoinsWhenItsServerStarts()
    {
        var dir = Shared.NewTempDirectory();
        int brokerPort = TestPorts.FreeTcpPort(), metricsPort = TestPorts.FreeTcpPort();
        await using var door = new MjpegServer(TestPorts.FreeTcpPort());
        var config = new JsonObject
        {
            ["device"] = "station",
            ["cameras"] = new JsonObject
            {
                ["door"] = new JsonObject { ["source"] = door.Url },
                ["hall"] = new JsonObject { ["source"] = Shared.SampleVideo, ["realtime"] = true, ["loop"] = true },
            },
            ["inference"] = new JsonObject { ["modelsDirectory"] = RunEndToEndTests.Models, ["executionProvider"] = "cpu" },
            ["mqtt"] = new JsonObject { ["port"] = brokerPort },
            ["outbox"] = new JsonObject { ["path"] = Path.Combine(dir, "outbox.db") },
            ["stats"] = new JsonObject { ["interval"] = "00:00:01" },
            ["metrics"] = new JsonObject { ["port"] = metricsPort },
            ["capture"] = new JsonObject { ["initialBackoff"] = "00:00:00.5", ["maxBackoff"] = "00:00:02" },
            ["snapshots"] = new JsonObject { ["directory"] = Path.Combine(dir, "snapshots") },
        };
        string configPath = Path.Combine(dir, "config.json");
        await File.WriteAllTextAsync(configPath, config.ToJsonString());

        var started = Stopwatch.StartNew();
        using var run = EdgemaskProcess.Start(["run", "--config", configPath, "--quiet"]);
        await run.WaitUntilAsync(() => Connects(brokerPort), "the embedded broker", Patience);
        await using var subscriber = await MqttCollector.StartAsync(brokerPort, "edgemask/station/+/stats");
        JsonNode? Last(string camera) => subscriber.Messages.Where(m => m.Topic == $"edgemask/station/{camera}/stats").Select(m => JsonNode.Parse(m.Payload)).LastOrDefault();

        // The hall works from the start while the door is down: its stats say so, and so does /metrics.
        await run.WaitUntilAsync(() => Last("hall")?["framesProcessed"]?.GetValue<long>() > 0 && Last("door")?["cameraHealth"]?.GetValue<string>() == "connecting",
            "hall frames and door connecting", Patience);
        output.WriteLine($"hall running, door connecting after {started.Elapsed.TotalSeconds:0.0} s");
        Assert.Equal(0, Last("door")!["framesProcessed"]!.GetValue<long>());
        string metrics = await new HttpClient().GetStringAsync($"http://127.0.0.1:{metricsPort}/metrics");
        Assert.Contains("edgemask_camera_state{camera=\"door\",state=\"connecting\"} 1", metrics);
        // The running camera's snapshot stage is in /metrics too (taken, skipped, queue).
        Assert.Matches("edgemask_snapshots_taken_total\\{camera=\"hall\"\\} \\d+", metrics);
        Assert.Matches("edgemask_snapshot_queue_frames\\{camera=\"hall\"\\} \\d+", metrics);
        var health = JsonNode.Parse(await Health(metricsPort))!;
        Assert.Equal("degraded", health["status"]!.GetValue<string>());

        door.Start();
        await run.WaitUntilAsync(() => Last("door") is { } s && s["cameraHealth"]!.GetValue<string>() == "ok" && s["framesProcessed"]!.GetValue<long>() > 0,
            "the door camera joined", Patience);
        output.WriteLine($"door joined after {started.Elapsed.TotalSeconds:0.0} s");
        long hallFrames = Last("hall")!["framesProcessed"]!.GetValue<long>();
        Assert.True(hallFrames > 0);

        await StopCleanlyAsync(run);
        Assert.Empty(ChildDecoders(door.Url));
    }

    [Fact]
    public async Task Run_SigtermWhileTheOnlyCameraIsStillConnecting_ExitsZeroInTime()
    {
        var dir = Shared.NewTempDirectory();
        string url = $"http://127.0.0.1:{TestPorts.FreeTcpPort()}/cam.mjpg";
        using var run = EdgemaskProcess.Start(["run", "--source", url, "--camera", "door", "--no-mqtt", "--outbox", Path.Combine(dir, "outbox.db"),
            "--models", RunEndToEndTests.Models, "--metrics-port", "0", "--quiet", "--ep", "cpu", "--snapshots", Path.Combine(dir, "snapshots")]);
        await run.WaitUntilAsync(() => run.Stderr.Any(l => l.Contains("cannot open", StringComparison.Ordinal) && l.Contains("retrying", StringComparison.Ordinal)),
            "a failed attempt being retried", Patience);

        await StopCleanlyAsync(run);
        Assert.Empty(ChildDecoders(url));
    }

    [Theory]
    [InlineData("missing", "does not exist")]
    [InlineData("rstp://10.0.0.7/stream1", "unknown scheme 'rstp://'")]
    [InlineData("http://", "not a valid URL")]
    public async Task Run_SourceThatCanNeverWork_RefusedAtOnceWithExitTwo(string source, string message)
    {
        var dir = Shared.NewTempDirectory();
        if (source == "missing") source = Path.Combine(dir, "missing.mp4");
        var started = Stopwatch.StartNew();
        var r = await CliRunner.RunAsync("run", "--source", source, "--no-mqtt", "--no-metrics", "--outbox", Path.Combine(dir, "outbox.db"),
            "--models", RunEndToEndTests.Models, "--quiet", "--ep", "cpu");
        output.WriteLine(r.Stderr);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains(message, r.Stderr);
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(30));
    }

    /// <summary>SIGTERM, then: exit code 0, within the bound, nothing logged as an error (the time is printed for the record).</summary>
    private async Task StopCleanlyAsync(EdgemaskProcess run)
    {
        int code = await run.TerminateAsync(TimeSpan.FromSeconds(60));
        output.WriteLine($"SIGTERM to exit: {run.StopTime.TotalMilliseconds:0} ms");
        output.WriteLine(run.StderrText);
        Assert.Equal(0, code);
        Assert.True(run.StopTime < StopBound, $"stopped in {run.StopTime}");
        Assert.Empty(run.ErrorLines);
    }

    [Fact]
    public async Task Run_NetworkCameraWithoutItsDecoderInstalled_RefusedAtOnceWithExitTwo()
    {
        var dir = Shared.NewTempDirectory();
        string config = Path.Combine(dir, "config.json");
        await File.WriteAllTextAsync(config, new JsonObject { ["sources"] = new JsonObject { ["ffmpegPath"] = "/nonexistent/ffmpeg" } }.ToJsonString());
        var r = await CliRunner.RunAsync("run", "--config", config, "--source", "rtsp://127.0.0.1:8554/cam", "--camera", "door", "--no-mqtt", "--no-metrics",
            "--outbox", Path.Combine(dir, "outbox.db"), "--models", RunEndToEndTests.Models, "--quiet", "--ep", "cpu");
        output.WriteLine(r.Stderr);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("Camera door cannot start", r.Stderr);
        Assert.Contains("apt-get install ffmpeg", r.Stderr);
    }

    private static bool Connects(int port)
    {
        try
        {
            using var client = new System.Net.Sockets.TcpClient();
            client.Connect("127.0.0.1", port);
            return true;
        }
        catch (System.Net.Sockets.SocketException)
        {
            return false;
        }
    }

    private static async Task<string> Health(int port)
    {
        using var http = new HttpClient();
        using var response = await http.GetAsync($"http://127.0.0.1:{port}/healthz");
        return await response.Content.ReadAsStringAsync();
    }

    /// <summary>ffmpeg children still reading <paramref name="url"/> (a stop must leave none behind).</summary>
    private static List<string> ChildDecoders(string url)
    {
        using var ps = Process.Start(new ProcessStartInfo("ps", ["-eo", "pid,args"]) { RedirectStandardOutput = true })!;
        string all = ps.StandardOutput.ReadToEnd();
        ps.WaitForExit();
        return all.Split('\n').Where(l => l.Contains("ffmpeg", StringComparison.Ordinal) && l.Contains(url, StringComparison.Ordinal)).ToList();
    }
}
