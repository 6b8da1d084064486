using EdgeMask.Inference.Classification;
using EdgeMask.Tests.Shared;

namespace EdgeMask.Inference.Tests.Classification;

/// <summary>The shipped classifier (models/mask_classifier.onnx, trained by edgemask-train) in real ONNX Runtime.</summary>
public sealed class ClassifierModelFixture : IDisposable
{
    public static string ModelPath => Path.Combine(TestPaths.RepoRoot, "models", "mask_classifier.onnx");

    public MaskClassifier Classifier { get; } = MaskClassifier.Open(ModelPath, intraOpThreads: 2);

    public void Dispose() => Classifier.Dispose();
}

/// <summary>
/// The shipped int8 classifier (models/mask_classifier_int8.onnx, made by <c>edgemask-train quantize</c> from the float
/// file): what the CPU execution provider runs.
/// </summary>
public sealed class Int8ClassifierModelFixture : IDisposable
{
    public static string ModelPath => Path.Combine(TestPaths.RepoRoot, "models", "mask_classifier_int8.onnx");

    public MaskClassifier Classifier { get; } = MaskClassifier.Open(ModelPath, intraOpThreads: 2);

    public void Dispose() => Classifier.Dispose();
}
