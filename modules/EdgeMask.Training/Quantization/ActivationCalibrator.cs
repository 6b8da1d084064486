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
    /// <summary>
    /// The clipping threshold of |x| whose 128-level quantization loses the least information (smallest KL divergence
    /// between the clipped histogram and its quantized copy), as TensorRT's and ONNX Runtime's entropy calibrators choose it.
    /// </summary>
    Entropy,
}

/// <summary>A float range [<see cref="Min"/>, <see cref="Max"/>] of one activation tensor (always containing 0).</summary>
internal readonly record struct ActivationRange(float Min, float Max)
{
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"[{Min:0.####}, {Max:0.####}]");
}

/// <summary>
/// Runs the float classifier over the calibration faces with every tensor to be quantized exposed as an extra output
/// (what ONNX Runtime's own calibrator does), and returns each tensor's range: min/max, or — from a 2048-bin histogram
/// taken in a second pass over the same faces — the percentile, or the entropy (KL) threshold.
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

        if (method == CalibrationMethod.Entropy)
        {
            // Pass 2: a histogram of |x| over [0, max |x|], then the threshold with the least KL divergence.
            var magnitudes = tensors.ToDictionary(t => t, _ => new long[Bins]);
            RunBatches(session, graph, tensors, faces, perFace, (name, values) =>
            {
                var h = magnitudes[name];
                float width = MathF.Max(-min[name], max[name]) / Bins;
                if (width <= 0) return;
                foreach (float v in values)
                    h[Math.Min((int)(MathF.Abs(v) / width), Bins - 1)]++;
            });
            return tensors.ToDictionary(t => t, t =>
            {
                float width = MathF.Max(-min[t], max[t]) / Bins;
                // uint8 spends all 256 levels on [0, t] for a non-negative tensor (a ReLU output), about 128 on each side of 0 otherwise.
                float threshold = width * EntropyThresholdBins(magnitudes[t], min[t] >= 0 ? 256 : 128);
                return width <= 0 ? new ActivationRange(min[t], max[t]) : new ActivationRange(MathF.Max(min[t], -threshold), MathF.Min(max[t], threshold));
            });
        }

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

    /// <summary>
    /// The number of histogram bins to keep (the clipping threshold, in bins) that minimises KL(P ‖ Q): P is the histogram
    /// clipped there with the clipped mass added to its last bin, Q the same merged into <paramref name="levels"/> levels and
    /// spread back over the bins that were not empty — the entropy calibration of TensorRT's INT8 calibrator (128 levels).
    /// </summary>
    internal static int EntropyThresholdBins(long[] histogram, int levels = 128)
    {
        int bins = histogram.Length;
        if (bins <= levels) return bins;
        var p = new double[bins];
        var q = new double[bins];
        double bestDivergence = double.PositiveInfinity;
        int best = bins;
        long tail = histogram.Sum();
        for (int i = levels; i <= bins; i++)
        {
            long kept = 0;
            for (int k = 0; k < i; k++) kept += histogram[k];
            long outliers = tail - kept;
            for (int k = 0; k < i; k++) p[k] = histogram[k];
            p[i - 1] += outliers;
            Array.Clear(q, 0, i);
            double merged = (double)i / levels;
            for (int j = 0; j < levels; j++)
            {
                int start = (int)(j * merged), end = j == levels - 1 ? i : (int)((j + 1) * merged);
                double sum = 0;
                int nonEmpty = 0;
                for (int k = start; k < end; k++)
                {
                    sum += histogram[k];
                    if (histogram[k] != 0) nonEmpty++;
                }
                if (nonEmpty == 0) continue;
                for (int k = start; k < end; k++) q[k] = histogram[k] != 0 ? sum / nonEmpty : 0;
            }
            double pSum = 0, qSum = 0;
            for (int k = 0; k < i; k++) { pSum += p[k]; qSum += q[k]; }
            if (pSum <= 0 || qSum <= 0) continue;
            double divergence = 0;
            for (int k = 0; k < i; k++)
            {
                if (p[k] <= 0) continue;
                double pk = p[k] / pSum, qk = q[k] / qSum;
                // A bin that P fills and Q leaves empty (the clipped mass in an empty last bin) counts as a large, finite loss.
                divergence += pk * Math.Log(pk / Math.Max(qk, 1e-12));
            }
            if (divergence < bestDivergence)
            {
                bestDivergence = divergence;
                best = i;
            }
        }
        return best;
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
