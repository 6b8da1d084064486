using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using EdgeMask.IoTHub.Tests.Infrastructure;
using Xunit.Abstractions;
using Paths = EdgeMask.Tests.Shared.TestPaths;

namespace EdgeMask.IoTHub.Tests;

/// <summary>
/// <c>edgemask module</c> as IoT Edge starts it: a child process with only the <c>IOTEDGE_*</c> environment edgeAgent
/// sets, a workload API on a unix socket that signs its token and hands out the edge CA, and the edgeHub double over
/// TLS that parses every publish the way edgeHub does. Every violation event of a clip of the sample video must arrive
/// on output <c>events</c> — compared with what the module printed — and none may be dropped.
/// </summary>
public sealed partial class ModuleProcessTests(ITestOutputHelper output)
{
    private const string Hub = "Contoso-Hub.azure-devices.net";
    private const string Device = "Jetson-Station-01";
    private const string Module = "edgemask";
    private const string GenerationId = "638512345678901234";

    /// <summary>Six scenes of the sample (36 frames each): enough episodes to count, seconds of CPU rather than a minute.</summary>
    private const int ClipFrames = 216;

    [Fact]
    public async Task EdgemaskModule_IoTEdgeEnvironment_EveryViolationEventOfTheClipArrivesOnOutputEvents()
    {
        var key = RandomNumberGenerator.GetBytes(32);
        var dir = Paths.NewTempDirectory("edgemask-module");
        var clip = await CutClipAsync(dir);
        await using var workload = new FakeWorkloadApi(Module, GenerationId, key, TestCertificates.Shared.CaPem);
        await using var edgeHub = await FakeIoTHub.StartAsync(Hub, Device, Module, key, TestCertificates.Shared.ServerCertificate, new JsonObject());
        var config = new JsonObject
        {
            ["cameras"] = new JsonObject { ["platform"] = new JsonObject { ["source"] = clip } },
            ["inference"] = new JsonObject { ["modelsDirectory"] = Path.Combine(Paths.RepoRoot, "models"), ["executionProvider"] = "cpu", ["intraOpThreads"] = 1 },
            ["mqtt"] = new JsonObject { ["enabled"] = false },
            ["outbox"] = new JsonObject { ["path"] = Path.Combine(dir, "outbox.db") },
            ["metrics"] = new JsonObject { ["enabled"] = false },
        };
        var configPath = Path.Combine(dir, "config.json");
        await File.WriteAllTextAsync(configPath, config.ToJsonString());

        var psi = new ProcessStartInfo(Path.Combine(AppContext.BaseDirectory, "edgemask"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = dir,
        };
        // edgeHub listens on 8883 on a device; the double has a free port, the one argument a real start would not need.
        foreach (var a in new[] { "module", "--iothub-port", edgeHub.Port.ToString(), "--report-interval", "1", "--snapshots", Path.Combine(dir, "snapshots") })
        {
            psi.ArgumentList.Add(a);
        }

        foreach (var name in psi.Environment.Keys.Where(k => k.StartsWith("IOTEDGE_", StringComparison.Ordinal) || k.StartsWith("EDGEMASK_", StringComparison.Ordinal)).ToList())
        {
            psi.Environment.Remove(name);
        }

        // What edgeAgent gives a module container (IoT Edge 1.5), the gateway being edgeHub's name on the module network.
        psi.Environment["IOTEDGE_WORKLOADURI"] = workload.Uri.ToString();
        psi.Environment["IOTEDGE_IOTHUBHOSTNAME"] = Hub;
        psi.Environment["IOTEDGE_GATEWAYHOSTNAME"] = "localhost";
        psi.Environment["IOTEDGE_DEVICEID"] = Device;
        psi.Environment["IOTEDGE_MODULEID"] = Module;
        psi.Environment["IOTEDGE_MODULEGENERATIONID"] = GenerationId;
        psi.Environment["IOTEDGE_AUTHSCHEME"] = "sasToken";
        psi.Environment["IOTEDGE_APIVERSION"] = "2019-01-30";
        psi.Environment["EDGEMASK_CONFIG"] = configPath;

        var stdout = new List<string>();
        var stderr = new StringBuilder();
        using var process = new Process { StartInfo = psi };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (stdout) stdout.Add(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) stderr.AppendLine(e.Data); };
        var watch = Stopwatch.StartNew();
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            // The clip has been read to its end: the module reports the camera as ended (its open episodes end with it).
            await TestPorts.WaitUntilAsync(() => process.HasExited || Reported(edgeHub, "cameras", "platform", "health") == "ended",
                "the clip to be processed", TimeSpan.FromMinutes(4));
            Assert.False(process.HasExited, $"the module exited early: {stderr}");
            output.WriteLine($"clip processed after {watch.Elapsed.TotalSeconds:0.0} s (under load from parallel work)");

            // The frames still queued behind the end of the file are processed, then every open episode ends (each start
            // has its end) and the outbox drains into edgeHub: wait until printed and delivered agree and stay so.
            var settled = Settled(stdout, edgeHub);
            await TestPorts.WaitUntilAsync(settled, "the events to be printed and delivered", TimeSpan.FromMinutes(2));

            var (status, body, _) = await edgeHub.InvokeMethodAsync("getStatus", "null");
            Assert.Equal(200, status);
            Assert.Equal(Device, body!["device"]!.GetValue<string>());
            Assert.Equal("applied", Reported(edgeHub, "configuration", "status"));

            using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString()]))
            {
                await kill.WaitForExitAsync();
            }

            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }

            foreach (var line in edgeHub.Log)
            {
                output.WriteLine("edgeHub: " + line);
            }
        }

        var printed = Printed(stdout);
        var delivered = Delivered(edgeHub);
        output.WriteLine($"{printed.Count} events printed, {delivered.Count} delivered on output 'events'; exit {process.ExitCode}");

        // Token: signed by the workload API, accepted by edgeHub; TLS anchored in the workload trust bundle.
        Assert.True(workload.SignCount >= 1);
        Assert.True(workload.TrustBundleCount >= 1);
        Assert.Empty(edgeHub.RejectedConnections);
        Assert.All(edgeHub.Connections, c => Assert.True(c.Secure));
        // Every event of the clip, none dropped: the same (type, track) multiset and the same episode ids.
        Assert.True(printed.Count(e => e.Type == "violation.start") > 0, "the clip holds unmasked people");
        Assert.Equal(printed.Select(e => $"{e.Type}#{e.Track}").Order(), delivered.Select(e => $"{e.Type}#{e.Track}").Order());
        Assert.Equal(printed.Where(e => e.Id is not null).Select(e => e.Id).Order(),
            delivered.Where(e => e.Type == "violation.start").Select(e => e.Id).Order());
        Assert.Empty(edgeHub.Dropped);
        Assert.Empty(edgeHub.Violations);
        Assert.All(edgeHub.Telemetry.Where(t => t.Properties.GetValueOrDefault("$.on") == "events"),
            t => Assert.EndsWith("/", t.Topic));
        Assert.Contains(process.ExitCode, new[] { 0, 143 });
    }

    /// <summary>
    /// True once every printed start has its end, the printed and delivered events are the same, and neither list has
    /// changed for a few seconds (a queued frame could still start or end an episode just after the file ends).
    /// </summary>
    private static Func<bool> Settled(List<string> stdout, FakeIoTHub edgeHub)
    {
        var last = "";
        var since = Stopwatch.StartNew();
        return () =>
        {
            var printed = Printed(stdout);
            var delivered = Delivered(edgeHub);
            var state = string.Join(',', printed.Select(e => $"{e.Type}#{e.Track}").Order()) + "|" +
                        string.Join(',', delivered.Select(e => $"{e.Type}#{e.Track}").Order());
            if (state != last)
            {
                last = state;
                since.Restart();
            }

            var starts = printed.Where(e => e.Type == "violation.start").Select(e => e.Track).Order();
            var ends = printed.Where(e => e.Type == "violation.end").Select(e => e.Track).Order();
            return printed.Count > 0 && starts.SequenceEqual(ends) && printed.Count == delivered.Count && since.Elapsed > TimeSpan.FromSeconds(3);
        };
    }

    /// <summary>The first <see cref="ClipFrames"/> frames, stream-copied (the sample starts on a key frame).</summary>
    private static async Task<string> CutClipAsync(string dir)
    {
        var clip = Path.Combine(dir, "clip.mp4");
        var psi = new ProcessStartInfo("ffmpeg", ["-v", "error", "-y", "-i", Paths.SampleVideo, "-frames:v", ClipFrames.ToString(), "-an", "-c", "copy", clip])
        {
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var ffmpeg = Process.Start(psi)!;
        var error = await ffmpeg.StandardError.ReadToEndAsync();
        await ffmpeg.WaitForExitAsync();
        Assert.True(ffmpeg.ExitCode == 0, error);
        return clip;
    }

    private static string? Reported(FakeIoTHub hub, params string[] path)
    {
        JsonNode? node = hub.ReportedSnapshot;
        foreach (var p in path)
        {
            node = node?[p];
        }

        return node is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;
    }

    private sealed record EventKey(string Type, long Track, string? Id);

    /// <summary>The console's event lines: "… VIOLATION START  track 12 … {id}", "… violation update track 12 …", "… violation end    track 12 …".</summary>
    private static List<EventKey> Printed(List<string> stdout)
    {
        lock (stdout)
        {
            return stdout.Select(l => EventLine().Match(l)).Where(m => m.Success).Select(m => new EventKey(
                m.Groups["kind"].Value.ToLowerInvariant() switch { "violation start" => "violation.start", "violation update" => "violation.update", _ => "violation.end" },
                long.Parse(m.Groups["track"].Value),
                // Only a start line ends with the episode id.
                m.Groups["kind"].Value == "VIOLATION START" && m.Groups["id"].Success ? m.Groups["id"].Value : null)).ToList();
        }
    }

    /// <summary>Events edgeHub accepted on output 'events', QoS 1 redeliveries folded by (id, sequence).</summary>
    private static List<EventKey> Delivered(FakeIoTHub hub) =>
        hub.Telemetry.Where(t => t.Properties.GetValueOrDefault("$.on") == "events")
            .Select(t => JsonDocument.Parse(t.Body).RootElement)
            .DistinctBy(e => (e.GetProperty("id").GetString(), e.GetProperty("sequence").GetInt64()))
            .Select(e => new EventKey(e.GetProperty("type").GetString()!, e.GetProperty("trackId").GetInt64(), e.GetProperty("id").GetString()))
            .ToList();

    [GeneratedRegex(@"(?<kind>VIOLATION START|violation update|violation end)\s+track (?<track>\d+)(?:.*\s(?<id>\S+)$)?")]
    private static partial Regex EventLine();
}
