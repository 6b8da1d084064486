using System.Collections.Concurrent;
using System.Diagnostics;

namespace EdgeMask.Module.Tests.Support;

/// <summary>
/// The real <c>edgemask</c> program as a child process (the apphost beside the tests), its output collected line by
/// line, stopped with SIGTERM as Docker and IoT Edge stop a container.
/// </summary>
internal sealed class EdgemaskProcess : IDisposable
{
    private readonly Process _process;
    private readonly Stopwatch _sinceSignal = new();

    public ConcurrentQueue<string> Stdout { get; } = new();
    public ConcurrentQueue<string> Stderr { get; } = new();

    private EdgemaskProcess(Process process) => _process = process;

    public static EdgemaskProcess Start(IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment = null)
    {
        var psi = new ProcessStartInfo(Path.Combine(AppContext.BaseDirectory, "edgemask"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in arguments) psi.ArgumentList.Add(a);
        // Never as a module of this machine's IoT Edge, whatever the environment the tests run in.
        foreach (var v in psi.Environment.Keys.Where(k => k.StartsWith("IOTEDGE_", StringComparison.Ordinal) || k == "EDGEMASK_IOTHUB_CONNECTION_STRING").ToList())
            psi.Environment.Remove(v);
        foreach (var (k, v) in environment ?? new Dictionary<string, string>()) psi.Environment[k] = v;
        var process = new Process { StartInfo = psi };
        var self = new EdgemaskProcess(process);
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) self.Stdout.Enqueue(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) self.Stderr.Enqueue(e.Data); };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return self;
    }

    public int Id => _process.Id;
    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.ExitCode;

    /// <summary>From SIGTERM to the process's exit.</summary>
    public TimeSpan StopTime { get; private set; }

    public string StderrText => string.Join('\n', Stderr);

    /// <summary>Log lines of level error or critical (the console logger writes them as <c>fail:</c> and <c>crit:</c>).</summary>
    public IReadOnlyList<string> ErrorLines => Stderr.Where(l => l.Contains(" fail: ", StringComparison.Ordinal) || l.Contains(" crit: ", StringComparison.Ordinal)
        || l.StartsWith("fail:", StringComparison.Ordinal) || l.StartsWith("crit:", StringComparison.Ordinal) || l.StartsWith("error:", StringComparison.Ordinal)
        || l.Contains("Unhandled exception", StringComparison.Ordinal)).ToList();

    /// <summary>Sends SIGTERM and waits for the exit (at most <paramref name="timeout"/>), measuring how long the stop took.</summary>
    public async Task<int> TerminateAsync(TimeSpan timeout)
    {
        using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString()]))
        {
            _sinceSignal.Start();
            await kill.WaitForExitAsync();
        }
        await _process.WaitForExitAsync().WaitAsync(timeout);
        StopTime = _sinceSignal.Elapsed;
        return _process.ExitCode;
    }

    public async Task WaitUntilAsync(Func<bool> condition, string what, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (_process.HasExited) throw new InvalidOperationException($"edgemask exited ({_process.ExitCode}) while waiting for {what}:\n{StderrText}");
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"Timed out after {timeout} waiting for {what}:\n{StderrText}");
            await Task.Delay(50);
        }
    }

    public void Dispose()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        _process.Dispose();
    }
}
