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
    [Fact]
    public async Task ModuleProcess_ConnectionStringThenSigterm_ReportsTwinAndExitsZero()
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
            ["classifier"] = new JsonObject { ["enabled"] = false },
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

            using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString()])) await kill.WaitForExitAsync();
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
            output.WriteLine(stderr.ToString());
            // The host stopped in order (runner disposed, client closed) and said so. The exit code is 0 from the module,
            // unless System.CommandLine's own SIGTERM handling (ProcessTerminationTimeout) answers first with the
            // conventional 143 (128 + SIGTERM) — both are a clean stop, neither is a crash (which would be 2 or 134).
            lock (stderr) Assert.Contains("edgemask.module[0] Stopped", stderr.ToString());
            Assert.Contains(process.ExitCode, new[] { 0, 143 });
            Assert.Empty(fake.Violations);
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
    }
}
