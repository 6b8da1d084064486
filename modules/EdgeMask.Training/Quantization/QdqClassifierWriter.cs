using System.Runtime.InteropServices;
using EdgeMask.Training.Onnx;

namespace EdgeMask.Training.Quantization;

/// <summary>
/// Writes a float classifier as a static int8 graph in QDQ form (QuantizeLinear/DequantizeLinear pairs around the
/// operators ONNX Runtime's CPU provider fuses into integer kernels):
/// <list type="bullet">
/// <item>every Conv reads a dequantized activation, an int8 weight (symmetric, one scale per output channel, zero point 0)
/// and an int32 bias at scale s_x·s_w — the exact pattern ORT's QDQ transformer turns into <c>QLinearConv</c>;</item>
/// <item>every activation that a Conv, Add or MaxPool reads, and every ReLU output, is quantized per tensor to uint8 with
/// the calibrated range. A ReLU's range starts at 0, so its zero point is 0 and ORT drops the ReLU into the quantization
/// (its <c>Relu → QuantizeLinear</c> fusion), which leaves <c>Conv → Q</c> and <c>Add → Q</c>: <c>QLinearConv</c> and
/// <c>QLinearAdd</c>. A MaxPool's output keeps its input's scale and zero point, so ORT runs it on uint8 as it is;</item>
/// <item>global pooling, the last linear layer and the softmax stay float: they are a few hundred operations per face,
/// and float keeps the probabilities the violation policy thresholds as exact as the float model's.</item>
/// </list>
/// uint8 activations with int8 weights (U8S8) are what ORT's x86 kernels run (they convert int8 activations to uint8
/// anyway); with <c>weightMax</c> 64 (7-bit weights, ORT's <c>reduce_range</c>) the AVX2 kernel without VNNI cannot saturate its
/// 16-bit pair sums (255·64·2 &lt; 32767), and ORT keeps the int8 weights instead of converting them to uint8.
/// </summary>
internal static class QdqClassifierWriter
{
    /// <summary>A per-tensor uint8 quantization: value = scale · (q − zeroPoint).</summary>
    internal readonly record struct Uint8Params(float Scale, byte ZeroPoint)
    {
        public static Uint8Params For(ActivationRange range)
        {
            float lo = MathF.Min(0f, range.Min), hi = MathF.Max(0f, range.Max);
            float scale = (hi - lo) / 255f;
            if (scale <= 0 || !float.IsFinite(scale)) return new Uint8Params(1f, 0);
            return new Uint8Params(scale, (byte)Math.Clamp((int)MathF.Round(-lo / scale), 0, 255));
        }
    }

    /// <summary>
    /// The tensors quantized per tensor: the non-weight inputs of every Conv, Add and MaxPool, and every ReLU output (so
    /// the last block's Add is fused too). In graph order.
    /// </summary>
    public static List<string> ActivationTensors(ClassifierGraph graph)
    {
        var result = new List<string>();
        void Add(string t)
        {
            if (!graph.Weights.ContainsKey(t) && !result.Contains(t)) result.Add(t);
        }
        foreach (var n in graph.Nodes)
        {
            if (n.OpType is "Conv" or "MaxPool") Add(n.Inputs[0]);
            else if (n.OpType == "Add") { Add(n.Inputs[0]); Add(n.Inputs[1]); }
            if (n.OpType == "Relu") Add(n.Outputs[0]);
        }
        // Graph order: a tensor is listed when produced, the input first.
        var order = new List<string> { graph.Contract.InputName };
        order.AddRange(graph.Nodes.SelectMany(n => n.Outputs));
        return [.. result.OrderBy(order.IndexOf)];
    }

    /// <summary>The tensors whose range must be measured: the activations, less the graph input (its range is the contract's) and MaxPool outputs (their input's).</summary>
    public static List<string> MeasuredTensors(ClassifierGraph graph)
    {
        var pooled = graph.Nodes.Where(n => n.OpType == "MaxPool").Select(n => n.Outputs[0]).ToHashSet();
        return [.. ActivationTensors(graph).Where(t => t != graph.Contract.InputName && !pooled.Contains(t))];
    }

