using EdgeMask.Core.Classification;
using EdgeMask.Training.Onnx;

namespace EdgeMask.Training.Quantization;

/// <summary>A model that cannot be quantized by this tool: not one of EdgeMask's float classifiers, or unreadable.</summary>
internal sealed class QuantizationException(string message) : Exception(message);

/// <summary>
/// An EdgeMask mask classifier as <see cref="SmallResNetExporter"/> writes it, read back as a float graph: the contract
/// from its metadata, the nodes in order (the float16 → float32 Casts of a <c>--fp16-weights</c> file removed, their
/// weights widened), and every weight as float32. Only the operators that exporter writes are accepted, so anything else
/// (a detector, an already quantized file, a foreign network) is refused with a message naming the file.
/// </summary>
internal sealed class ClassifierGraph
{
    private static readonly HashSet<string> KnownOps = new(StringComparer.Ordinal)
    {
        "Conv", "Relu", "MaxPool", "Add", "GlobalAveragePool", "Flatten", "Gemm", "Softmax",
    };

    // The attributes each operator may carry; anything else (dilations, groups, auto_pad) the rewrite would silently drop.
    private static readonly Dictionary<string, string[]> KnownAttributes = new(StringComparer.Ordinal)
    {
        ["Conv"] = ["kernel_shape", "strides", "pads"],
        ["MaxPool"] = ["kernel_shape", "strides", "pads"],
        ["Flatten"] = ["axis"],
        ["Gemm"] = ["transB"],
        ["Softmax"] = ["axis"],
    };

    public string Path { get; }
    public ClassifierContract Contract { get; }
    /// <summary>The float graph's nodes in topological order, without Casts.</summary>
    public IReadOnlyList<OnnxGraphNode> Nodes { get; }
    /// <summary>Every weight and bias as float32, by the name the nodes use.</summary>
    public IReadOnlyDictionary<string, float[]> Weights { get; }
    public IReadOnlyDictionary<string, long[]> WeightDims { get; }
    /// <summary>The file's metadata (the contract among it), carried into the quantized file.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    private ClassifierGraph(string path, ClassifierContract contract, List<OnnxGraphNode> nodes, Dictionary<string, float[]> weights,
        Dictionary<string, long[]> dims, IReadOnlyDictionary<string, string> metadata)
    {
        Path = path;
        Contract = contract;
        Nodes = nodes;
        Weights = weights;
        WeightDims = dims;
        Metadata = metadata;
    }

    public static ClassifierGraph Load(string path)
    {
        if (!File.Exists(path)) throw new QuantizationException($"{path}: the model file does not exist.");
        OnnxGraphFile file;
        try
        {
            file = OnnxGraphFile.Load(path);
        }
        catch (OnnxGraphException e)
        {
            throw new QuantizationException($"{e.Message} Expected an EdgeMask mask classifier (models/mask_classifier.onnx).");
        }
        return From(file);
    }

    public static ClassifierGraph From(OnnxGraphFile file)
    {
        string path = file.Path;
        string Refuse(string why) => $"{path} is not an EdgeMask float classifier that can be quantized: {why}. " +
            "Pass the float file edgemask-train classifier wrote (models/mask_classifier.onnx).";

        if (!file.Metadata.TryGetValue(ClassifierContract.MetadataKey, out string? json))
            throw new QuantizationException(Refuse($"it has no '{ClassifierContract.MetadataKey}' metadata (a detector or a foreign model?)"));
        ClassifierContract contract;
        try
        {
            contract = ClassifierContract.Parse(json);
        }
        catch (ClassifierContractException e)
        {
            throw new QuantizationException(Refuse($"its '{ClassifierContract.MetadataKey}' metadata is invalid ({e.Message})"));
        }

        var weights = new Dictionary<string, float[]>(StringComparer.Ordinal);
        var dims = new Dictionary<string, long[]>(StringComparer.Ordinal);
        var nodes = new List<OnnxGraphNode>();
        foreach (var node in file.Nodes)
        {
            if (node.Domain.Length > 0) throw new QuantizationException(Refuse($"node '{node.Name}' is of domain '{node.Domain}'"));
            if (node.OpType == "Cast")
            {
                // A --fp16-weights file: Cast(name__float16) → name. The widened values take the Cast's output name.
                string source = node.Inputs[0];
                if (!file.Initializers.TryGetValue(source, out var half) || half.DataType != OnnxInitializer.Float16)
                    throw new QuantizationException(Refuse($"Cast node '{node.Name}' does not widen a float16 weight"));
                weights[node.Outputs[0]] = file.ReadFloats(source);
                dims[node.Outputs[0]] = half.Dims;
                continue;
            }
            if (node.OpType is "QuantizeLinear" or "DequantizeLinear" or "QLinearConv")
                throw new QuantizationException(Refuse("it is already quantized"));
            if (!KnownOps.Contains(node.OpType))
                throw new QuantizationException(Refuse($"it has a '{node.OpType}' node ('{node.Name}')"));
            string[] allowed = KnownAttributes.GetValueOrDefault(node.OpType, []);
            var unknown = node.IntAttributes.Keys.Concat(node.FloatAttributes.Keys).Concat(node.OtherAttributes).Where(a => !allowed.Contains(a)).ToList();
            if (unknown.Count > 0)
                throw new QuantizationException(Refuse($"node '{node.Name}' ({node.OpType}) has attributes this tool does not carry over: {string.Join(", ", unknown)}"));
            nodes.Add(node);
        }
        foreach (var (name, init) in file.Initializers)
        {
            if (init.DataType != OnnxInitializer.Float || weights.ContainsKey(name)) continue;
            weights[name] = file.ReadFloats(name);
            dims[name] = init.Dims;
        }

        if (nodes.Count == 0 || nodes.Count(n => n.OpType == "Conv") == 0)
            throw new QuantizationException(Refuse("it has no convolutions"));
        if (!file.GraphInputs.Contains(contract.InputName) || !file.GraphOutputs.Contains(contract.OutputName))
            throw new QuantizationException(Refuse($"its graph input/output are not the contract's '{contract.InputName}' / '{contract.OutputName}'"));
        foreach (var node in nodes.Where(n => n.OpType is "Conv" or "Gemm"))
        {
            if (node.Inputs.Count != 3 || !weights.ContainsKey(node.Inputs[1]) || !weights.ContainsKey(node.Inputs[2]))
                throw new QuantizationException(Refuse($"{node.OpType} '{node.Name}' does not take a constant weight and bias"));
        }
        return new ClassifierGraph(path, contract, nodes, weights, dims, file.Metadata);
    }

    /// <summary>The node that reads <paramref name="tensor"/>, when exactly one does (else null).</summary>
    public OnnxGraphNode? SoleConsumer(string tensor)
    {
        OnnxGraphNode? found = null;
        foreach (var n in Nodes)
        {
            if (!n.Inputs.Contains(tensor)) continue;
            if (found is not null) return null;
            found = n;
        }
        return found;
    }

    /// <summary>A float node as the writer takes it, attribute types kept (one int vs a list of ints).</summary>
    public static OnnxNode ToWritable(OnnxGraphNode n, string[]? inputs = null, string[]? outputs = null) =>
        new(n.OpType, n.Name, inputs ?? [.. n.Inputs], outputs ?? [.. n.Outputs],
        [
            .. n.IntAttributes.Select(a => n.IntListAttributes.Contains(a.Key) ? OnnxAttribute.Of(a.Key, a.Value) : OnnxAttribute.Of(a.Key, a.Value[0])),
            .. n.FloatAttributes.Select(a => OnnxAttribute.Of(a.Key, a.Value)),
        ]);
}
