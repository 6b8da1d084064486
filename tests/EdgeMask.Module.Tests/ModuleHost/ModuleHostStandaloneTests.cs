using System.Text;
using System.Text.Json.Nodes;
using EdgeMask.IoTHub.Methods;
using EdgeMask.Module.Cli;
using EdgeMask.Module.Configuration;
using EdgeMask.Module.Hosting;
using EdgeMask.Module.Tests.Cli;
using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Paths = EdgeMask.Tests.Shared.TestPaths;

namespace EdgeMask.Module.Tests.ModuleHost;

/// <summary>
/// The host without IoT Hub (stand-alone from a config file), its method handlers fed random payloads through the
/// IoTHub part's real dispatcher, and the command line's exit codes.
/// </summary>
[Collection("module-host")]
public sealed class ModuleHostStandaloneTests
{
    private static string Models => Path.Combine(Paths.RepoRoot, "models");

    private static JsonObject Config(string dir) => new()
    {
        ["device"] = "lobby",
        // Two still images from the VOC sample, paced at the folder's 1 frame/s.
        ["cameras"] = new JsonObject { ["hall"] = new JsonObject { ["source"] = ImageFolder(dir), ["realtime"] = true } },
        ["inference"] = new JsonObject { ["modelsDirectory"] = Models, ["executionProvider"] = "cpu", ["intraOpThreads"] = 1 },
        ["classifier"] = new JsonObject { ["enabled"] = false },
        ["mqtt"] = new JsonObject { ["enabled"] = false },
        ["outbox"] = new JsonObject { ["path"] = Path.Combine(dir, "outbox.db") },
        ["metrics"] = new JsonObject { ["enabled"] = false },
    };

    /// <summary>A folder of symbolic links to two shared images (never copies of the data).</summary>
    private static string ImageFolder(string dir)
    {
        var folder = Path.Combine(dir, "images");
        if (Directory.Exists(folder)) return folder;
        Directory.CreateDirectory(folder);
        foreach (var n in new[] { 0, 5 })
            File.CreateSymbolicLink(Path.Combine(folder, $"img{n}.jpg"), Paths.VocImage(n));
        return folder;
    }

    [Fact]
    public async Task Host_NoClient_RunsConfigUntilStoppedThenStopsCleanly()
    {
        var dir = Paths.NewTempDirectory();
        var document = Config(dir);
        var hosted = await HostedModule.StartAsync(document,
            new ModuleHostOptions { Run = new RunSettings { LiveView = false, SnapshotDirectory = Path.Combine(dir, "s") } }, client: null);
        var lifetime = hosted.Host.Services.GetRequiredService<Microsoft.Extensions.Hosting.IHostApplicationLifetime>();
        var camera = hosted.Runtime.Cameras.Cameras.Single();
        Assert.Equal("hall", camera.Id);
        await IoTHub.Tests.Infrastructure.TestPorts.WaitUntilAsync(() => camera.Completion.IsCompleted, "the folder's end", TimeSpan.FromSeconds(90));
        Assert.Equal(2, camera.Counters.Frames);
        Assert.False(lifetime.ApplicationStopping.IsCancellationRequested, "stand-alone keeps running after a file source ended");

        var stopping = Stopwatch.StartNew();
        await hosted.DisposeAsync();
        Assert.True(stopping.Elapsed < TimeSpan.FromSeconds(10), $"stopped in {stopping.Elapsed}");
    }

