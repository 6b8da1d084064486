using System.Globalization;
using EdgeMask.Training.Onnx;
using Microsoft.ML.OnnxRuntime;

namespace EdgeMask.Training.Quantization;

/// <summary>How an activation's quantization range is chosen from the calibration faces.</summary>
internal enum CalibrationMethod
{
    /// <summary>The smallest and largest value seen: nothing is clipped, a rare outlier widens every step.</summary>
    MinMax,
    /// <summary>The values at the given percentile from each end: the rare outliers are clipped, the steps are finer.</summary>
    Percentile,
}

/// <summary>A float range [<see cref="Min"/>, <see cref="Max"/>] of one activation tensor (always containing 0).</summary>
internal readonly record struct ActivationRange(float Min, float Max)
{
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"[{Min:0.####}, {Max:0.####}]");
}

/// <summary>
/// Runs the float classifier over the calibration faces with every tensor to be quantized exposed as an extra output
/// (what ONNX Runtime's own calibrator does), and returns each tensor's range: min/max, or the percentile of a
/// 2048-bin histogram taken in a second pass over the same faces.
/// </summary>
internal static class ActivationCalibrator
{
    private const int Bins = 2048;
    private const int Batch = 32;

    /// <param name="graph">The float classifier.</param>
    /// <param name="tensors">The activation tensors to measure.</param>
    /// <param name="faces">Normalized input faces back to back (<c>[N, 3, S, S]</c>), cut and normalized as at run time.</param>
    /// <param name="percentile">For <see cref="CalibrationMethod.Percentile"/>: e.g. 99.99 keeps all but 0.01 % of the values at each end.</param>
    public static Dictionary<string, ActivationRange> Calibrate(ClassifierGraph graph, IReadOnlyList<string> tensors, float[] faces,
        CalibrationMethod method, double percentile, int threads)
    {
        int perFace = 3 * graph.Contract.InputSize * graph.Contract.InputSize;
        if (faces.Length == 0 || faces.Length % perFace != 0)
            throw new ArgumentException($"The calibration input holds {faces.Length} floats, not a whole number of {perFace}-float faces.", nameof(faces));
        byte[] model = ProbeModel(graph, tensors);
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_BASIC, IntraOpNumThreads = threads };
        using var session = new InferenceSession(model, options);

        var min = tensors.ToDictionary(t => t, _ => 0f);
        var max = tensors.ToDictionary(t => t, _ => 0f);
        // Pass 1: the extremes (every range holds 0: a ReLU output's zero, a padding zero, must be exact).
        RunBatches(session, graph, tensors, faces, perFace, (name, values) =>
        {
            float lo = min[name], hi = max[name];
            foreach (float v in values)
            {
                if (v < lo) lo = v;
                else if (v > hi) hi = v;
            }
            min[name] = lo;
            max[name] = hi;
        });
        if (method == CalibrationMethod.MinMax)
            return tensors.ToDictionary(t => t, t => new ActivationRange(min[t], max[t]));

        // Pass 2: a histogram over [min, max] of each tensor, then the percentile from each end.
        var histograms = tensors.ToDictionary(t => t, _ => new long[Bins]);
        RunBatches(session, graph, tensors, faces, perFace, (name, values) =>
        {
            var h = histograms[name];
            float lo = min[name], width = (max[name] - lo) / Bins;
            if (width <= 0) return;
            foreach (float v in values)
                h[Math.Clamp((int)((v - lo) / width), 0, Bins - 1)]++;
        });
        var result = new Dictionary<string, ActivationRange>(StringComparer.Ordinal);
        foreach (string t in tensors)
        {
            var h = histograms[t];
            long total = h.Sum();
            float lo = min[t], width = (max[t] - lo) / Bins;
            if (total == 0 || width <= 0)
            {
                result[t] = new ActivationRange(min[t], max[t]);
                continue;
            }
            double tail = total * (100 - percentile) / 100;
            int first = 0;
            for (long seen = 0; first < Bins - 1 && seen + h[first] <= tail; first++) seen += h[first];
            int last = Bins - 1;
            for (long seen = 0; last > 0 && seen + h[last] <= tail; last--) seen += h[last];
            // The bin edges that keep the bins holding the percentile; 0 stays inside the range.
            result[t] = new ActivationRange(MathF.Min(0f, lo + first * width), MathF.Max(0f, lo + (last + 1) * width));
        }
        return result;
    }

    /// <summary>The float graph with the measured tensors as extra outputs (their shapes left for ONNX Runtime to infer).</summary>
    internal static byte[] ProbeModel(ClassifierGraph graph, IReadOnlyList<string> tensors)
    {
        var c = graph.Contract;
        var nodes = graph.Nodes.Select(n => ClassifierGraph.ToWritable(n)).ToList();
        var weights = graph.Weights.Select(w => new OnnxTensor(w.Key, graph.WeightDims[w.Key], w.Value)).ToList();
        var outputs = new List<OnnxValue> { new(c.OutputName, ["N", c.Classes.Length]) };
        outputs.AddRange(tensors.Where(t => t != c.InputName).Select(t => new OnnxValue(t, null)));
        return OnnxModelWriter.Write("edgemask_calibration", nodes, weights, [new OnnxValue(c.InputName, ["N", 3, c.InputSize, c.InputSize])],
            outputs, new Dictionary<string, string>(), "edgemask-train", "Calibration probe: the float classifier with its activations as outputs.");
    }

    private static void RunBatches(InferenceSession session, ClassifierGraph graph, IReadOnlyList<string> tensors, float[] faces, int perFace,
        Action<string, ReadOnlySpan<float>> observe)
    {
        var c = graph.Contract;
        string[] names = [.. tensors.Where(t => t != c.InputName)];
        using var runOptions = new RunOptions();
        int count = faces.Length / perFace;
        for (int start = 0; start < count; start += Batch)
        {
            int n = Math.Min(Batch, count - start);
            using var input = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, faces.AsMemory(start * perFace, n * perFace), [n, 3, c.InputSize, c.InputSize]);
            if (tensors.Contains(c.InputName)) observe(c.InputName, faces.AsSpan(start * perFace, n * perFace));
            using var outputs = session.Run(runOptions, [c.InputName], [input], names);
            for (int i = 0; i < names.Length; i++) observe(names[i], outputs[i].GetTensorDataAsSpan<float>());
        }
    }
}
