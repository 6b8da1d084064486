using BenchmarkDotNet.Attributes;
using EdgeMask.Core.Detection;
using EdgeMask.Inference.Detection;
using EdgeMask.Inference.Models;
using EdgeMask.Inference.Runtime;
using Microsoft.Extensions.Logging.Abstractions;
using OpenCvSharp;

namespace EdgeMask.Bench;

/// <summary>
/// What a border around the detector input (<see cref="InputSizing.BorderPad"/>) costs per 960×540 frame of the sample
/// at the operating point (×1, the default detector): a larger tensor (1024×604 for 32 px, +19 % pixels), and for a
/// replicated border one more copy of the frame.
/// </summary>
[MemoryDiagnoser]
public class DetectorBorderBenchmarks
{
    private RetinaFaceDetector _detector = null!;
    private Mat _frame = null!;
    private readonly List<FaceDetection> _faces = new(128);

    [Params(0, 32)]
    public int BorderPad { get; set; }

    [Params(BorderFill.Mean, BorderFill.Replicate)]
    public BorderFill Fill { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _detector = RetinaFaceDetector.Open(ModelStore.Open(null),
            new DetectorOptions { Sizing = new InputSizing { BorderPad = BorderPad, BorderFill = Fill } },
            new ExecutionProviderOptions { Preference = ExecutionProviderKind.Cpu }, NullLogger.Instance);
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
