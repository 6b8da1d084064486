using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using EdgeMask.Dashboard.Security;
using EdgeMask.Dashboard.Tests.Support;

namespace EdgeMask.Dashboard.Tests;

/// <summary>The <c>edgemask-dashboard</c> executable started as a user would, with one command, as a child process.</summary>
public sealed class ExecutableTests
{
    private static readonly string Dll = Path.Combine(AppContext.BaseDirectory, "edgemask-dashboard.dll");

    [Fact]
    public async Task Executable_OneCommand_ServesOnlyTheConfiguredLoopbackAddress()
    {
        using var directory = new TempDirectory();
        var port = FreePort();
        const string key = "process-test-key-abcdefghijklmnop";
        using var process = Start(
            $"--Dashboard:Listen=http://127.0.0.1:{port}",
            "--Dashboard:Mqtt:Enabled=false",
            $"--Dashboard:Store:ConnectionString=Data Source={Path.Combine(directory.Path, "d.db")}",
            $"--Dashboard:Store:SnapshotDirectory={Path.Combine(directory.Path, "snapshots")}",
            $"--Dashboard:Store:KeysDirectory={Path.Combine(directory.Path, "keys")}",
            $"--Dashboard:Auth:ApiKeyHashes:0={ApiKeyHasher.Hash(key)}");
        var output = new System.Collections.Concurrent.ConcurrentQueue<string>();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { output.Enqueue(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(5) };
            await Eventually.UntilAsync(async () =>
            {
                try
                {
                    return (await client.GetAsync("/healthz")).StatusCode;
                }
                catch (HttpRequestException)
                {
                    return HttpStatusCode.ServiceUnavailable;
                }
            }, s => s == HttpStatusCode.OK, "the dashboard process to answer", TimeSpan.FromSeconds(60));

            using var request = new HttpRequestMessage(HttpMethod.Get, "/api/events") { Headers = { { "X-Api-Key", key } } };
            Assert.Equal(HttpStatusCode.OK, (await client.SendAsync(request)).StatusCode);
            Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync("/api/events")).StatusCode);
            var listening = output.Where(l => l.Contains("Now listening on:", StringComparison.Ordinal)).ToList();
            Assert.Equal([$"Now listening on: http://127.0.0.1:{port}"], listening.Select(l => l.Trim()));
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    [Fact]
    public async Task Executable_NoCredentialsConfigured_ExitsWithCodeTwoNamingTheKey()
    {
        using var directory = new TempDirectory();
        using var process = Start($"--Dashboard:Listen=http://127.0.0.1:{FreePort()}", "--Dashboard:Mqtt:Enabled=false",
            $"--Dashboard:Store:ConnectionString=Data Source={Path.Combine(directory.Path, "d.db")}");
        var error = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.Equal(2, process.ExitCode);
        Assert.Contains("Dashboard:Auth:AdminPasswordHash", error);
    }

    private static Process Start(params string[] args)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(Dll);
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }
        // The shipped appsettings.json configures the real defaults; tests pass everything on the command line.
        info.Environment["DOTNET_ENVIRONMENT"] = "Production";
        return Process.Start(info) ?? throw new InvalidOperationException("dotnet did not start.");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
