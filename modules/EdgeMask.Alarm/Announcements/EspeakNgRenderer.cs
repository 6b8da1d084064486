using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace EdgeMask.Alarm.Announcements;

/// <summary>
/// Renders announcement text to a WAV file with <c>espeak-ng</c> once and keeps it in a cache directory, keyed by a
/// hash of text, voice and speed, so later announcements (and restarts with a persistent cache) reuse the file.
/// </summary>
public sealed class EspeakNgRenderer(string cacheDirectory, string executable = "espeak-ng")
{
    private static readonly TimeSpan RenderTimeout = TimeSpan.FromSeconds(60);
    private readonly SemaphoreSlim _gate = new(1, 1);

    public string CacheDirectory => cacheDirectory;

    /// <summary>The cache file a rendering of this text, voice and speed lives in (whether or not it exists yet).</summary>
    public string CachePath(string text, string voice, int wordsPerMinute)
    {
        string key = string.Create(CultureInfo.InvariantCulture, $"espeak-ng\n{voice}\n{wordsPerMinute}\n{text}");
        string hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)))[..24];
        return Path.Combine(cacheDirectory, $"tts-{hash}.wav");
    }

    /// <summary>Returns the cached WAV, rendering it first if needed. Throws <see cref="AnnouncementRenderException"/>.</summary>
    public async Task<string> RenderAsync(string text, string voice, int wordsPerMinute, CancellationToken cancellationToken)
    {
        string path = CachePath(text, voice, wordsPerMinute);
        if (File.Exists(path))
            return path;
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (File.Exists(path))
                return path;
            Directory.CreateDirectory(cacheDirectory);
            // Render beside the target and rename, so a crash mid-render never leaves a truncated file in the cache.
            string partial = path + $".{Environment.ProcessId}.partial";
            var psi = new ProcessStartInfo(executable)
            {
                RedirectStandardError = true,
                RedirectStandardOutput = true,
                UseShellExecute = false,
            };
            foreach (string arg in (string[])["-v", voice, "-s", wordsPerMinute.ToString(CultureInfo.InvariantCulture), "-w", partial, "--stdin"])
                psi.ArgumentList.Add(arg);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(RenderTimeout);
            int exitCode;
            string stderr;
            try
            {
                // The text goes through stdin so a leading '-' is never taken for an option.
                (exitCode, stderr) = await ChildProcess.RunAsync(psi, text, timeout.Token).ConfigureAwait(false);
            }
            catch (FileNotFoundException e)
            {
                throw new AnnouncementRenderException($"{executable} is not installed (Debian/Ubuntu package espeak-ng); set Alarm:Announcement:WavFile instead", e);
            }
            if (exitCode != 0 || !File.Exists(partial))
            {
                File.Delete(partial);
                throw new AnnouncementRenderException($"{executable} -v {voice} failed with exit code {exitCode}: {stderr.Trim()}");
            }
            var info = WavInfo.Read(partial);
            if (info.DataLength == 0)
            {
                File.Delete(partial);
                throw new AnnouncementRenderException($"{executable} rendered no sound for the text with voice {voice}");
            }
            File.Move(partial, path, overwrite: true);
            return path;
        }
        finally
        {
            _gate.Release();
        }
    }
}
