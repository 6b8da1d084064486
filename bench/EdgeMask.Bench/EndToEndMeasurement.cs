using System.Diagnostics;
using EdgeMask.Core.Events;
using EdgeMask.Core.Policy;
using EdgeMask.Inference.Runtime;
using EdgeMask.Module.Configuration;
using EdgeMask.Module.Pipeline;
using Microsoft.Extensions.Logging.Abstractions;
using OpenCvSharp;

namespace EdgeMask.Bench;

/// <summary>One operating point of <c>e2e</c>: a detector file (null: the manifest's default) at an input scale.</summary>
internal sealed record EndToEndConfig(string Label, string? DetectorFile, float Scale, bool ClassifySmallFaces = false, int? SettledEveryNthFrame = null);

/// <summary>
/// End to end on the sample video, as fast as possible on CPU: decode → detect → classify → track → policy → events,
/// for one or more operating points side by side (default: the stock detector ×1, the former default, and the
/// manifest's default ×1). Each decoded frame goes through every configuration's own pipeline in turn, so all of them
/// see the same frames under the same load. Reports frames/s, per-frame latency percentiles, the CPU time per frame of
/// the whole process (less sensitive to other processes' load than wall time), the worst 36-frame scene, and managed
/// bytes allocated per frame in steady state (the first scene is warm-up). Decoding is timed apart: it is OpenCV's.
/// </summary>
internal static class EndToEndMeasurement
{
    private sealed class CountingSink : IPipelineSink
    {
        public int Events;
        public void OnEvent(MaskEvent maskEvent) => Events++;
        public void OnStats(CameraStats stats) { }
    }

    private sealed class Lane(EndToEndConfig config, InferenceModels models, CameraPipeline pipeline, CountingSink sink) : IDisposable
    {
        public EndToEndConfig Config { get; } = config;
        public InferenceModels Models { get; } = models;
        public CameraPipeline Pipeline { get; } = pipeline;
        public CountingSink Sink { get; } = sink;
        public List<(long Frame, double Ms, double CpuMs)> Frames { get; } = new(2048);
        public List<long> QuietFrameBytes { get; } = new(2048);
        public long SteadyBytes, SteadyFrames, EventFrameBytes, EventFrames;
        public void Dispose()
        {
            Pipeline.Dispose();
            Models.Dispose();
        }
    }

    /// <summary>The inference settings of the bench: the checkout's models, CPU, and the detector file to use.</summary>
    public static InferenceSettings Inference(string? detector, int threads, bool spinning) => new()
    {
        ModelsDirectory = Path.Combine(BenchPaths.RepoRoot, "models"),
        ExecutionProvider = "cpu",
        IntraOpSpinning = spinning,
        IntraOpThreads = threads,
        DetectorFile = detector switch
        {
            null or "default" => null,
            "stock" => StockDetector(),
            _ => Path.GetFullPath(detector),
        },
    };

    private static string StockDetector()
    {
        foreach (var dir in new[] { Path.Combine(BenchPaths.RepoRoot, "models"), BenchPaths.SharedModels })
        {
            string path = Path.Combine(dir, "retinaface_mnet025.onnx");
            if (File.Exists(path)) return path;
        }
        throw new FileNotFoundException("The stock detector retinaface_mnet025.onnx is not installed: run models/install.sh --optional.");
    }

    public static readonly EndToEndConfig[] DefaultConfigs =
    [
        new("stock ×1", "stock", 1f),
        new("default ×1", null, 1f),
    ];

