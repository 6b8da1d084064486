using EdgeMask.Training.Onnx;
using TorchSharp.Modules;
using TorchSharp;
using static TorchSharp.torch;

namespace EdgeMask.Training.Detection;

/// <summary>
/// A convolution with bias (the stock ONNX has BatchNorm folded into it), optionally followed by LeakyReLU. It knows the
/// name of the ONNX Conv node it was read from, so the tuned weights go back into the same initializers.
/// </summary>
internal sealed class FoldedConv : nn.Module<Tensor, Tensor>
{
    public readonly Conv2d conv;
    // Owned for the module's life: nn.functional.leaky_relu(x, double) converts the slope to a Scalar inside TorchSharp
    // that nothing keeps alive during the native call (see TorchScalarLifetimeTests).
    private readonly Scalar? _leaky;

    public FoldedConv(string onnxNode, long inChannels, long outChannels, long kernel, long stride, long groups, double? leaky)
        : base(onnxNode.Replace('/', '_').Replace('.', '_'))
    {
        OnnxNode = onnxNode;
        conv = nn.Conv2d(inChannels, outChannels, kernel, stride: stride, padding: kernel / 2, groups: groups, bias: true);
        _leaky = leaky?.ToScalar();
        RegisterComponents();
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) _leaky?.Dispose();
        base.Dispose(disposing);
    }

    /// <summary>The ONNX node name, e.g. <c>/body/stage1/stage1.0/stage1.0.0/Conv</c>.</summary>
    public string OnnxNode { get; }

    public override Tensor forward(Tensor x)
    {
        var y = conv.forward(x);
        return _leaky is { } slope ? y.leaky_relu_(slope) : y;
    }
}

/// <summary>Raw outputs of the network: box regressions [N, P, 4], class logits [N, P, 2] (no softmax), landmark regressions [N, P, 10].</summary>
internal sealed record RetinaFaceOutputs(Tensor Loc, Tensor Logits, Tensor Landmarks) : IDisposable
{
    public void Dispose()
    {
        Loc.Dispose();
        Logits.Dispose();
        Landmarks.Dispose();
    }
}

/// <summary>
/// RetinaFace with the MobileNet-0.25 backbone (biubug6/Pytorch_Retinaface, <c>cfg_mnet</c>), rebuilt layer by layer
/// in TorchSharp: MobileNetV1 body (three stages), FPN (1×1 laterals, nearest upsampling, 3×3 merges), one SSH context
/// module per level and the 1×1 class / box / landmark heads. Every convolution carries a bias because BatchNorm is
/// folded in the exported ONNX; the weights come from that file's initializers, matched by Conv node name.
/// The forward pass returns class logits; the ONNX graph applies softmax to them.
/// </summary>
internal sealed class RetinaFaceNet : nn.Module<Tensor, RetinaFaceOutputs>
{
    private const double Leaky = 0.1; // cfg_mnet: out_channel 64 ≤ 64 ⇒ LeakyReLU(0.1) in FPN and SSH; conv_dw uses 0.1 too.
    private const int AnchorsPerCell = 2;

    private readonly ModuleList<FoldedConv> _stage1, _stage2, _stage3;
    private readonly ModuleList<FoldedConv> _fpn;   // output1, output2, output3, merge1, merge2
    private readonly ModuleList<FoldedConv> _ssh;   // per level: conv3X3, conv5X5_1, conv5X5_2, conv7X7_2, conv7x7_3
    private readonly ModuleList<FoldedConv> _bbox, _class, _landmark;

