using System.Net;
using System.Net.Sockets;

namespace EdgeMask.Messaging.Tests.Support;

public static class TestPaths
{
    /// <summary>The folder holding EdgeMask.sln, found by walking up from the test output folder.</summary>
    public static string RepoRoot
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "EdgeMask.sln"))) dir = dir.Parent;
            return dir?.FullName ?? throw new InvalidOperationException($"EdgeMask.sln not found above {AppContext.BaseDirectory}");
        }
    }

    /// <summary>A port nobody listens on right now (bind port 0, read it, release it).</summary>
    public static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        var port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    /// <summary>How long tests keep the broker down; a few seconds by default (EDGEMASK_TEST_OUTAGE_SECONDS overrides).</summary>
    public static TimeSpan Outage =>
        TimeSpan.FromSeconds(double.TryParse(Environment.GetEnvironmentVariable("EDGEMASK_TEST_OUTAGE_SECONDS"), System.Globalization.CultureInfo.InvariantCulture, out var s) ? s : 3);

    /// <summary>Generous limit for anything that should happen soon on a loaded 2-core machine.</summary>
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);
}

/// <summary>A temporary folder deleted with the test.</summary>
public sealed class TempDir : IDisposable
{
    public TempDir() => Path = Directory.CreateTempSubdirectory("edgemask-msg-").FullName;

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // A broker may still be flushing its persistence file; the OS temp cleaner gets it later.
        }
    }
}
