using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace EdgeMask.Dashboard.Tests.Support;

/// <summary>
/// Debian's mosquitto as a child process, run with the fleet configuration we ship
/// (<c>deployment/cloud/mosquitto/mosquitto.conf</c>); only the listener, the file locations and the password file
/// are changed for a test machine. Its log is kept so a test can look for dropped messages.
/// </summary>
/// <summary>The checkout the tests run from (where EdgeMask.sln is).</summary>
internal static class RepositoryRoot
{
    public static string Path { get; } = Find();

    private static string Find()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(System.IO.Path.Combine(directory.FullName, "EdgeMask.sln")))
            {
                return directory.FullName;
            }
        }
        throw new InvalidOperationException("EdgeMask.sln not found above " + AppContext.BaseDirectory);
    }
}

[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
internal sealed class Mosquitto : IAsyncDisposable
{
    public const string ShippedConfig = "deployment/cloud/mosquitto/mosquitto.conf";
    private readonly Process _process;
    private readonly TempDirectory _directory;
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _log = new();

    private Mosquitto(Process process, TempDirectory directory, int port)
    {
        _process = process;
        _directory = directory;
        Port = port;
    }

    public int Port { get; }
    public IReadOnlyCollection<string> Log => _log;

    public static async Task<Mosquitto> StartAsync(IReadOnlyDictionary<string, string> users)
    {
        var directory = new TempDirectory();
        // mosquitto started as root drops to the mosquitto user, which must reach these files.
        File.SetUnixFileMode(directory.Path, (UnixFileMode)0b111_111_111);
        var port = FreePort();
        var passwords = Path.Combine(directory.Path, "passwd");
        await File.WriteAllLinesAsync(passwords, users.Select(u => $"{u.Key}:{u.Value}"));
        Run("mosquitto_passwd", "-U", passwords);
        File.SetUnixFileMode(passwords, (UnixFileMode)0b110_100_100);
        var data = Directory.CreateDirectory(Path.Combine(directory.Path, "data")).FullName;
        File.SetUnixFileMode(data, (UnixFileMode)0b111_111_111);

        var shipped = await File.ReadAllLinesAsync(Path.Combine(RepositoryRoot.Path, ShippedConfig));
        var config = shipped.Select(line => line.Split(' ')[0] switch
        {
            "listener" => $"listener {port} 127.0.0.1",
            "password_file" => $"password_file {passwords}",
            "persistence_location" => $"persistence_location {data}/",
            _ => line,
        });
        var configPath = Path.Combine(directory.Path, "mosquitto.conf");
        await File.WriteAllLinesAsync(configPath, config);

        var process = Process.Start(new ProcessStartInfo("mosquitto", ["-c", configPath])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        }) ?? throw new InvalidOperationException("mosquitto did not start (apt-get install mosquitto).");
        var broker = new Mosquitto(process, directory, port);
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { broker._log.Enqueue(e.Data); } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { broker._log.Enqueue(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        await Eventually.UntilAsync(() => Task.FromResult(CanConnect(port) || process.HasExited), ok => ok, "mosquitto to listen");
        if (process.HasExited)
        {
            throw new InvalidOperationException("mosquitto exited: " + string.Join("\n", broker._log));
        }
        return broker;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
        _directory.Dispose();
    }

    private static void Run(string file, params string[] args)
    {
        using var process = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardError = true, UseShellExecute = false })!;
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} failed: {process.StandardError.ReadToEnd()}");
        }
    }

    private static bool CanConnect(int port)
    {
        try
        {
            using var client = new TcpClient();
            client.Connect(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
