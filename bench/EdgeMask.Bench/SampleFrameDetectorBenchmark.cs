using BenchmarkDotNet.Attributes;
using EdgeMask.Core.Detection;
using EdgeMask.Inference.Detection;
using EdgeMask.Inference.Models;
using EdgeMask.Inference.Runtime;
using Microsoft.Extensions.Logging.Abstractions;
using OpenCvSharp;

namespace EdgeMask.Bench;

/// <summary>
/// The detector on the sample's densest crowd (frame 340 of the 960×540 video: 61 annotated faces), so decoding and
/// NMS see a crowd's candidates; CPU, spinning off as in the pipeline. Subclasses choose the options and the model.
/// </summary>
[MemoryDiagnoser]
public abstract class SampleFrameDetectorBenchmark
{
    private RetinaFaceDetector _detector = null!;
    private Mat _frame = null!;
    private readonly List<FaceDetection> _faces = new(128);

    protected abstract DetectorOptions Options { get; }
    /// <summary>A RetinaFace file with the manifest's contract, or null for the manifest's detector.</summary>
    protected virtual string? DetectorFile => null;

    [GlobalSetup]
    public void Setup()
    {
        _detector = RetinaFaceDetector.Open(ModelStore.Open(null), Options,
            new ExecutionProviderOptions { Preference = ExecutionProviderKind.Cpu }, NullLogger.Instance, DetectorFile);
        _frame = BenchPaths.ReadSampleFrame(340);
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
