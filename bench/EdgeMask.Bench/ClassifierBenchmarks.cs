using BenchmarkDotNet.Attributes;
using EdgeMask.Core.Detection;
using EdgeMask.Core.Geometry;
using EdgeMask.Inference.Classification;
using OpenCvSharp;

namespace EdgeMask.Bench;

/// <summary>
/// The mask classifier the CPU runs (the int8 file; 2 intra-op threads): one batched run over 16 faces of a real photo (voc853 #0),
/// including cropping and normalisation into the pinned input tensor. Per-face cost = mean / 16
/// (<see cref="OperationsPerInvoke"/> is set so BenchmarkDotNet reports it per face directly).
/// </summary>
[MemoryDiagnoser]
public class ClassifierBenchmarks
{
    private const int Faces = 16;
    private MaskClassifier _classifier = null!;
    private Mat _frame = null!;
    private readonly FaceDetection[] _faces = new FaceDetection[Faces];
    private readonly MaskClassification[] _results = new MaskClassification[Faces];

    [GlobalSetup]
    public void Setup()
    {
        // By default the file the CPU runs (the manifest's default classifier: the int8 one); EDGEMASK_BENCH_CLASSIFIER
        // measures another (the float file, a new training run) before it replaces the shipped one.
        string model = Environment.GetEnvironmentVariable("EDGEMASK_BENCH_CLASSIFIER") is { Length: > 0 } candidate
            ? candidate
            : Path.Combine(BenchPaths.RepoRoot, "models", EdgeMask.Inference.Models.ModelManifest.Embedded.GetByRole("classifier").File);
        _classifier = MaskClassifier.Open(model, intraOpThreads: 2, initialCapacity: Faces);
        _frame = Cv2.ImRead(BenchPaths.VocImage(0), ImreadModes.Color);
        BenchFaces(_faces);
        _classifier.Classify(_frame, _faces, _results);
    }

    /// <summary>Faces of the sizes a camera sees (20–80 px), spread over voc853 #0 (400×266).</summary>
    internal static void BenchFaces(Span<FaceDetection> faces)
    {
        for (int i = 0; i < faces.Length; i++)
        {
            float size = 20 + 4 * (i % 16), x = 10 + (i % 8) * 45, y = 20 + (i / 8 % 2) * 110;
            faces[i] = new FaceDetection(new BoxF(x, y, x + size, y + size * 1.2f), 0.9f, default);
        }
    }

    [Benchmark(OperationsPerInvoke = Faces)]
    public float ClassifyBatch16_PerFace()
    {
        _classifier.Classify(_frame, _faces, _results);
        return _results[0].MaskProbability;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _classifier.Dispose();
        _frame.Dispose();
    }
}
