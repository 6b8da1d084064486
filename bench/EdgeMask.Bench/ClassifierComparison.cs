using System.Diagnostics;
using System.Globalization;
using EdgeMask.Core.Detection;
using EdgeMask.Inference.Classification;
using OpenCvSharp;

namespace EdgeMask.Bench;

/// <summary>
/// <c>classifiers FILE FILE… [--rounds R] [--batch N] [--threads T]</c>: per-face cost of several classifier files
/// (e.g. the float file and its int8 quantization) measured in alternation in one process — round after round, each file
/// runs the same batch of faces (<see cref="ClassifierBenchmarks"/>' faces of voc853 #0) for about 0.2 s. On a shared
/// machine the load moves between rounds, not within one, so the files are compared under the same load; the median
/// and the fastest round of each are printed, with the load average, and the ratio of the medians.
/// </summary>
internal static class ClassifierComparison
{
    public static int Run(string[] args)
    {
        var files = new List<string>();
        int rounds = 15, batch = 16, threads = 2;
        for (int i = 1; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--rounds": rounds = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--batch": batch = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--threads": threads = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                default: files.Add(args[i]); break;
            }
        }
        if (files.Count == 0)
        {
            Console.Error.WriteLine("usage: classifiers FILE [FILE…] [--rounds R] [--batch N] [--threads T]");
            return 2;
        }
        using var frame = Cv2.ImRead(BenchPaths.VocImage(0), ImreadModes.Color);
        var faces = new FaceDetection[batch];
        ClassifierBenchmarks.BenchFaces(faces);
        var results = new MaskClassification[batch];
        var classifiers = files.Select(f => MaskClassifier.Open(f, threads, batch)).ToList();
        try
        {
            var perFace = files.Select(_ => new List<double>()).ToList();
            // Warm-up, and the number of runs that makes a round about 0.2 s for the slowest file.
            double slowest = 0;
            foreach (var c in classifiers)
            {
                for (int i = 0; i < 5; i++) c.Classify(frame, faces, results);
                var sw = Stopwatch.StartNew();
                for (int i = 0; i < 5; i++) c.Classify(frame, faces, results);
                slowest = Math.Max(slowest, sw.Elapsed.TotalMilliseconds / 5);
            }
            int runs = Math.Max(5, (int)(200 / slowest));
            string loadBefore = LoadAverage();
            for (int r = 0; r < rounds; r++)
            {
                for (int m = 0; m < classifiers.Count; m++)
                {
                    var sw = Stopwatch.StartNew();
                    for (int i = 0; i < runs; i++) classifiers[m].Classify(frame, faces, results);
                    perFace[m].Add(sw.Elapsed.TotalMilliseconds / runs / batch);
                }
            }
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{rounds} rounds × {runs} runs of batch {batch}, {threads} threads; load average {loadBefore} before, {LoadAverage()} after"));
            double baseline = Median(perFace[0]);
            for (int m = 0; m < files.Count; m++)
            {
                double median = Median(perFace[m]);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{files[m]}: median {median:0.000} ms/face, fastest round {perFace[m].Min():0.000} ms/face, ×{median / baseline:0.00} of the first"));
            }
            return 0;
        }
        finally
        {
            foreach (var c in classifiers) c.Dispose();
        }
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    }

    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "unknown";
}
