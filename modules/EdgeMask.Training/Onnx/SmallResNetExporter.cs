using EdgeMask.Core.Classification;
using EdgeMask.Training.Model;
using static TorchSharp.torch;

namespace EdgeMask.Training.Onnx;

/// <summary>
/// Exports a trained <see cref="SmallResNet"/> to ONNX: every Conv+BatchNorm pair folded into one biased Conv
/// (so the file has no BatchNormalization node), ReLU, MaxPool after an ImageNet stem, Add for the shortcuts, GlobalAveragePool, Gemm, Softmax.
/// The classifier contract is embedded as metadata so the file describes its own input.
/// </summary>
internal static class SmallResNetExporter
{
    /// <param name="halfPrecisionWeights">Store the weights as float16 (half the file; see <see cref="OnnxModelWriter.Write"/>).</param>
    public static byte[] Export(SmallResNet model, ClassifierContract contract, IReadOnlyDictionary<string, string>? extraMetadata = null,
        bool halfPrecisionWeights = false)
    {
        if (contract.InputSize != model.Config.InputSize)
            throw new ArgumentException($"The contract's input size {contract.InputSize} differs from the model's {model.Config.InputSize}.");
        if (!contract.Classes.SequenceEqual(model.Classes))
            throw new ArgumentException($"The contract's classes [{string.Join(", ", contract.Classes)}] differ from the model's [{string.Join(", ", model.Classes)}].");
        var nodes = new List<OnnxNode>();
        var weights = new List<OnnxTensor>();
        string x = contract.InputName;

        x = Conv(model.stem, "stem", x, nodes, weights);
        x = Relu("stem_relu", x, nodes);
        if (model.Config.Stem == StemKind.ImageNet)
        {
            nodes.Add(new OnnxNode("MaxPool", "stem_pool", [x], ["stem_pool"],
            [
                OnnxAttribute.Of("kernel_shape", 3L, 3L),
                OnnxAttribute.Of("strides", 2L, 2L),
                OnnxAttribute.Of("pads", 1L, 1L, 1L, 1L),
            ]));
            x = "stem_pool";
        }
        int index = 0;
        foreach (var block in model.Blocks)
        {
            string p = $"block{index++}";
            string y = Conv(block.conv1, $"{p}_conv1", x, nodes, weights);
            y = Relu($"{p}_relu1", y, nodes);
            y = Conv(block.conv2, $"{p}_conv2", y, nodes, weights);
            string s = block.shortcut is null ? x : Conv(block.shortcut, $"{p}_shortcut", x, nodes, weights);
            nodes.Add(new OnnxNode("Add", $"{p}_add", [y, s], [$"{p}_add"], []));
            x = Relu($"{p}_relu2", $"{p}_add", nodes);
        }
        nodes.Add(new OnnxNode("GlobalAveragePool", "pool", [x], ["pool"], []));
        nodes.Add(new OnnxNode("Flatten", "flatten", ["pool"], ["features"], [OnnxAttribute.Of("axis", 1L)]));
        var fcW = model.fc.weight!;
        weights.Add(new OnnxTensor("fc.weight", fcW.shape, Floats(fcW)));
        weights.Add(new OnnxTensor("fc.bias", model.fc.bias!.shape, Floats(model.fc.bias!)));
        nodes.Add(new OnnxNode("Gemm", "fc", ["features", "fc.weight", "fc.bias"], ["logits"], [OnnxAttribute.Of("transB", 1L)]));
        nodes.Add(new OnnxNode("Softmax", "softmax", ["logits"], [contract.OutputName], [OnnxAttribute.Of("axis", 1L)]));

        var metadata = new Dictionary<string, string>(extraMetadata ?? new Dictionary<string, string>())
        {
            [ClassifierContract.MetadataKey] = contract.ToJson(),
        };
        int s2 = contract.InputSize;
        return OnnxModelWriter.Write(
            "edgemask_mask_classifier", nodes, weights,
            [new OnnxValue(contract.InputName, ["N", 3, s2, s2])],
            [new OnnxValue(contract.OutputName, ["N", model.Classes.Count])],
            metadata, "edgemask-train",
            $"EdgeMask mask classifier, small ResNet ({model.Config}); classes [{string.Join(", ", model.Classes)}].",
            halfPrecisionWeights);
    }

    /// <summary>Folds BatchNorm (eval statistics) into the preceding bias-free convolution and emits one Conv.</summary>
    private static string Conv(ConvBn cb, string name, string input, List<OnnxNode> nodes, List<OnnxTensor> weights)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var w = cb.conv.weight!;
        var beta = cb.bn.bias!;
        var mean = cb.bn.running_mean!;
        // y = gamma * (conv(x) - mean) / sqrt(var + eps) + beta  =  conv'(x) + b'
        var k = cb.EvalScale();
        var folded = w * k.reshape(-1, 1, 1, 1);
        var bias = beta - mean * k;
        weights.Add(new OnnxTensor($"{name}.weight", folded.shape, Floats(folded)));
        weights.Add(new OnnxTensor($"{name}.bias", bias.shape, Floats(bias)));
        long kernel = cb.Kernel, pad = kernel / 2;
        nodes.Add(new OnnxNode("Conv", name, [input, $"{name}.weight", $"{name}.bias"], [name],
        [
            OnnxAttribute.Of("kernel_shape", kernel, kernel),
            OnnxAttribute.Of("strides", cb.Stride, cb.Stride),
            OnnxAttribute.Of("pads", pad, pad, pad, pad),
        ]));
        return name;
    }

    private static string Relu(string name, string input, List<OnnxNode> nodes)
    {
        nodes.Add(new OnnxNode("Relu", name, [input], [name], []));
        return name;
    }

    private static float[] Floats(Tensor t) => t.detach().cpu().contiguous().data<float>().ToArray();
}
