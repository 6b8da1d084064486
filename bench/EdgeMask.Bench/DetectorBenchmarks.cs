using BenchmarkDotNet.Attributes;
using EdgeMask.Core.Detection;
using EdgeMask.Inference.Detection;
using EdgeMask.Inference.Models;
using EdgeMask.Inference.Runtime;
using Microsoft.Extensions.Logging.Abstractions;
using OpenCvSharp;

namespace EdgeMask.Bench;

/// <summary>
/// RetinaFace per frame on CPU at two camera sizes: preprocessing into the pinned tensor, ONNX Runtime, decoding and NMS.
/// The frame is a real photo (voc853 #5) resized to the camera size, so decoding sees real candidates.
/// </summary>
[MemoryDiagnoser]
public class DetectorBenchmarks
{
    private RetinaFaceDetector _detector = null!;
    private Mat _frame = null!;
    private readonly List<FaceDetection> _faces = new(64);

    [Params("640x480", "960x540")]
    public string Size { get; set; } = "640x480";

    /// <summary>ONNX Runtime's idle worker threads spin (fastest for one model alone) or sleep (what the pipeline uses: two models and a decoder share the CPU).</summary>
    [Params(true, false)]
    public bool Spinning { get; set; } = true;

    [GlobalSetup]
    public void Setup()
    {
        var store = new ModelStore(BenchPaths.SharedModels, ModelManifest.Embedded);
        _detector = RetinaFaceDetector.Open(store, new DetectorOptions(), new ExecutionProviderOptions { Preference = ExecutionProviderKind.Cpu, IntraOpSpinning = Spinning }, NullLogger.Instance);
        var parts = Size.Split('x');
        using var photo = Cv2.ImRead(BenchPaths.VocImage(5));
        _frame = photo.Resize(new OpenCvSharp.Size(int.Parse(parts[0]), int.Parse(parts[1])));
        _detector.Detect(_frame, _faces);
    }

    [Benchmark]
    public int Detect()
    {
        _detector.Detect(_frame, _faces);
        return _faces.Count;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _detector.Dispose();
        _frame.Dispose();
    }
}

internal static class BenchPaths
{
    public static string RepoRoot { get; } = Find();
    public static string Shared => Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared"));
    public static string SharedModels => Path.Combine(Shared, "models");
    public static string VocImage(int n) => Path.Combine(Shared, "data", "face-mask-voc853", "images", $"maksssksksss{n}.jpg");
    public static string SampleVideo => Path.Combine(Shared, "samples", "station-crowd-960x540.mp4");

    /// <summary>One frame of the sample video (340: the densest crowd, 61 annotated faces), owned by the caller.</summary>
    public static Mat ReadSampleFrame(int index)
    {
        using var video = new VideoCapture(SampleVideo);
        video.Set(VideoCaptureProperties.PosFrames, index);
        var frame = new Mat();
        if (!video.Read(frame) || frame.Empty())
        {
            frame.Dispose();
            throw new InvalidOperationException($"Cannot read frame {index} of {SampleVideo}.");
        }
        return frame;
    }

    private static string Find()
    {
        // BenchmarkDotNet runs the benchmark in a child process from a generated folder; the working directory stays.
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "EdgeMask.sln"))) return dir.FullName;
        throw new InvalidOperationException("Run the benchmarks from inside the EdgeMask checkout.");
    }
}
