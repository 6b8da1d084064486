using System.Diagnostics;
using System.Net.Sockets;

namespace EdgeMask.Messaging.Tests.Support;

/// <summary>
/// Debian's mosquitto on a random loopback port, configured by a generated file. <see cref="Stop"/> / <see cref="Start"/> keep the
/// port so clients reconnect to the same address. With <c>persistent: true</c> sessions survive a graceful stop (SIGTERM saves
/// them), so a subscriber with a persistent session misses nothing across the outage.
/// </summary>
public sealed class MosquittoBroker : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly string _conf;
    private Process? _process;

    public MosquittoBroker(bool persistent = false, string? extraConfig = null, bool allowAnonymous = true)
    {
        Port = TestPaths.FreePort();
        _conf = _dir.File("mosquitto.conf");
        var lines = new List<string> { $"listener {Port} 127.0.0.1", $"allow_anonymous {(allowAnonymous ? "true" : "false")}" };
        // Run as root (CI), mosquitto would drop to the 'mosquitto' user, which cannot read this private temp folder
        // (ACL file, persistence): keep it as it is. Not as root, the option is ignored.
        if (Environment.UserName == "root") lines.Insert(0, "user root");
        if (persistent)
        {
            lines.Add("persistence true");
            lines.Add($"persistence_location {_dir.Path}/");
            lines.Add("autosave_interval 1");
        }
        else
        {
            lines.Add("persistence false");
        }
        if (extraConfig is not null) lines.Add(extraConfig);
        File.WriteAllLines(_conf, lines);
        Start();
    }

    public int Port { get; }

    public string Log => File.Exists(_dir.File("log")) ? File.ReadAllText(_dir.File("log")) : "";

    public void Start()
    {
        if (_process is { HasExited: false }) throw new InvalidOperationException("mosquitto is already running");
        var psi = new ProcessStartInfo("mosquitto", ["-c", _conf])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        _process = Process.Start(psi) ?? throw new InvalidOperationException("mosquitto did not start");
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) File.AppendAllText(_dir.File("log"), e.Data + "\n"); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited) throw new InvalidOperationException($"mosquitto exited with {_process.ExitCode}: {Log}");
            try
            {
                using var c = new TcpClient();
                c.Connect("127.0.0.1", Port);
                return;
            }
            catch (SocketException)
            {
                Thread.Sleep(50); // polling for the listener; there is no readiness signal from mosquitto
            }
        }
        throw new TimeoutException($"mosquitto did not listen on {Port}: {Log}");
    }

    /// <summary>Graceful stop (SIGTERM: mosquitto saves persistent sessions), then waits for the process to exit.</summary>
    public void Stop()
    {
        if (_process is null || _process.HasExited) return;
        using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            kill.WaitForExit();
        if (!_process.WaitForExit(TimeSpan.FromSeconds(20))) _process.Kill();
        _process.WaitForExit();
        _process.Dispose();
        _process = null;
    }

    public void Dispose()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill();
            _process.WaitForExit();
        }
        _process?.Dispose();
        _dir.Dispose();
    }
}
