using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using EdgeMask.IoTHub.Tests.Infrastructure;
using Xunit.Abstractions;
using Paths = EdgeMask.Tests.Shared.TestPaths;

namespace EdgeMask.Module.Tests.ModuleHost;

/// <summary>The real <c>edgemask module</c> process, as the container runs it: connects, is configured, and stops on SIGTERM.</summary>
[Collection("module-host")]
public sealed class ModuleHostProcessTests(ITestOutputHelper output)
{
    private static IEnumerable<JsonNode> Events(FakeIoTHub hub) =>
        hub.Telemetry.Where(t => t.Properties.GetValueOrDefault("$.on") == "events").Select(t => JsonNode.Parse(t.Body)!);

    private static IEnumerable<JsonNode> OutboxEvents(string path)
    {
        using var db = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={path};Mode=ReadOnly;Pooling=False");
        db.Open();
        using var cmd = db.CreateCommand();
        cmd.CommandText = "SELECT payload FROM messages WHERE topic LIKE '%/events'";
        using var reader = cmd.ExecuteReader();
        var events = new List<JsonNode>();
        while (reader.Read()) events.Add(JsonNode.Parse((byte[])reader[0])!);
        return events;
    }

    [Fact]
    public async Task ModuleProcess_ConnectionStringThenSigterm_ReportsTwinExitsZeroInTimeEveryEpisodeEnded()
    {
        const string hub = "contoso-hub.azure-devices.net", device = "jetson-02", module = "edgemask";
        var key = RandomNumberGenerator.GetBytes(32);
        await using var fake = await FakeIoTHub.StartAsync(hub, device, module, key, TestCertificates.Shared.ServerCertificate,
            new JsonObject { ["detector"] = new JsonObject { ["scoreThreshold"] = 0.6 } });
        var dir = Paths.NewTempDirectory();
        var config = new JsonObject
        {
            ["cameras"] = new JsonObject { ["door"] = new JsonObject { ["source"] = Paths.SampleVideo, ["realtime"] = true } },
            ["inference"] = new JsonObject { ["modelsDirectory"] = Path.Combine(Paths.RepoRoot, "models"), ["executionProvider"] = "cpu", ["intraOpThreads"] = 1 },
            ["classifier"] = new JsonObject { ["enabled"] = true },
            ["mqtt"] = new JsonObject { ["enabled"] = false },
            ["outbox"] = new JsonObject { ["path"] = Path.Combine(dir, "outbox.db") },
            ["metrics"] = new JsonObject { ["enabled"] = false },
        };
        var configPath = Path.Combine(dir, "config.json");
        await File.WriteAllTextAsync(configPath, config.ToJsonString());
        var caPath = Path.Combine(dir, "edge-ca.pem");
        await File.WriteAllTextAsync(caPath, TestCertificates.Shared.CaPem);

        var psi = new ProcessStartInfo(Path.Combine(AppContext.BaseDirectory, "edgemask"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { "module", "--config", configPath, "--ca-file", caPath, "--iothub-port", fake.Port.ToString(),
                     "--report-interval", "1", "--snapshots", Path.Combine(dir, "snapshots") })
            psi.ArgumentList.Add(a);
        psi.Environment["EDGEMASK_IOTHUB_CONNECTION_STRING"] =
            $"HostName={hub};DeviceId={device};ModuleId={module};SharedAccessKey={Convert.ToBase64String(key)};GatewayHostName=localhost";
        foreach (var v in psi.Environment.Keys.Where(k => k.StartsWith("IOTEDGE_", StringComparison.Ordinal)).ToList())
            psi.Environment.Remove(v);
        var stderr = new StringBuilder();
        using var process = new Process { StartInfo = psi };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) stderr.AppendLine(e.Data); };
        process.OutputDataReceived += (_, _) => { };
        process.Start();
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        try
        {
            await TestPorts.WaitUntilAsync(() => process.HasExited
                || fake.ReportedSnapshot["configuration"]?["appliedVersion"] is not null && fake.ReportedSnapshot["cameras"]?["door"] is not null,
                "the module's reported properties", TimeSpan.FromSeconds(90));
            Assert.False(process.HasExited, $"the module exited early: {stderr}");
            var reported = fake.ReportedSnapshot;
            output.WriteLine(reported.ToJsonString());
            Assert.Equal("applied", reported["configuration"]!["status"]!.GetValue<string>());
            // No device in the config: the IoT Edge device id is used.
            Assert.Equal(device, reported["runtime"]!["device"]!.GetValue<string>());
            var (status, body, _) = await fake.InvokeMethodAsync("getStatus", "null");
            Assert.Equal(200, status);
            Assert.Equal(device, body!["device"]!.GetValue<string>());

            // Mid-run, with violations open: the stop must end them and put their ends on the way to IoT Hub.
            await TestPorts.WaitUntilAsync(() => process.HasExited || Events(fake).Any(e => e["type"]!.GetValue<string>() == "violation.start"),
                "a violation on output events", TimeSpan.FromSeconds(90));
            var stopwatch = Stopwatch.StartNew();
            using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString()])) await kill.WaitForExitAsync();
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
            output.WriteLine($"SIGTERM to exit: {stopwatch.ElapsedMilliseconds} ms");
            output.WriteLine(stderr.ToString());
            // The host stopped in its order (cameras, outbox, client, models) and said so, with exit code 0.
            lock (stderr) Assert.Contains("edgemask.module[0] Stopped", stderr.ToString());
            Assert.Equal(0, process.ExitCode);
            Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(10), $"stopped in {stopwatch.Elapsed}");
            lock (stderr) Assert.DoesNotContain(" fail: ", stderr.ToString());
            Assert.Empty(fake.Violations);
            // Every start has its end: delivered to IoT Hub, or stored in the outbox for the next start.
            var all = Events(fake).Concat(OutboxEvents(Path.Combine(dir, "outbox.db"))).ToList();
            var starts = all.Where(e => e["type"]!.GetValue<string>() == "violation.start").Select(e => e["id"]!.GetValue<string>()).Distinct().ToList();
            var ends = all.Where(e => e["type"]!.GetValue<string>() == "violation.end").Select(e => e["id"]!.GetValue<string>()).Distinct().ToList();
            Assert.NotEmpty(starts);
            Assert.Equal(starts.Order(), ends.Order());
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
    }
}