    public static int Run(int maxFrames, int warmupFrames, bool spinning, int threads, IReadOnlyList<EndToEndConfig> configs, bool perScene)
    {
        var scenes = SampleScenes.Load();
        var defaults = new EdgeMaskOptions();
        var lanes = new List<Lane>();
        try
        {
            foreach (var config in configs)
            {
                var models = InferenceModels.Open(Inference(config.DetectorFile, threads, spinning), defaults.Classifier, NullLogger.Instance);
                var sink = new CountingSink();
                var settings = new CameraPipelineSettings
                {
                    Device = "bench",
                    Camera = "sample",
                    Detector = (defaults.Detector with { Scale = config.Scale }).ToDetectorOptions(),
                    Tracking = defaults.Tracking,
                    Violation = defaults.Violation,
                    ClassifySmallFaces = config.ClassifySmallFaces,
                    ClassifySettledEveryNthFrame = config.SettledEveryNthFrame ?? (config.ClassifySmallFaces ? 1 : defaults.Classifier.SettledEveryNthFrame),
                    StatsInterval = TimeSpan.FromHours(1),
                };
                lanes.Add(new Lane(config, models, new CameraPipeline(settings, new FixedModelSource(models), new DirectEventOutput("bench", "sample", sink), sink, TimeProvider.System, NullLogger.Instance), sink));
            }
            return Measure(lanes, scenes, maxFrames, warmupFrames, spinning, threads, perScene);
        }
        finally
        {
            foreach (var lane in lanes) lane.Dispose();
        }
    }

