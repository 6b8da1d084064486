using System.Diagnostics;
using System.Globalization;
using EdgeMask.Core.Events;
using EdgeMask.Module.Configuration;
using EdgeMask.Module.Hosting;
using EdgeMask.Module.Pipeline;
using Microsoft.Extensions.Logging.Abstractions;
using OpenCvSharp;

namespace EdgeMask.Bench;

/// <summary>
/// <c>cameras N [frames] [--threads T]…</c>: N cameras on one device, as the runtime runs them — one thread per camera,
/// each decoding the sample itself and running its own pipeline over ONE shared set of model sessions — as fast as
/// possible, for each thread setting given (default: the device's share, CPUs ÷ N, and all CPUs). Reports the frames/s
/// of all cameras together, the slowest camera's, and the per-frame time percentiles: the throughput a site's cameras
/// share, which decides how many frames a realtime camera drops. `edgemask run --realtime` with N sources measures the
/// drops themselves, but its count varies 2–3× between runs on a shared machine; this one is steadier.
/// </summary>
internal static class CamerasMeasurement
{
    private sealed class NullSink : IPipelineSink
    {
        public void OnEvent(MaskEvent maskEvent) { }
        public void OnStats(CameraStats stats) { }
    }

    public static int Run(string[] args)
    {
        int cameras = 2, frames = 432;
        var threadSettings = new List<int>();
        var positional = new List<int>();
        for (int i = 1; i < args.Length; i++)
        {
            if (args[i] == "--threads") threadSettings.Add(int.Parse(args[++i], CultureInfo.InvariantCulture));
            else positional.Add(int.Parse(args[i], CultureInfo.InvariantCulture));
        }
        if (positional.Count > 0) cameras = positional[0];
        if (positional.Count > 1) frames = positional[1];
        if (threadSettings.Count == 0)
        {
            threadSettings.Add(new InferenceSettings().ThreadsPerRun(cameras));
            if (Environment.ProcessorCount != threadSettings[0]) threadSettings.Add(Environment.ProcessorCount);
        }

        Console.WriteLine($"{cameras} camera(s) × {frames} frames of the sample, one shared model set; {Environment.ProcessorCount} CPUs; load average {SceneMeasurement.LoadAverage()}");
        Console.WriteLine();
        Console.WriteLine("| threads per session | all cameras, frames/s | slowest camera, frames/s | p50 ms | p95 ms | wall s |");
        Console.WriteLine("| --- | --- | --- | --- | --- | --- |");
        foreach (int threads in threadSettings)
        {
            var (total, slowest, p50, p95, wall) = Measure(cameras, frames, threads);
            Console.WriteLine($"| {threads} | {total:0.0} | {slowest:0.0} | {p50:0.0} | {p95:0.0} | {wall:0.0} |");
        }
        Console.WriteLine();
        Console.WriteLine($"load average after {SceneMeasurement.LoadAverage()}");
        return 0;
    }

    private static (double Total, double Slowest, double P50, double P95, double Wall) Measure(int cameras, int frames, int threads)
    {
        var defaults = new EdgeMaskOptions();
        using var models = InferenceModels.Open(EndToEndMeasurement.Inference(null, threads, spinning: false), defaults.Classifier, NullLogger.Instance);
        var perCamera = new List<double>[cameras];
        var fps = new double[cameras];
        using var start = new Barrier(cameras);
        var workers = Enumerable.Range(0, cameras).Select(c => new Thread(() =>
        {
            // The settings the device gives a camera of the default configuration (stats only at the end).
            var settings = CameraSupervisor.SettingsFor(defaults with { Device = "bench" }, $"cam{c + 1}", new CameraOptions { Source = BenchPaths.SampleVideo }, version: 0)
                with { StatsInterval = TimeSpan.FromHours(1) };
            var sink = new NullSink();
            using var pipeline = new CameraPipeline(settings, new FixedModelSource(models), new DirectEventOutput("bench", settings.Camera, sink), sink, TimeProvider.System, NullLogger.Instance);
            using var capture = new VideoCapture(BenchPaths.SampleVideo);
            using var frame = new Mat();
            // Each camera starts at another scene, so that crowds do not coincide in every camera at once.
            capture.Set(VideoCaptureProperties.PosFrames, c * 36 * 5 % 864);
            var times = new List<double>(frames);
            var t0 = DateTimeOffset.UtcNow;
            start.SignalAndWait();
            var wall = Stopwatch.StartNew();
            for (long i = 0; i < frames; i++)
            {
                if (!capture.Read(frame) || frame.Empty())
                {
                    capture.Set(VideoCaptureProperties.PosFrames, 0);
                    if (!capture.Read(frame) || frame.Empty()) break;
                }
                long ts = Stopwatch.GetTimestamp();
                pipeline.ProcessFrame(frame, i, t0 + TimeSpan.FromSeconds(i / 15.0));
                times.Add(Stopwatch.GetElapsedTime(ts).TotalMilliseconds);
            }
            fps[c] = times.Count / wall.Elapsed.TotalSeconds;
            pipeline.Complete();
            perCamera[c] = times;
        }) { Name = $"cam{c + 1}" }).ToList();
        var all = Stopwatch.StartNew();
        foreach (var w in workers) w.Start();
        foreach (var w in workers) w.Join();
        all.Stop();
        var every = perCamera.SelectMany(t => t).OrderBy(v => v).ToList();
        return (fps.Sum(), fps.Min(), every[every.Count / 2], every[Math.Min(every.Count - 1, (int)(every.Count * 0.95))], all.Elapsed.TotalSeconds);
    }
}