    public RetinaFaceNet() : base("RetinaFaceMNet025")
    {
        _stage1 = nn.ModuleList(Stage(1, [(8, 16, 1), (16, 32, 2), (32, 32, 1), (32, 64, 2), (64, 64, 1)], stem: true));
        _stage2 = nn.ModuleList(Stage(2, [(64, 128, 2), (128, 128, 1), (128, 128, 1), (128, 128, 1), (128, 128, 1), (128, 128, 1)], stem: false));
        _stage3 = nn.ModuleList(Stage(3, [(128, 256, 2), (256, 256, 1)], stem: false));
        _fpn = nn.ModuleList(
            new FoldedConv("/fpn/output1/output1.0/Conv", 64, 64, 1, 1, 1, Leaky),
            new FoldedConv("/fpn/output2/output2.0/Conv", 128, 64, 1, 1, 1, Leaky),
            new FoldedConv("/fpn/output3/output3.0/Conv", 256, 64, 1, 1, 1, Leaky),
            new FoldedConv("/fpn/merge1/merge1.0/Conv", 64, 64, 3, 1, 1, Leaky),
            new FoldedConv("/fpn/merge2/merge2.0/Conv", 64, 64, 3, 1, 1, Leaky));
        var ssh = new List<FoldedConv>();
        for (int level = 1; level <= 3; level++)
        {
            string p = $"/ssh{level}";
            ssh.Add(new FoldedConv($"{p}/conv3X3/conv3X3.0/Conv", 64, 32, 3, 1, 1, null));
            ssh.Add(new FoldedConv($"{p}/conv5X5_1/conv5X5_1.0/Conv", 64, 16, 3, 1, 1, Leaky));
            ssh.Add(new FoldedConv($"{p}/conv5X5_2/conv5X5_2.0/Conv", 16, 16, 3, 1, 1, null));
            ssh.Add(new FoldedConv($"{p}/conv7X7_2/conv7X7_2.0/Conv", 16, 16, 3, 1, 1, Leaky));
            ssh.Add(new FoldedConv($"{p}/conv7x7_3/conv7x7_3.0/Conv", 16, 16, 3, 1, 1, null));
        }
        _ssh = nn.ModuleList([.. ssh]);
        _bbox = nn.ModuleList(Heads("BboxHead", 4));
        _class = nn.ModuleList(Heads("ClassHead", 2));
        _landmark = nn.ModuleList(Heads("LandmarkHead", 10));
        RegisterComponents();
    }

    /// <summary>
    /// Stops training the first backbone stage (stride ≤ 8 edge and texture filters): the parameters keep their pretrained
    /// values, and backward no longer runs through the network's most expensive layers at full resolution.
    /// </summary>
    public void FreezeStage1()
    {
        foreach (var c in _stage1)
            foreach (var p in c.parameters()) p.requires_grad = false;
    }

    /// <summary>Every convolution, in a fixed order (body, FPN, SSH, heads).</summary>
    public IEnumerable<FoldedConv> Convolutions =>
        _stage1.Concat(_stage2).Concat(_stage3).Concat(_fpn).Concat(_ssh).Concat(_bbox).Concat(_class).Concat(_landmark);

    private static FoldedConv[] Stage(int stage, (int In, int Out, int Stride)[] blocks, bool stem)
    {
        var list = new List<FoldedConv>();
        int b = 0;
        string Name(int block, int index) => $"/body/stage{stage}/stage{stage}.{block}/stage{stage}.{block}.{index}/Conv";
        if (stem) list.Add(new FoldedConv(Name(b++, 0), 3, 8, 3, 2, 1, Leaky));
        foreach (var (inC, outC, stride) in blocks)
        {
            // conv_dw: depthwise 3×3 (groups = channels) then pointwise 1×1, each followed by LeakyReLU(0.1).
            list.Add(new FoldedConv(Name(b, 0), inC, inC, 3, stride, inC, Leaky));
            list.Add(new FoldedConv(Name(b, 3), inC, outC, 1, 1, 1, Leaky));
            b++;
        }
        return [.. list];
    }

    private static FoldedConv[] Heads(string name, int perAnchor) =>
        [.. Enumerable.Range(0, 3).Select(i => new FoldedConv($"/{name}.{i}/conv1x1/Conv", 64, AnchorsPerCell * perAnchor, 1, 1, 1, null))];

    public override RetinaFaceOutputs forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var c1 = Run(_stage1, input);
        var c2 = Run(_stage2, c1);
        var c3 = Run(_stage3, c2);

        var o1 = _fpn[0].forward(c1);
        var o2 = _fpn[1].forward(c2);
        var o3 = _fpn[2].forward(c3);
        var up3 = nn.functional.interpolate(o3, size: [o2.shape[2], o2.shape[3]], mode: InterpolationMode.Nearest);
        o2 = _fpn[4].forward(o2 + up3);
        var up2 = nn.functional.interpolate(o2, size: [o1.shape[2], o1.shape[3]], mode: InterpolationMode.Nearest);
        o1 = _fpn[3].forward(o1 + up2);

