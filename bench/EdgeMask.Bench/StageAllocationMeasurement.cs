using EdgeMask.Core.Classification;
using EdgeMask.Core.Detection;
using EdgeMask.Core.Policy;
using EdgeMask.Core.Tracking;
using EdgeMask.Module.Configuration;
using EdgeMask.Module.Pipeline;
using Microsoft.Extensions.Logging.Abstractions;
using OpenCvSharp;

namespace EdgeMask.Bench;

/// <summary>
/// Where the per-frame managed allocations and the time go: the sample video through each stage on its own (detect,
/// classify, track, policy), with this thread's allocation counter and a stopwatch read around each call. Steady
/// state only (the first scene is warm-up). A stage that reports 0 B allocates nothing per frame. Time is given for
/// all frames and for the crowd scene (the sample's scene 9, frames 324–359, 61 annotated faces) apart: the share of
/// each stage says where a crowd frame's time goes, which holds under load even when the milliseconds do not.
/// </summary>
internal static class StageAllocationMeasurement
{
    public static int Run(int maxFrames)
    {
        var options = new EdgeMaskOptions { Inference = new InferenceSettings { ModelsDirectory = Path.Combine(BenchPaths.RepoRoot, "models"), ExecutionProvider = "cpu" } };
        using var models = InferenceModels.Open(options.Inference, options.Classifier, NullLogger.Instance);
        using var detector = models.CreateDetector(options.Detector.ToDetectorOptions());
        using var classifier = models.CreateClassifier();
        var tracker = new FaceTracker(options.Tracking);
        var policy = new ViolationPolicy(options.Violation, "bench", "sample");
        var faces = new List<FaceDetection>(64);
        var classes = new MaskClassification[256];
        using var capture = new VideoCapture(BenchPaths.SampleVideo);
        if (!capture.IsOpened()) throw new IOException($"Cannot open {BenchPaths.SampleVideo}.");
        using var frame = new Mat();
        string[] names = ["detect", "classify", "track", "policy"];
        var totals = new long[names.Length];
        var worst = new long[names.Length];
        var framesWithAllocation = new int[names.Length];
        var bytes = new long[names.Length];
        var ms = new double[names.Length];
        var totalMs = new double[names.Length];
        var crowdMs = new double[names.Length];
        long crowdFrames = 0, crowdFaces = 0, allFaces = 0;
        long index = 0, steady = 0;
        var start = DateTimeOffset.UtcNow;
        while (index < maxFrames && capture.Read(frame) && !frame.Empty())
        {
            var at = start + TimeSpan.FromSeconds(index / 25.0);

            long b = GC.GetAllocatedBytesForCurrentThread();
            long t = System.Diagnostics.Stopwatch.GetTimestamp();
            detector.Detect(frame, faces);
            bytes[0] = Next(ref b);
            ms[0] = Lap(ref t);
            var span = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(faces);
            classifier?.Classify(frame, span, classes.AsSpan(0, faces.Count));
            bytes[1] = Next(ref b);
            ms[1] = Lap(ref t);
            tracker.Update(span, classes.AsSpan(0, faces.Count), index, at);
            bytes[2] = Next(ref b);
            ms[2] = Lap(ref t);
            var decisions = policy.Evaluate(tracker, frame.Width, frame.Height);
            _ = decisions.Length;
            bytes[3] = Next(ref b);
            ms[3] = Lap(ref t);
            if (index >= 36)
            {
                steady++;
                allFaces += faces.Count;
                bool crowd = index is >= 324 and < 360;
                if (crowd) { crowdFrames++; crowdFaces += faces.Count; }
                for (int i = 0; i < names.Length; i++)
                {
                    totalMs[i] += ms[i];
                    if (crowd) crowdMs[i] += ms[i];
                }
                for (int i = 0; i < names.Length; i++)
                {
                    totals[i] += bytes[i];
                    worst[i] = Math.Max(worst[i], bytes[i]);
                    if (bytes[i] > 0) framesWithAllocation[i]++;
                }
            }
            index++;
        }
        Console.WriteLine($"{steady} steady-state frames (of {index})");
        for (int i = 0; i < names.Length; i++)
            Console.WriteLine($"  {names[i],-9} mean {totals[i] / (double)Math.Max(1, steady),9:0.0} B/frame, max {worst[i],9} B, frames allocating {framesWithAllocation[i]}");
        Console.WriteLine($"time per frame (load average {SceneMeasurement.LoadAverage()}): all steady frames ({allFaces / (double)Math.Max(1, steady):0.0} faces) | crowd scene 9 ({crowdFaces / (double)Math.Max(1, crowdFrames):0.0} faces)");
        double all = totalMs.Sum(), crowdAll = crowdMs.Sum();
        for (int i = 0; i < names.Length; i++)
            Console.WriteLine($"  {names[i],-9} {totalMs[i] / Math.Max(1, steady),7:0.00} ms ({100 * totalMs[i] / Math.Max(all, 1e-9),4:0} %) | {crowdMs[i] / Math.Max(1, crowdFrames),7:0.00} ms ({100 * crowdMs[i] / Math.Max(crowdAll, 1e-9),4:0} %)");
        if (crowdFaces > 0) Console.WriteLine($"  classify per face: {totalMs[1] / Math.Max(1, allFaces):0.00} ms | {crowdMs[1] / crowdFaces:0.00} ms");
        return 0;
    }

    private static double Lap(ref long previous)
    {
        long now = System.Diagnostics.Stopwatch.GetTimestamp();
        double elapsed = System.Diagnostics.Stopwatch.GetElapsedTime(previous, now).TotalMilliseconds;
        previous = now;
        return elapsed;
    }

    private static long Next(ref long previous)
    {
        long now = GC.GetAllocatedBytesForCurrentThread();
        long delta = now - previous;
        previous = now;
        return delta;
    }
}
