using System.Diagnostics;
using System.Globalization;
using EdgeMask.Module.Configuration;
using EdgeMask.Module.Hosting;
using EdgeMask.Module.Snapshots;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace EdgeMask.Bench;

/// <summary>
/// Soak: the device runtime exactly as <c>edgemask run</c> composes it (sessions, outbox, embedded broker, snapshots,
/// one camera looping the sample video) for a given time, printing every interval what a leak would show: resident
/// memory, the managed heap (in use, committed, fragmented), native memory outside it, file descriptors and threads.
/// The first 5 minutes are warm-up (buffers grow to the largest crowd, the allocator settles); growth is judged after.
/// </summary>
internal static class SoakMeasurement
{
    private sealed record Options(TimeSpan Duration, TimeSpan Interval, bool Realtime, bool Snapshots, int MqttPort, int Threads, string? Csv, bool GlibcDefaults);

    public static async Task<int> RunAsync(string[] args)
    {
        var o = Parse(args);
        // As the edgemask program does first thing (unless --glibc-defaults, to measure without it).
        bool tuned = !o.GlibcDefaults && NativeAllocator.Configure();
        var dir = Path.Combine(Path.GetTempPath(), $"edgemask-soak-{Environment.ProcessId}");
        Directory.CreateDirectory(dir);
        var options = new EdgeMaskOptions
        {
            Device = "soak",
            Cameras = new Dictionary<string, CameraOptions> { ["cam1"] = new() { Source = BenchPaths.SampleVideo, Loop = true, Realtime = o.Realtime } },
            Inference = new InferenceSettings { ModelsDirectory = Path.Combine(BenchPaths.RepoRoot, "models"), ExecutionProvider = "cpu", IntraOpThreads = o.Threads },
            Mqtt = new MqttSettings { Port = o.MqttPort },
            Outbox = new() { Path = Path.Combine(dir, "outbox.db") },
            Metrics = new MetricsSettings { Enabled = false },
            Snapshots = new SnapshotOptions { Enabled = o.Snapshots, Directory = Path.Combine(dir, "snapshots") },
        }.Validate();
        using var loggers = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Warning).AddSimpleConsole(c => { c.SingleLine = true; c.TimestampFormat = "HH:mm:ss "; }));
        var settings = new DeviceHostSettings { Run = new RunSettings { LiveView = false, StopWhenCamerasEnd = false } };
        using var host = DeviceHost.Build(options, settings, loggers, TimeProvider.System);
        await DeviceHost.StartOrStopAsync(host, CancellationToken.None);
        var runtime = host.Services.GetRequiredService<DeviceRuntime>();

        Console.WriteLine($"soak: {o.Duration} on {BenchPaths.SampleVideo} (loop, {(o.Realtime ? "realtime" : "as fast as possible")}), snapshots {(o.Snapshots ? "on" : "off")}, " +
            $"embedded broker on {o.MqttPort}, ONNX Runtime threads {(o.Threads == 0 ? Environment.ProcessorCount : o.Threads)}, " +
            $"malloc {(tuned ? $"tuned (arenas {NativeAllocator.Arenas}, mmap/trim threshold {NativeAllocator.Threshold / 1024} KB)" : "as the environment says")}; a sample every {o.Interval}");
        Console.WriteLine("  min  frames   fps  rss_MB  gc_heap_MB  gc_committed_MB  gc_fragmented_MB  native_MB  anon_MB  fds  threads  outbox  snapshots");
        using var csv = o.Csv is null ? null : new StreamWriter(o.Csv) { AutoFlush = true };
        csv?.WriteLine("minutes,frames,fps,rss_mb,gc_heap_mb,gc_committed_mb,gc_fragmented_mb,native_mb,anon_mb,fds,threads,outbox,snapshots");

        var samples = new List<(double Minutes, double RssMb, int Fds, int Threads)>();
        var clock = Stopwatch.StartNew();
        long lastFrames = 0;
        var lastAt = TimeSpan.Zero;
        while (true)
        {
            var next = lastAt + o.Interval;
            if (next > o.Duration) next = o.Duration;
            var wait = next - clock.Elapsed;
            if (wait > TimeSpan.Zero) await Task.Delay(wait);
            var camera = runtime.Cameras.Cameras.Single();
            long frames = camera.Counters.Frames;
            double fps = (frames - lastFrames) / Math.Max(0.001, (clock.Elapsed - lastAt).TotalSeconds);
            (lastFrames, lastAt) = (frames, clock.Elapsed);
            var s = Sample();
            double minutes = clock.Elapsed.TotalMinutes;
            long outbox = runtime.Messaging.OutboxDepth() ?? 0;
            int snapshots = runtime.Snapshots.Current?.SnapshotCount ?? 0;
            samples.Add((minutes, s.RssMb, s.Fds, s.Threads));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{minutes,5:0.0}  {frames,6}  {fps,4:0.0}  {s.RssMb,6:0.0}  {s.GcHeapMb,10:0.0}  {s.GcCommittedMb,15:0.0}  {s.GcFragmentedMb,16:0.0}  {s.RssMb - s.GcCommittedMb,9:0.0}  {s.AnonMb,7:0.0}  {s.Fds,3}  {s.Threads,7}  {outbox,6}  {snapshots,9}"));
            csv?.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{minutes:0.00},{frames},{fps:0.0},{s.RssMb:0.0},{s.GcHeapMb:0.0},{s.GcCommittedMb:0.0},{s.GcFragmentedMb:0.0},{s.RssMb - s.GcCommittedMb:0.0},{s.AnonMb:0.0},{s.Fds},{s.Threads},{outbox},{snapshots}"));
            if (clock.Elapsed >= o.Duration) break;
        }
        var stopping = Stopwatch.StartNew();
        await host.StopAsync();
        Console.WriteLine($"stopped in {stopping.ElapsedMilliseconds} ms");

        var settled = samples.Where(x => x.Minutes >= 5).ToList();
        if (settled.Count >= 2)
        {
            var (first, last) = (settled[0], settled[^1]);
            double growth = (last.RssMb - first.RssMb) / first.RssMb * 100;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"after warm-up ({first.Minutes:0.0} → {last.Minutes:0.0} min): RSS {first.RssMb:0.0} → {last.RssMb:0.0} MB ({growth:+0.0;-0.0} %), max {settled.Max(x => x.RssMb):0.0} MB; " +
                $"fds {settled.Min(x => x.Fds)}–{settled.Max(x => x.Fds)}; threads {settled.Min(x => x.Threads)}–{settled.Max(x => x.Threads)}"));
        }
        try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        return 0;
    }

    private readonly record struct ProcessSample(double RssMb, double AnonMb, double GcHeapMb, double GcCommittedMb, double GcFragmentedMb, int Fds, int Threads);

    private static ProcessSample Sample()
    {
        var info = GC.GetGCMemoryInfo(GCKind.Any);
        double Mb(long bytes) => bytes / (1024.0 * 1024.0);
        return new ProcessSample(
            RssMb: StatusKb("VmRSS") / 1024.0,
            AnonMb: StatusKb("RssAnon") / 1024.0,
            GcHeapMb: Mb(GC.GetTotalMemory(false)),
            GcCommittedMb: Mb(info.TotalCommittedBytes),
            GcFragmentedMb: Mb(info.FragmentedBytes),
            Fds: Directory.GetFiles("/proc/self/fd").Length,
            Threads: (int)StatusKb("Threads"));
    }

    /// <summary>A numeric field of /proc/self/status (kB for memory, a count for Threads).</summary>
    private static long StatusKb(string field)
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
        {
            if (!line.StartsWith(field + ":", StringComparison.Ordinal)) continue;
            var value = line[(field.Length + 1)..].Trim().Split(' ')[0];
            return long.Parse(value, CultureInfo.InvariantCulture);
        }
        return 0;
    }

    private static Options Parse(string[] args)
    {
        var duration = TimeSpan.FromMinutes(60);
        var interval = TimeSpan.FromMinutes(1);
        bool realtime = false, snapshots = true, glibcDefaults = false;
        int port = 18841, threads = 0;
        string? csv = null;
        var positional = new List<string>();
        for (int i = 1; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--interval": interval = TimeSpan.FromSeconds(double.Parse(args[++i], CultureInfo.InvariantCulture)); break;
                case "--realtime": realtime = true; break;
                case "--no-snapshots": snapshots = false; break;
                case "--mqtt-port": port = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--threads": threads = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--csv": csv = args[++i]; break;
                case "--glibc-defaults": glibcDefaults = true; break;
                default: positional.Add(args[i]); break;
            }
        }
        if (positional.Count > 0) duration = TimeSpan.FromMinutes(double.Parse(positional[0], CultureInfo.InvariantCulture));
        return new Options(duration, interval, realtime, snapshots, port, threads, csv, glibcDefaults);
    }
}
