using BenchmarkDotNet.Attributes;
using EdgeMask.Core.Detection;
using EdgeMask.Inference.Detection;
using EdgeMask.Inference.Models;
using EdgeMask.Inference.Runtime;
using Microsoft.Extensions.Logging.Abstractions;
using OpenCvSharp;

namespace EdgeMask.Bench;

/// <summary>
/// The detector's cost per 960×540 frame of the sample video at each candidate operating point (model × input scale),
/// spinning off as in the pipeline. The frame is the sample's densest crowd (frame 340: 61 annotated faces), so
/// decoding and NMS see a crowd's candidates. The stock and fine-tuned files share one graph, so they differ only in
/// how many candidates pass the score threshold.
/// </summary>
[MemoryDiagnoser]
public class DetectorScaleBenchmarks
{
    private RetinaFaceDetector _detector = null!;
    private Mat _frame = null!;
    private readonly List<FaceDetection> _faces = new(128);

    [Params(1f, 1.5f, 2f)]
    public float Scale { get; set; } = 1f;

    /// <summary><c>default</c>: the manifest's detector; <c>stock</c>: retinaface_mnet025.onnx.</summary>
    [Params("default", "stock")]
    public string Model { get; set; } = "default";

    [GlobalSetup]
    public void Setup()
    {
        var store = ModelStore.Open(null);
        string? file = Model == "stock" ? Path.Combine(BenchPaths.SharedModels, "retinaface_mnet025.onnx") : null;
        _detector = RetinaFaceDetector.Open(store, new DetectorOptions { Sizing = new InputSizing { Scale = Scale } },
            new ExecutionProviderOptions { Preference = ExecutionProviderKind.Cpu }, NullLogger.Instance, file);
        using var video = new VideoCapture(BenchPaths.SampleVideo);
        video.Set(VideoCaptureProperties.PosFrames, 340);
        _frame = new Mat();
        if (!video.Read(_frame) || _frame.Empty()) throw new InvalidOperationException($"Cannot read frame 340 of {BenchPaths.SampleVideo}.");
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
