using Microsoft.ML.OnnxRuntime;

namespace EdgeMask.Inference.Classification;

/// <summary>
/// The one place the classifier's <see cref="InferenceSession"/> is created, so switching it to the shared
/// execution-provider factory (<c>EdgeMask.Inference.Runtime.OnnxSessionFactory</c>) is a one-line change.
/// </summary>
public static class ClassifierSessions
{
    /// <param name="modelPath">The classifier ONNX file.</param>
    /// <param name="intraOpThreads">Threads for one run; 0: one per CPU the process may use.</param>
    /// <param name="spinning">Let idle worker threads spin (see <c>ExecutionProviderOptions.IntraOpSpinning</c>).</param>
    public static InferenceSession Create(string modelPath, int intraOpThreads = 0, bool spinning = false)
    {
        if (!File.Exists(modelPath))
            throw new FileNotFoundException($"The mask classifier model '{modelPath}' does not exist.", modelPath);
        using var options = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            IntraOpNumThreads = Runtime.OnnxSessionFactory.ResolveThreads(intraOpThreads),
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
        };
        Runtime.OnnxSessionFactory.ApplyCpuSettings(options, spinning);
        return new InferenceSession(modelPath, options);
    }
}