        Tensor[] features = [Ssh(0, o1), Ssh(1, o2), Ssh(2, o3)];
        var loc = torch.cat(features.Select((f, i) => Head(_bbox[i], f, 4)).ToList(), 1);
        var logits = torch.cat(features.Select((f, i) => Head(_class[i], f, 2)).ToList(), 1);
        var landmarks = torch.cat(features.Select((f, i) => Head(_landmark[i], f, 10)).ToList(), 1);
        return new RetinaFaceOutputs(loc.MoveToOuterDisposeScope(), logits.MoveToOuterDisposeScope(), landmarks.MoveToOuterDisposeScope());
    }

    private static Tensor Run(ModuleList<FoldedConv> layers, Tensor x)
    {
        foreach (var layer in layers) x = layer.forward(x);
        return x;
    }

    private Tensor Ssh(int level, Tensor x)
    {
        int o = level * 5;
        var a = _ssh[o].forward(x);
        var b1 = _ssh[o + 1].forward(x);
        var b = _ssh[o + 2].forward(b1);
        var c = _ssh[o + 4].forward(_ssh[o + 3].forward(b1));
        return torch.cat([a, b, c], 1).relu_();
    }

    private static Tensor Head(FoldedConv head, Tensor feature, int perAnchor) =>
        head.forward(feature).permute(0, 2, 3, 1).reshape(feature.shape[0], -1, perAnchor);

    /// <summary>Loads every convolution's weight and bias from the Conv node of the same name in <paramref name="onnx"/>.</summary>
    public void LoadFrom(OnnxGraphFile onnx)
    {
        var byName = onnx.Nodes.Where(n => n.OpType == "Conv").ToDictionary(n => n.Name, StringComparer.Ordinal);
        if (byName.Count != Convolutions.Count())
            throw new OnnxGraphException(onnx.Path, $"it has {byName.Count} Conv nodes; RetinaFace-MNet0.25 with folded BatchNorm has {Convolutions.Count()}.");
        using var noGrad = no_grad();
        foreach (var c in Convolutions)
        {
            var (w, b) = InitializerNames(onnx, byName, c);
            CopyInto(onnx, w, c.conv.weight!);
            CopyInto(onnx, b, c.conv.bias!);
        }
    }

    /// <summary>The current weights as initializer name → values, ready for <see cref="OnnxGraphFile.WithInitializers"/>.</summary>
    public Dictionary<string, float[]> ToInitializers(OnnxGraphFile onnx)
    {
        var byName = onnx.Nodes.Where(n => n.OpType == "Conv").ToDictionary(n => n.Name, StringComparer.Ordinal);
        var result = new Dictionary<string, float[]>(StringComparer.Ordinal);
        foreach (var c in Convolutions)
        {
            var (w, b) = InitializerNames(onnx, byName, c);
            result[w] = c.conv.weight!.detach().contiguous().data<float>().ToArray();
            result[b] = c.conv.bias!.detach().contiguous().data<float>().ToArray();
        }
        return result;
    }

    private static (string Weight, string Bias) InitializerNames(OnnxGraphFile onnx, Dictionary<string, OnnxGraphNode> byName, FoldedConv c)
    {
        if (!byName.TryGetValue(c.OnnxNode, out var node))
            throw new OnnxGraphException(onnx.Path, $"no Conv node '{c.OnnxNode}'; is this the RetinaFace-MNet0.25 export described in PROVENANCE.md?");
        if (node.Inputs.Count < 3)
            throw new OnnxGraphException(onnx.Path, $"Conv node '{c.OnnxNode}' has no bias input; the BatchNorm-folded export is expected.");
        return (node.Inputs[1], node.Inputs[2]);
    }

    private static void CopyInto(OnnxGraphFile onnx, string name, Tensor target)
    {
        var init = onnx.Initializer(name);
        if (!init.Dims.SequenceEqual(target.shape))
            throw new OnnxGraphException(onnx.Path, $"initializer '{name}' is [{string.Join(",", init.Dims)}]; the network expects [{string.Join(",", target.shape)}].");
        target.copy_(torch.tensor(onnx.ReadFloats(name), target.shape));
    }
}