    [Fact]
    public async Task MethodHandlers_ThousandRandomPayloads_OnlyDocumentedStatuses()
    {
        var dir = Paths.NewTempDirectory();
        var document = Config(dir);
        await using var hosted = await HostedModule.StartAsync(document,
            new ModuleHostOptions { SnapshotWait = TimeSpan.Zero, Run = new RunSettings { LiveView = false, SnapshotDirectory = Path.Combine(dir, "s") } }, client: null);
        var host = hosted.Module;
        var lifetime = hosted.Host.Services.GetRequiredService<Microsoft.Extensions.Hosting.IHostApplicationLifetime>();

        var dispatcher = new DirectMethodDispatcher(NullLogger.Instance);
        dispatcher.Register("getStatus", (p, _) => Task.FromResult(DirectMethodHandlers.GetStatus(host, p)));
        dispatcher.Register("captureSnapshot", (p, ct) => DirectMethodHandlers.CaptureSnapshotAsync(host, p, ct));
        dispatcher.Register("testAlarm", (p, ct) => DirectMethodHandlers.TestAlarmAsync(host, p, ct));
        // setThresholds applies a valid patch live; random payloads are almost never valid, and the few that are only
        // change thresholds, so it stays in the mix.
        dispatcher.Register("setThresholds", (p, ct) => DirectMethodHandlers.SetThresholdsAsync(host, p, ct));

        var random = new Random(20261128);
        string[] names = ["getStatus", "captureSnapshot", "testAlarm", "setThresholds"];
        var statuses = new Dictionary<int, int>();
        for (int i = 0; i < 1000; i++)
        {
            var payload = RandomPayload(random);
            var response = await dispatcher.DispatchAsync(names[i % names.Length], payload, CancellationToken.None);
            statuses[response.Status] = statuses.GetValueOrDefault(response.Status) + 1;
            Assert.True(response.Status is 200 or 400 or 404 or 409,
                $"{names[i % names.Length]} with {Encoding.UTF8.GetString(payload)} answered {response.Status}: {response.Body?.ToJsonString()}");
            DirectMethodDispatcher.Serialize(response);
        }
        Console.WriteLine($"statuses: {string.Join(", ", statuses.OrderBy(kv => kv.Key))}");
        Assert.True(statuses.GetValueOrDefault(400) > 100, string.Join(", ", statuses));
        Assert.True(statuses.GetValueOrDefault(200) > 10, string.Join(", ", statuses));
        Assert.False(lifetime.ApplicationStopping.IsCancellationRequested);
    }

    private static byte[] RandomPayload(Random r)
    {
        JsonNode? Value(int depth) => r.Next(depth > 2 ? 5 : 8) switch
        {
            0 => null,
            1 => JsonValue.Create(r.Next(2) == 0),
            2 => JsonValue.Create(r.NextDouble() * 200 - 100),
            3 => JsonValue.Create(r.Next(-5, 40)),
            4 => JsonValue.Create(new[] { "hall", "platform", "", "x", "detector", "0.5" }[r.Next(6)]),
            5 => new JsonArray(Value(depth + 1), Value(depth + 1)),
            _ => Obj(depth + 1),
        };
        JsonObject Obj(int depth)
        {
            string[] keys = ["camera", "inline", "durationSeconds", "announce", "detector", "violation", "scoreThreshold", "nmsIoU",
                "startUnmaskedFrames", "tracking", "zz"];
            var o = new JsonObject();
            for (int i = r.Next(4); i > 0; i--) o[keys[r.Next(keys.Length)]] = Value(depth);
            return o;
        }
        return r.Next(10) switch
        {
            0 => Encoding.UTF8.GetBytes("{\"camera\": "),
            1 => [0xC3, 0x28],
            2 => [],
            _ => Encoding.UTF8.GetBytes(Value(0)?.ToJsonString() ?? "null"),
        };
    }

    [Fact]
    public async Task ModuleCommand_StandAloneWithoutConfig_ExitsTwoNamingTheKey()
    {
        if (IoTHub.Edge.IoTEdgeEnvironment.IsPresent() || Environment.GetEnvironmentVariable(ModuleCommand.ConnectionStringVariable) is { Length: > 0 })
            return; // Running inside IoT Edge: the command would connect instead.
        var r = await CliRunner.RunAsync("module");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--config", r.Stderr);

        var bad = Path.Combine(Paths.NewTempDirectory(), "bad.json");
        await File.WriteAllTextAsync(bad, """{"detector": {"scoreThreshold": "high"}}""");
        r = await CliRunner.RunAsync("module", "--config", bad);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("detector:scoreThreshold", r.Stderr);
    }
}
