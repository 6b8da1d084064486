using EdgeMask.Training.Onnx;
using Microsoft.ML.OnnxRuntime;

namespace EdgeMask.Training.Quantization;

/// <summary>
/// What ONNX Runtime's CPU provider really runs for a model: the session is opened with the product's optimisation level
/// (all graph transforms, as <c>ClassifierSessions</c> opens it), ORT writes the graph it will execute, and its nodes are
/// counted by operator. A QDQ file whose Conv/Add were fused shows <c>QLinearConv</c> / <c>QLinearAdd</c> and no float
/// <c>Conv</c>; one that ORT could not fuse shows float Convs fed by DequantizeLinear (slower than the float file).
/// </summary>
internal static class OrtKernelCensus
{
    public static IReadOnlyDictionary<string, int> Count(string modelPath)
    {
        string optimized = Path.Combine(Path.GetTempPath(), $"edgemask-census-{Guid.NewGuid():N}.onnx");
        try
        {
            using (var options = new SessionOptions
            {
                GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
                OptimizedModelFilePath = optimized,
                IntraOpNumThreads = 1,
            })
            using (new InferenceSession(modelPath, options))
            {
            }
            return OnnxGraphFile.Load(optimized).Nodes
                .GroupBy(n => n.OpType, StringComparer.Ordinal)
                .OrderBy(g => g.Key, StringComparer.Ordinal)
                .ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        }
        finally
        {
            File.Delete(optimized);
        }
    }

    public static string Format(IReadOnlyDictionary<string, int> census) => string.Join(", ", census.Select(kv => $"{kv.Key} {kv.Value}"));
}