    /// <summary>
    /// The exact range of the normalized input: every pixel value 0–255 through (pixel − mean) / std of each channel, so
    /// the input needs no calibration and no face can fall outside it.
    /// </summary>
    public static ActivationRange InputRange(Core.Classification.ClassifierContract c)
    {
        float lo = 0, hi = 0;
        for (int i = 0; i < 3; i++)
        {
            lo = MathF.Min(lo, (0 - c.Mean[i]) / c.Std[i]);
            hi = MathF.Max(hi, (255 - c.Mean[i]) / c.Std[i]);
        }
        return new ActivationRange(lo, hi);
    }

    /// <param name="graph">The float classifier.</param>
    /// <param name="ranges">The calibrated range of every tensor of <see cref="MeasuredTensors"/>.</param>
    /// <param name="weightMax">Largest weight magnitude: 127 (8-bit) or 64 (7-bit, <c>reduce_range</c>).</param>
    /// <param name="metadata">Written into the file beside the float file's metadata (the contract among it).</param>
    public static byte[] Write(ClassifierGraph graph, IReadOnlyDictionary<string, ActivationRange> ranges, int weightMax,
        IReadOnlyDictionary<string, string> metadata)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(weightMax, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(weightMax, 127);
        var c = graph.Contract;
        var activations = ActivationTensors(graph);
        var parameters = new Dictionary<string, Uint8Params>(StringComparer.Ordinal) { [c.InputName] = Uint8Params.For(InputRange(c)) };
        var nodes = new List<OnnxNode>();
        var floats = new List<OnnxTensor>();
        var raws = new List<OnnxRawTensor>();
        var dequantized = new Dictionary<string, string>(StringComparer.Ordinal);

        void QuantizePoint(string t)
        {
            var p = parameters[t];
            floats.Add(new OnnxTensor($"{t}_scale", [], [p.Scale]));
            raws.Add(new OnnxRawTensor($"{t}_zero_point", [], OnnxDataType.Uint8, [p.ZeroPoint]));
            nodes.Add(new OnnxNode("QuantizeLinear", $"{t}_QuantizeLinear", [t, $"{t}_scale", $"{t}_zero_point"], [$"{t}_quantized"], []));
            nodes.Add(new OnnxNode("DequantizeLinear", $"{t}_DequantizeLinear", [$"{t}_quantized", $"{t}_scale", $"{t}_zero_point"], [$"{t}_dequantized"], []));
            dequantized[t] = $"{t}_dequantized";
        }

        QuantizePoint(c.InputName);
        var usedFloatWeights = new HashSet<string>(StringComparer.Ordinal);
        foreach (var n in graph.Nodes)
        {
            string[] inputs = [.. n.Inputs.Select(i => dequantized.GetValueOrDefault(i, i))];
            if (n.OpType == "Conv")
            {
                string x = n.Inputs[0];
                if (!parameters.TryGetValue(x, out var xp))
                    throw new QuantizationException($"{graph.Path}: Conv '{n.Name}' reads '{x}', which is not quantized.");
                inputs[1] = QuantizeWeight(n.Inputs[1], graph, weightMax, out float[] weightScales, nodes, floats, raws);
                inputs[2] = QuantizeBias(n.Inputs[2], graph.Weights[n.Inputs[2]], xp.Scale, weightScales, nodes, floats, raws);
            }
            else
            {
                foreach (string i in n.Inputs.Where(graph.Weights.ContainsKey)) usedFloatWeights.Add(i);
            }
            nodes.Add(ClassifierGraph.ToWritable(n, inputs));
            foreach (string o in n.Outputs.Where(activations.Contains))
            {
                if (n.OpType == "MaxPool") parameters[o] = parameters[n.Inputs[0]];
                else if (ranges.TryGetValue(o, out var r)) parameters[o] = Uint8Params.For(r);
                else throw new ArgumentException($"No calibrated range for tensor '{o}'.", nameof(ranges));
                QuantizePoint(o);
            }
        }
        floats.AddRange(usedFloatWeights.Select(w => new OnnxTensor(w, graph.WeightDims[w], graph.Weights[w])));
        return OnnxModelWriter.Write("edgemask_mask_classifier_int8", nodes, floats,
            [new OnnxValue(c.InputName, ["N", 3, c.InputSize, c.InputSize])],
            [new OnnxValue(c.OutputName, ["N", c.Classes.Length])],
            new Dictionary<string, string>(graph.Metadata.Concat(metadata).GroupBy(kv => kv.Key).ToDictionary(g => g.Key, g => g.Last().Value)),
            "edgemask-train quantize",
            $"EdgeMask mask classifier, static int8 QDQ (weights int8 per output channel ±{weightMax}, activations uint8 per tensor) of {Path.GetFileName(graph.Path)}.",
            rawInitializers: raws);
    }

