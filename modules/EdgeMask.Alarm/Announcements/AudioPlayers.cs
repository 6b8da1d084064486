using System.Diagnostics;
using System.Globalization;

namespace EdgeMask.Alarm.Announcements;

/// <summary>Plays one WAV file to the end (or until cancelled). One call at a time is all the alarm ever makes.</summary>
public interface IAudioPlayer
{
    Task PlayAsync(string wavPath, CancellationToken cancellationToken);
}

/// <summary>ALSA playback through <c>aplay</c> (Debian/Ubuntu package alsa-utils).</summary>
public sealed class AplayAudioPlayer(string? alsaDevice = null, string executable = "aplay") : IAudioPlayer
{
    public async Task PlayAsync(string wavPath, CancellationToken cancellationToken)
    {
        var psi = new ProcessStartInfo(executable)
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add("-q");
        if (alsaDevice is not null)
        {
            psi.ArgumentList.Add("-D");
            psi.ArgumentList.Add(alsaDevice);
        }
        psi.ArgumentList.Add("--");
        psi.ArgumentList.Add(wavPath);
        var (exitCode, stderr) = await ChildProcess.RunAsync(psi, null, cancellationToken).ConfigureAwait(false);
        if (exitCode != 0)
            throw new AudioPlaybackException($"aplay exited with {exitCode} playing {wavPath}: {stderr.Trim()}");
    }
}

/// <summary>
/// "Plays" by copying each WAV into a directory and taking as long as the sound lasts on the injected clock, so
/// tests can check what was played and that plays never overlap. Also usable on a machine without a speaker.
/// </summary>
public sealed class FileSinkAudioPlayer : IAudioPlayer
{
    private readonly string _directory;
    private readonly TimeProvider _time;
    private readonly bool _takeRealDuration;
    private readonly Lock _gate = new();
    private readonly List<PlayRecord> _plays = [];
    private int _playing;
    private int _maxConcurrent;

    /// <summary>One play: the copy that was written, and when it started and finished on the injected clock.</summary>
    public sealed record PlayRecord(string File, DateTimeOffset StartedAt, DateTimeOffset? EndedAt);

    /// <param name="takeRealDuration">Wait the WAV's duration (on <paramref name="time"/>) before completing.</param>
    public FileSinkAudioPlayer(string directory, TimeProvider? time = null, bool takeRealDuration = true)
    {
        _directory = directory;
        _time = time ?? TimeProvider.System;
        _takeRealDuration = takeRealDuration;
        Directory.CreateDirectory(directory);
    }

    public IReadOnlyList<PlayRecord> Plays
    {
        get
        {
            lock (_gate)
                return _plays.ToArray();
        }
    }

    /// <summary>The most plays ever in progress at once (1 when nothing overlapped).</summary>
    public int MaxConcurrent => Volatile.Read(ref _maxConcurrent);

    /// <summary>Raised when a play has started and its duration timer is armed (advancing a fake clock now ends it).</summary>
    public event Action<PlayRecord>? Started;

    public async Task PlayAsync(string wavPath, CancellationToken cancellationToken)
    {
        int now = Interlocked.Increment(ref _playing);
        InterlockedMax(ref _maxConcurrent, now);
        int index;
        PlayRecord record;
        try
        {
            var info = WavInfo.Read(wavPath);
            lock (_gate)
            {
                index = _plays.Count;
                string target = Path.Combine(_directory, string.Create(CultureInfo.InvariantCulture, $"play-{index:D3}.wav"));
                File.Copy(wavPath, target, overwrite: true);
                record = new PlayRecord(target, _time.GetUtcNow(), null);
                _plays.Add(record);
            }
            var finished = _takeRealDuration ? Task.Delay(info.Duration, _time, cancellationToken) : Task.CompletedTask;
            Started?.Invoke(record);
            await finished.ConfigureAwait(false);
            lock (_gate)
                _plays[index] = record with { EndedAt = _time.GetUtcNow() };
        }
        finally
        {
            Interlocked.Decrement(ref _playing);
        }
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while ((current = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }
}

/// <summary>Runs a child process to completion, killing it when cancelled.</summary>
internal static class ChildProcess
{
    public static async Task<(int ExitCode, string StandardError)> RunAsync(ProcessStartInfo psi, string? standardInput, CancellationToken cancellationToken)
    {
        psi.RedirectStandardInput = standardInput is not null;
        using var process = new Process { StartInfo = psi };
        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new FileNotFoundException($"cannot start '{psi.FileName}': {e.Message}; is it installed and on PATH?", psi.FileName, e);
        }
        var stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);
        var stdout = psi.RedirectStandardOutput ? process.StandardOutput.ReadToEndAsync(CancellationToken.None) : Task.FromResult("");
        if (standardInput is not null)
        {
            await process.StandardInput.WriteAsync(standardInput).ConfigureAwait(false);
            process.StandardInput.Close();
        }
        try
        {
            await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // A cancelled announcement must stop the sound now, not when the child finishes on its own.
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
            throw;
        }
        await stdout.ConfigureAwait(false);
        return (process.ExitCode, await stderr.ConfigureAwait(false));
    }
}