    private static int Measure(List<Lane> lanes, IReadOnlyList<SceneExpectation> scenes, int maxFrames, int warmupFrames, bool spinning, int threads, bool perScene)
    {
        using var capture = new VideoCapture(BenchPaths.SampleVideo);
        if (!capture.IsOpened()) throw new IOException($"Cannot open {BenchPaths.SampleVideo}.");
        using var frame = new Mat();
        var process = Process.GetCurrentProcess();
        long index = 0;
        double decodeMs = 0;
        string loadBefore = SceneMeasurement.LoadAverage();
        var wall = Stopwatch.StartNew();
        var t0 = DateTimeOffset.UtcNow;
        while (index < maxFrames)
        {
            long d0 = Stopwatch.GetTimestamp();
            if (!capture.Read(frame) || frame.Empty())
            {
                // Loop the video: a second pass measures the steady state of a long-running camera, after every
                // buffer has grown to the largest crowd and batch the scene holds. Without a frame count: one pass.
                if (index == 0 || maxFrames == int.MaxValue || !capture.Set(VideoCaptureProperties.PosFrames, 0) || !capture.Read(frame) || frame.Empty()) break;
            }
            decodeMs += Stopwatch.GetElapsedTime(d0).TotalMilliseconds;
            // Frames stamped at the camera's 15 frames/s, so tracking and policy see the time a camera would give.
            var at = t0 + TimeSpan.FromSeconds(index / 15.0);
            foreach (var lane in lanes)
            {
                long bytes = GC.GetAllocatedBytesForCurrentThread();
                int eventsBefore = lane.Sink.Events;
                process.Refresh();
                var cpu0 = process.TotalProcessorTime;
                long ts = Stopwatch.GetTimestamp();
                lane.Pipeline.ProcessFrame(frame, index, at);
                double ms = Stopwatch.GetElapsedTime(ts).TotalMilliseconds;
                process.Refresh();
                double cpuMs = (process.TotalProcessorTime - cpu0).TotalMilliseconds;
                long allocated = GC.GetAllocatedBytesForCurrentThread() - bytes;
                if (index >= warmupFrames)
                {
                    lane.Frames.Add((index, ms, cpuMs));
                    lane.SteadyBytes += allocated;
                    lane.SteadyFrames++;
                    if (lane.Sink.Events != eventsBefore) { lane.EventFrameBytes += allocated; lane.EventFrames++; }
                    else lane.QuietFrameBytes.Add(allocated);
                }
            }
            index++;
        }
        wall.Stop();
        foreach (var lane in lanes) lane.Pipeline.Complete();
        double decodePerFrame = decodeMs / Math.Max(1, index);
        Console.WriteLine($"frames {index} ({warmupFrames} warm-up), wall {wall.Elapsed.TotalSeconds:0.0} s for {lanes.Count} configuration(s); decode {decodePerFrame:0.0} ms/frame; " +
            $"ONNX Runtime threads per session {(threads == 0 ? Environment.ProcessorCount : threads)}, spinning {(spinning ? "on" : "off")}; provider {ExecutionProviderOptions.ToName(lanes[0].Models.ActiveProvider)}");
        Console.WriteLine($"load average before {loadBefore}, after {SceneMeasurement.LoadAverage()} (1, 5, 15 min)");
        Console.WriteLine();
        Console.WriteLine("| configuration | frames/s end to end | pipeline frames/s | p50 ms | p95 ms | max ms | CPU ms/frame (p50 / p95) | worst scene: mean / p95 ms | events |");
        Console.WriteLine("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        foreach (var lane in lanes)
        {
            var ms = lane.Frames.Select(f => f.Ms).ToList();
            var cpu = lane.Frames.Select(f => f.CpuMs).ToList();
            if (ms.Count == 0) continue;
            double mean = ms.Average();
            var sceneStats = PerScene(lane.Frames, scenes);
            var worst = sceneStats.OrderByDescending(s => s.P95).First();
            Console.WriteLine($"| {lane.Config.Label} ({Path.GetFileName(lane.Models.DetectorPath)}) | {1000.0 / (mean + decodePerFrame):0.0} | {1000.0 / mean:0.0} | " +
                $"{Percentile(ms, 0.5):0.0} | {Percentile(ms, 0.95):0.0} | {ms.Max():0.0} | {Percentile(cpu, 0.5):0.0} / {Percentile(cpu, 0.95):0.0} | " +
                $"scene {worst.Scene} ({scenes[worst.Scene].Name}): {worst.Mean:0.0} / {worst.P95:0.0} | {lane.Sink.Events} |");
        }
        if (perScene)
        {
            Console.WriteLine();
            Console.WriteLine("per scene, mean / p95 ms: " + string.Join(" | ", lanes.Select(l => l.Config.Label)));
            var tables = lanes.Select(l => PerScene(l.Frames, scenes).ToDictionary(s => s.Scene)).ToList();
            for (int s = 0; s < scenes.Count; s++)
            {
                Console.WriteLine($"  {s,2} {scenes[s].Name,-22} faces {scenes[s].Faces,3}: " +
                    string.Join(" | ", tables.Select(t => t.TryGetValue(s, out var v) ? $"{v.Mean,6:0.0} / {v.P95,6:0.0}" : "     -")));
            }
        }
        Console.WriteLine();
        foreach (var lane in lanes)
        {
            Console.WriteLine($"{lane.Config.Label}: managed bytes per steady-state frame {(lane.SteadyFrames == 0 ? 0 : lane.SteadyBytes / (double)lane.SteadyFrames):0.0}" +
                (lane.QuietFrameBytes.Count > 0 ? $"; {lane.QuietFrameBytes.Count} frames without events: mean {lane.QuietFrameBytes.Average():0.0} B, max {lane.QuietFrameBytes.Max()} B, {lane.QuietFrameBytes.Count(b => b == 0)} with 0 B" : "") +
                (lane.EventFrames > 0 ? $"; {lane.EventFrames} frames with events: mean {lane.EventFrameBytes / (double)lane.EventFrames:0.0} B" : ""));
        }
        return 0;
    }

    private readonly record struct SceneStat(int Scene, double Mean, double P95);

    private static List<SceneStat> PerScene(List<(long Frame, double Ms, double CpuMs)> frames, IReadOnlyList<SceneExpectation> scenes) =>
        frames.GroupBy(f => SampleScenes.SceneOf(scenes, f.Frame)).Where(g => g.Key >= 0)
            .Select(g => { var ms = g.Select(f => f.Ms).ToList(); return new SceneStat(g.Key, ms.Average(), Percentile(ms, 0.95)); })
            .OrderBy(s => s.Scene).ToList();

    private static double Percentile(List<double> values, double q)
    {
        var sorted = values.OrderBy(v => v).ToList();
        return sorted[Math.Min(sorted.Count - 1, (int)(q * sorted.Count))];
    }
}
