using EdgeMask.Core.Detection;
using EdgeMask.Inference.Detection;
using BenchmarkDotNet.Attributes;

namespace EdgeMask.Bench;

/// <summary>
/// The detector's cost per 960×540 frame of the sample video at each candidate operating point (model × input scale).
/// The stock and fine-tuned files share one graph, so they differ only in how many candidates pass the score threshold.
/// </summary>
public class DetectorScaleBenchmarks : SampleFrameDetectorBenchmark
{
    [Params(1f, 1.5f, 2f)]
    public float Scale { get; set; } = 1f;

    /// <summary><c>default</c>: the manifest's detector; <c>stock</c>: retinaface_mnet025.onnx.</summary>
    [Params("default", "stock")]
    public string Model { get; set; } = "default";

    protected override DetectorOptions Options => new() { Sizing = new InputSizing { Scale = Scale } };
    protected override string? DetectorFile => Model == "stock" ? Path.Combine(BenchPaths.SharedModels, "retinaface_mnet025.onnx") : null;
}
