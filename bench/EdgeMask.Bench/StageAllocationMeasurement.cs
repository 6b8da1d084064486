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
/// Where the per-frame managed allocations come from: the sample video through each stage on its own (detect,
/// classify, track, policy), with this thread's allocation counter read around each call. Steady state only (the
/// first scene is warm-up). A stage that reports 0 B allocates nothing per frame.
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
        long index = 0, steady = 0;
        var start = DateTimeOffset.UtcNow;
        while (index < maxFrames && capture.Read(frame) && !frame.Empty())
        {
            var at = start + TimeSpan.FromSeconds(index / 25.0);

            long b = GC.GetAllocatedBytesForCurrentThread();
            detector.Detect(frame, faces);
            bytes[0] = Next(ref b);
            var span = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(faces);
            classifier?.Classify(frame, span, classes.AsSpan(0, faces.Count));
            bytes[1] = Next(ref b);
            tracker.Update(span, classes.AsSpan(0, faces.Count), index, at);
            bytes[2] = Next(ref b);
            var decisions = policy.Evaluate(tracker, frame.Width, frame.Height);
            _ = decisions.Length;
            bytes[3] = Next(ref b);
            if (index >= 36)
            {
                steady++;
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
        return 0;
    }

    private static long Next(ref long previous)
    {
        long now = GC.GetAllocatedBytesForCurrentThread();
        long delta = now - previous;
        previous = now;
        return delta;
    }
}