    /// <summary>int8, symmetric, one scale per output channel (axis 0 of the [C_out, C_in, k, k] kernel); returns the DequantizeLinear output.</summary>
    private static string QuantizeWeight(string name, ClassifierGraph graph, int weightMax, out float[] scales,
        List<OnnxNode> nodes, List<OnnxTensor> floats, List<OnnxRawTensor> raws)
    {
        float[] w = graph.Weights[name];
        long[] dims = graph.WeightDims[name];
        int channels = (int)dims[0], per = w.Length / channels;
        scales = new float[channels];
        var q = new sbyte[w.Length];
        for (int ch = 0; ch < channels; ch++)
        {
            var values = w.AsSpan(ch * per, per);
            float absMax = 0;
            foreach (float v in values) absMax = MathF.Max(absMax, MathF.Abs(v));
            // An all-zero channel still needs a positive scale; its weights are 0 whatever it is.
            float scale = absMax > 0 ? absMax / weightMax : 1f;
            scales[ch] = scale;
            for (int i = 0; i < per; i++)
                q[ch * per + i] = (sbyte)Math.Clamp((int)MathF.Round(values[i] / scale), -weightMax, weightMax);
        }
        floats.Add(new OnnxTensor($"{name}_scale", [channels], scales));
        raws.Add(new OnnxRawTensor($"{name}_quantized", dims, OnnxDataType.Int8, MemoryMarshal.AsBytes(q.AsSpan()).ToArray()));
        raws.Add(new OnnxRawTensor($"{name}_zero_point", [channels], OnnxDataType.Int8, new byte[channels]));
        nodes.Add(new OnnxNode("DequantizeLinear", $"{name}_DequantizeLinear", [$"{name}_quantized", $"{name}_scale", $"{name}_zero_point"],
            [$"{name}_dequantized"], [OnnxAttribute.Of("axis", 0L)]));
        return $"{name}_dequantized";
    }

    /// <summary>int32 at scale s_x · s_w per channel, zero point 0: what QLinearConv adds to its int32 accumulator as it is.</summary>
    private static string QuantizeBias(string name, float[] bias, float inputScale, float[] weightScales,
        List<OnnxNode> nodes, List<OnnxTensor> floats, List<OnnxRawTensor> raws)
    {
        var scales = new float[bias.Length];
        var q = new int[bias.Length];
        for (int ch = 0; ch < bias.Length; ch++)
        {
            scales[ch] = inputScale * weightScales[ch];
            q[ch] = (int)Math.Clamp(Math.Round((double)bias[ch] / scales[ch]), int.MinValue, int.MaxValue);
        }
        floats.Add(new OnnxTensor($"{name}_scale", [bias.Length], scales));
        raws.Add(new OnnxRawTensor($"{name}_quantized", [bias.Length], OnnxDataType.Int32, MemoryMarshal.AsBytes(q.AsSpan()).ToArray()));
        raws.Add(new OnnxRawTensor($"{name}_zero_point", [bias.Length], OnnxDataType.Int32, new byte[4 * bias.Length]));
        nodes.Add(new OnnxNode("DequantizeLinear", $"{name}_DequantizeLinear", [$"{name}_quantized", $"{name}_scale", $"{name}_zero_point"],
            [$"{name}_dequantized"], [OnnxAttribute.Of("axis", 0L)]));
        return $"{name}_dequantized";
    }
}
