using System.Diagnostics;
using EdgeMask.Core.Events;
using EdgeMask.Inference.Runtime;
using EdgeMask.Module.Configuration;
using EdgeMask.Module.Pipeline;
using Microsoft.Extensions.Logging.Abstractions;
using OpenCvSharp;

namespace EdgeMask.Bench;

/// <summary>
/// End to end on the sample video, as fast as possible on CPU: decode → detect → classify → track → policy → events.
/// Reports frames/s, per-frame latency percentiles of the pipeline stages, and managed bytes allocated per frame in
/// steady state (the first scene is warm-up). Decoding is timed apart: it is OpenCV's, not ours.
/// </summary>
internal static class EndToEndMeasurement
{
    private sealed class CountingSink : IPipelineSink
    {
        public int Events;
        public void OnEvent(MaskEvent maskEvent) => Events++;
        public void OnStats(CameraStats stats) { }
    }

    public static int Run(int maxFrames, int warmupFrames = 36, bool spinning = false, int threads = 0)
    {
        var options = new EdgeMaskOptions { Inference = new InferenceSettings { ModelsDirectory = Path.Combine(BenchPaths.RepoRoot, "models"), ExecutionProvider = "cpu", IntraOpSpinning = spinning, IntraOpThreads = threads } };
        using var models = InferenceModels.Open(options.Inference, options.Classifier, NullLogger.Instance);
        var sink = new CountingSink();
        using var pipeline = new CameraPipeline(new CameraPipelineSettings { Device = "bench", Camera = "sample", StatsInterval = TimeSpan.FromHours(1) },
            new FixedModelSource(models), new DirectEventOutput("bench", "sample", sink), sink, TimeProvider.System, NullLogger.Instance);
        using var capture = new VideoCapture(BenchPaths.SampleVideo);
        if (!capture.IsOpened()) throw new IOException($"Cannot open {BenchPaths.SampleVideo}.");
        using var frame = new Mat();
        var latencies = new List<double>(1024);
        long index = 0, steadyBytes = 0, steadyFrames = 0;
        // Allocation of steady-state frames split by whether the frame raised an event: an event is a new record
        // and its JSON by design; a frame without one should allocate nothing.
        var quietFrameBytes = new List<long>(1024);
        long eventFrameBytes = 0, eventFrames = 0;
        double decodeMs = 0;
        var wall = Stopwatch.StartNew();
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
            long bytes = GC.GetAllocatedBytesForCurrentThread();
            int eventsBefore = sink.Events;
            long t0 = Stopwatch.GetTimestamp();
            pipeline.ProcessFrame(frame, index, DateTimeOffset.UtcNow);
            latencies.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
            long allocated = GC.GetAllocatedBytesForCurrentThread() - bytes;
            if (index >= warmupFrames)
            {
                steadyBytes += allocated;
                steadyFrames++;
                if (sink.Events != eventsBefore) { eventFrameBytes += allocated; eventFrames++; }
                else quietFrameBytes.Add(allocated);
            }
            index++;
        }
        wall.Stop();
        pipeline.Complete();
        latencies.Sort();
        double P(double q) => latencies[Math.Min(latencies.Count - 1, (int)(q * latencies.Count))];
        Console.WriteLine($"frames {index}, wall {wall.Elapsed.TotalSeconds:0.0} s, {index / wall.Elapsed.TotalSeconds:0.0} frames/s end to end (decode included)");
        Console.WriteLine($"pipeline latency ms: p50 {P(0.5):0.0}, p95 {P(0.95):0.0}, max {latencies[^1]:0.0}; decode {decodeMs / index:0.0} ms/frame");
        Console.WriteLine($"ONNX Runtime threads per session {(threads == 0 ? Environment.ProcessorCount : threads)}, spinning {(spinning ? "on" : "off")}");
        Console.WriteLine($"pipeline-only throughput {1000.0 / latencies.Average():0.0} frames/s; events {sink.Events}; provider {ExecutionProviderOptions.ToName(models.ActiveProvider)}");
        Console.WriteLine($"managed bytes allocated per frame in steady state: {(steadyFrames == 0 ? 0 : steadyBytes / (double)steadyFrames):0.0} (frames with events allocate the event records)");
        if (quietFrameBytes.Count > 0)
        {
            quietFrameBytes.Sort();
            Console.WriteLine($"  {quietFrameBytes.Count} frames without events: mean {quietFrameBytes.Average():0.0} B, median {quietFrameBytes[quietFrameBytes.Count / 2]} B, " +
                $"max {quietFrameBytes[^1]} B, {quietFrameBytes.Count(b => b == 0)} frames with 0 B");
        }
        if (eventFrames > 0) Console.WriteLine($"  {eventFrames} frames with events: mean {eventFrameBytes / (double)eventFrames:0.0} B");
        return 0;
    }
}
