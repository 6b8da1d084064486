using System.Collections.Immutable;
using EdgeMask.Training.Onnx;
using TorchSharp;
using static TorchSharp.torch;

namespace EdgeMask.Training.Model;

/// <summary>What <see cref="PretrainedResNet18.LoadInto"/> did: layers taken from ResNet-18 and layers left at their random start.</summary>
internal sealed record PretrainedLoadReport(int LoadedLayers, int RandomLayers, long LoadedParameters, string Source);

/// <summary>
/// The ImageNet ResNet-18 that ships in the NuGet package <c>Microsoft.ML.DnnImageFeaturizer.ResNet18</c> (MIT;
/// a CNTK export, <c>tools/DnnImageModels/ResNet18Onnx/ResNet18.onnx</c>: 224×224 BGR input minus a mean image, 0–255,
/// 512 pooled features out) as a starting point for the classifier.
/// <para>
/// Its weights are read straight from the ONNX file and copied into a <see cref="SmallResNet"/> with the ImageNet stem,
/// layer by layer in ResNet-18's own order (stem; per stage and block conv1, conv2 and the 1×1 projection); every layer
/// of ours whose ResNet-18 counterpart exists and has the same shape is loaded, the rest (a narrower or extra stage,
/// the linear layer) keep their random start. The file's graph is checked to be ResNet-18 before anything is copied.
/// </para>
/// </summary>
internal static class PretrainedResNet18
{
    public const string PackageId = "Microsoft.ML.DnnImageFeaturizer.ResNet18";
    public const string PackageVersion = "0.23.1";
    public const string FileInPackage = "tools/DnnImageModels/ResNet18Onnx/ResNet18.onnx";

    /// <summary>
    /// The file's network as a <see cref="ResNetConfig"/> (at its 224 px input). CNTK's "ResNet-18" has three blocks in
    /// its last stage where torchvision's has two; only the first three stages matter for a small classifier.
    /// </summary>
    public static ResNetConfig Shape { get; } = new(224, 64, [64, 128, 256, 512], [2, 2, 2, 3], StemKind.ImageNet);

