using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using EdgeMask.Module.Sources;
using EdgeMask.Tests.Shared;
using OpenCvSharp;

namespace EdgeMask.Module.Tests.Sources;

/// <summary>Inputs for the source tests, made in code from the shared sample video.</summary>
internal static class SourceFixtures
{
    public static string SampleVideo => TestPaths.SampleVideo;

    /// <summary>Generous: the CI machine is small and shared.</summary>
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    /// <summary>A copy of the sample with random bytes over a stretch of its media data, early enough to read past quickly.</summary>
    public static string CorruptCopy(string dir, long start = 250_000, int length = 60_000)
    {
        var bytes = File.ReadAllBytes(SampleVideo);
        // The moov box sits at the front of this file (faststart): the damage hits picture data only.
        var random = new Random(1);
        random.NextBytes(bytes.AsSpan((int)start, length));
        string path = Path.Combine(dir, "corrupt.mp4");
        File.WriteAllBytes(path, bytes);
        return path;
    }

    /// <summary>A folder with the first <paramref name="count"/> frames of the sample as JPEGs (out of name order on disk), plus noise.</summary>
    public static string ImageFolder(string dir, int count)
    {
        using var capture = new VideoCapture(SampleVideo);
        using var mat = new Mat();
        for (int i = count - 1; i >= 0; i--)
        {
            // Written in reverse so the order comes from the names, not from the directory listing.
            capture.Set(VideoCaptureProperties.PosFrames, i * 15);
            Assert.True(capture.Read(mat));
            Cv2.ImWrite(Path.Combine(dir, $"frame-{i:D3}.jpg"), mat);
        }
        File.WriteAllText(Path.Combine(dir, "frame-001b.jpg"), "not a jpeg");
        File.WriteAllText(Path.Combine(dir, "readme.txt"), "not an image");
        return dir;
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Serves the sample (looped, at its own rate) as MPEG-TS over HTTP on loopback, for one client at a time.</summary>
    public static Process ServeHttp(int port)
    {
        var psi = new ProcessStartInfo("ffmpeg")
        {
            UseShellExecute = false,
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        };
        foreach (var a in new[] { "-nostdin", "-hide_banner", "-loglevel", "error", "-re", "-stream_loop", "-1", "-i", SampleVideo,
                     "-c", "copy", "-f", "mpegts", "-listen", "1", $"http://127.0.0.1:{port}/live.ts" })
            psi.ArgumentList.Add(a);
        var p = Process.Start(psi) ?? throw new InvalidOperationException("ffmpeg did not start");
        p.BeginErrorReadLine();
        p.BeginOutputReadLine();
        return p;
    }

    public static void Signal(Process p, string signal)
    {
        using var kill = Process.Start("kill", $"-{signal} {p.Id}");
        kill.WaitForExit();
    }

    public static void Stop(Process? p)
    {
        if (p is null) return;
        if (!p.HasExited) p.Kill(entireProcessTree: true);
        p.WaitForExit(10_000);
        p.Dispose();
    }

    /// <summary>Polls until <paramref name="condition"/> holds or fails the test after <paramref name="timeout"/>.</summary>
    public static async Task WaitUntil(Func<bool> condition, string what, TimeSpan? timeout = null, Func<string>? describe = null)
    {
        var deadline = Stopwatch.StartNew();
        var limit = timeout ?? Patience;
        while (!condition())
        {
            if (deadline.Elapsed > limit) Assert.Fail($"Timed out after {limit.TotalSeconds:0} s waiting for {what}{(describe is null ? "" : $" ({describe()})")}.");
            await Task.Delay(50);
        }
    }

    /// <summary>Reads and disposes every frame, counting them, until the channel completes or <paramref name="ct"/> fires.</summary>
    public static Task<long> DrainAsync(CameraCapture capture, Action<Frame>? look = null, CancellationToken ct = default) => Task.Run(async () =>
    {
        long n = 0;
        try
        {
            await foreach (var frame in capture.Frames.ReadAllAsync(ct))
            {
                using (frame)
                {
                    look?.Invoke(frame);
                    n++;
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // The test decided it has seen enough.
        }
        return n;
    }, CancellationToken.None);
}