    /// <summary>
    /// Where the package puts the file: NuGet's global packages folder (<c>NUGET_PACKAGES</c>, else
    /// <c>~/.nuget/packages</c>); the training project references the package (assets excluded) so a restore fetches it.
    /// </summary>
    public static string DefaultPath()
    {
        string root = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } env
            ? env
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        return Path.Combine(root, PackageId.ToLowerInvariant(), PackageVersion, FileInPackage);
    }

    /// <summary>
    /// Copies ResNet-18's weights into <paramref name="model"/>. With <paramref name="inputMean"/> and
    /// <paramref name="inputStd"/> (RGB, 0–255: the classifier's own normalisation) the stem is rewritten so our
    /// normalised RGB input gives what ResNet-18 computes from its BGR, mean-subtracted input (the channels swapped,
    /// scaled by the std, the mean difference moved into the BatchNorm's running mean); without them the weights are
    /// copied as they are and the model expects ResNet-18's own input.
    /// </summary>
    public static PretrainedLoadReport LoadInto(SmallResNet model, string onnxPath,
        ImmutableArray<float>? inputMean = null, ImmutableArray<float>? inputStd = null)
    {
        if (model.Config.Stem != StemKind.ImageNet)
            throw new ArgumentException("Only a model with the ImageNet stem (--stem imagenet) can start from ResNet-18.");
        if (!File.Exists(onnxPath))
            throw new OnnxGraphException(onnxPath, $"the file does not exist. Restoring modules/EdgeMask.Training (dotnet restore) fetches {PackageId} {PackageVersion} into NuGet's packages folder; or pass --init-from with the path of that package's {Path.GetFileName(FileInPackage)}.");
        var file = OnnxGraphFile.Load(onnxPath);
        var layers = ReadLayers(file);

        var targets = new List<(ConvBn Layer, int Index)>();
        targets.Add((model.stem, 0));
        int blockIndex = 0;
        for (int s = 0; s < model.Config.Widths.Length; s++)
        {
            for (int b = 0; b < model.Config.Blocks[s]; b++, blockIndex++)
            {
                var block = model.Blocks[blockIndex];
                if (s >= Shape.Widths.Length || b >= Shape.Blocks[s]) continue;
                int first = LayerIndex(s, b);
                targets.Add((block.conv1, first));
                targets.Add((block.conv2, first + 1));
                if (block.shortcut is not null && b == 0 && s > 0) targets.Add((block.shortcut, first + 2));
            }
        }

        int loaded = 0;
        long parameters = 0;
        using (no_grad())
        {
            foreach (var (layer, index) in targets)
            {
                var source = layers[index];
                if (!layer.conv.weight!.shape.SequenceEqual(source.WeightShape)) continue;
                Copy(file, source, layer);
                loaded++;
                parameters += layer.conv.weight!.numel() + 4 * layer.bn.weight!.numel();
            }
            if (inputMean is { } mean && inputStd is { } std) AdaptStemInput(file, model.stem, mean, std);
        }
        int total = 1 + model.Blocks.Sum(b => b.shortcut is null ? 2 : 3);
        return new PretrainedLoadReport(loaded, total - loaded, parameters, onnxPath);
    }

    /// <summary>
    /// Position in <see cref="ReadLayers"/>' list of stage <paramref name="stage"/>, block <paramref name="block"/>'s
    /// conv1 (conv2 follows; the projection, at a stage's first block after the first stage, comes third).
    /// </summary>
    private static int LayerIndex(int stage, int block)
    {
        int index = 1;
        for (int s = 0; s <= stage; s++)
            for (int b = 0; b < Shape.Blocks[s]; b++)
            {
                if (s == stage && b == block) return index;
                index += s > 0 && b == 0 ? 3 : 2;
            }
        throw new ArgumentOutOfRangeException(nameof(block));
    }

    private sealed record SourceLayer(string Weight, long[] WeightShape, string Scale, string Bias, string Mean, string Variance, long Stride);

    /// <summary>
    /// The Conv → BatchNormalization pairs of the file in our order: stem; then per block conv1, conv2 and, where the
    /// block has one, the 1×1 projection (which CNTK writes before conv1). Throws when the graph is not ResNet-18.
    /// </summary>
    private static List<SourceLayer> ReadLayers(OnnxGraphFile file)
    {
        var byInput = file.Nodes.Where(n => n.OpType == "BatchNormalization").ToDictionary(n => n.Inputs[0], StringComparer.Ordinal);
        var pairs = new List<SourceLayer>();
        foreach (var conv in file.Nodes.Where(n => n.OpType == "Conv"))
        {
            if (!byInput.TryGetValue(conv.Outputs[0], out var bn) || bn.Inputs.Count < 5 || conv.Inputs.Count < 2) continue;
            long stride = conv.IntAttributes.TryGetValue("strides", out var st) && st.Length > 0 ? st[0] : 1;
            pairs.Add(new SourceLayer(conv.Inputs[1], file.Initializer(conv.Inputs[1]).Dims, bn.Inputs[1], bn.Inputs[2], bn.Inputs[3], bn.Inputs[4], stride));
        }

        // Expected: stem 7×7/2, then the blocks of Shape; a projection (1×1/2) at the first block of stages 2–4.
        var ordered = new List<SourceLayer>();
        int p = 0;
        SourceLayer Next() => p < pairs.Count ? pairs[p++] : throw NotResNet18(file, "fewer Conv+BatchNorm pairs than ResNet-18 has");
        ordered.Add(Expect(file, Next(), [Shape.StemWidth, 3, 7, 7], 2));
        long channels = Shape.StemWidth;
        for (int s = 0; s < Shape.Widths.Length; s++)
            for (int b = 0; b < Shape.Blocks[s]; b++)
            {
                long width = Shape.Widths[s];
                long stride = b == 0 ? Shape.StageStride(s) : 1;
                bool projection = s > 0 && b == 0;
                var first = Next();
                SourceLayer? shortcut = null;
                if (projection && first.WeightShape[^1] == 1) { shortcut = first; first = Next(); }
                ordered.Add(Expect(file, first, [width, channels, 3, 3], stride));
                ordered.Add(Expect(file, Next(), [width, width, 3, 3], 1));
                if (projection) ordered.Add(Expect(file, shortcut ?? Next(), [width, channels, 1, 1], 2));
                channels = width;
            }
        if (p != pairs.Count) throw NotResNet18(file, $"{pairs.Count - p} Conv+BatchNorm pairs more than ResNet-18 has");
        return ordered;
    }

    private static SourceLayer Expect(OnnxGraphFile file, SourceLayer layer, long[] shape, long stride)
    {
        if (!layer.WeightShape.SequenceEqual(shape) || layer.Stride != stride)
            throw NotResNet18(file, $"convolution '{layer.Weight}' is [{string.Join(",", layer.WeightShape)}] stride {layer.Stride}, expected [{string.Join(",", shape)}] stride {stride}");
        return layer;
    }

    private static OnnxGraphException NotResNet18(OnnxGraphFile file, string detail) =>
        new(file.Path, $"not the ResNet-18 of {PackageId} {PackageVersion} ({detail}); --init-from resnet18 finds that file in NuGet's packages folder.");

    private static void Copy(OnnxGraphFile file, SourceLayer source, ConvBn target)
    {
        target.conv.weight!.copy_(tensor(file.ReadFloats(source.Weight)).reshape(source.WeightShape));
        target.bn.weight!.copy_(tensor(file.ReadFloats(source.Scale)));
        target.bn.bias!.copy_(tensor(file.ReadFloats(source.Bias)));
        target.bn.running_mean!.copy_(tensor(file.ReadFloats(source.Mean)));
        target.bn.running_var!.copy_(tensor(file.ReadFloats(source.Variance)));
    }

    /// <summary>
    /// ResNet-18 sees <c>x_bgr − M</c> (M its mean image, 0–255); we feed <c>(x_rgb − mean) / std</c>. With
    /// <c>x = in·std + mean</c>: <c>W·(x − M) = (W·std)·in + W·(mean − M)</c>. The first term is the channel-swapped,
    /// std-scaled kernel; the second is a constant per output channel (away from the zero-padded border) that the
    /// BatchNorm's running mean absorbs. M is taken per channel (its spatial average).
    /// </summary>
    private static void AdaptStemInput(OnnxGraphFile file, ConvBn stem, ImmutableArray<float> mean, ImmutableArray<float> std)
    {
        if (mean.Length != 3 || std.Length != 3) throw new ArgumentException("The input mean and std need three channels.");
        var w = stem.conv.weight!;                                             // [64, 3(BGR), 7, 7]
        var rgbFromBgr = w.flip(1);                                            // channel c of ours = channel 2 − c of theirs
        var stdT = tensor(std.ToArray()).reshape(1, 3, 1, 1);
        var meanDifference = tensor(mean.ToArray()) - tensor(MeanImageAverageRgb.ToArray());  // RGB order, like mean
        var offset = (rgbFromBgr * meanDifference.reshape(1, 3, 1, 1)).sum([1, 2, 3]);
        w.copy_(rgbFromBgr * stdT);
        stem.bn.running_mean!.sub_(offset);
    }

    /// <summary>
    /// Per-channel spatial average of ResNet-18's mean image (<c>tools/DnnImageModels/ResNetPrepOnnx/ResNetPreprocess.onnx</c>
    /// in the same package; its spatial spread is 3–6 grey levels), RGB order: within half a grey level of the
    /// ImageNet mean the classifier normalises with.
    /// </summary>
    public static ImmutableArray<float> MeanImageAverageRgb { get; } = [123.1516f, 115.9029f, 103.0626f];
}
