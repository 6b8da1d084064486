using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace EdgeMask.Training.Model;

/// <summary>Convolution without bias followed by BatchNorm; the pair becomes one biased Conv at ONNX export.</summary>
internal sealed class ConvBn : nn.Module<Tensor, Tensor>
{
    public const double BatchNormEps = 1e-5;

    public readonly Conv2d conv;
    public readonly BatchNorm2d bn;

    public ConvBn(string name, long inChannels, long outChannels, long kernel, long stride)
        : base(name)
    {
        conv = nn.Conv2d(inChannels, outChannels, kernel, stride: stride, padding: kernel / 2, bias: false);
        bn = nn.BatchNorm2d(outChannels, eps: BatchNormEps);
        Stride = stride;
        RegisterComponents();
    }

    public long Kernel => conv.weight!.shape[2];
    public long Stride { get; }

    public override Tensor forward(Tensor x)
    {
        var y = conv.forward(x);
        if (training) return bn.forward(y);
        // TorchSharp 0.107's BatchNorm.forward normalizes with the BATCH statistics even in eval mode (it passes
        // training=true whenever running stats exist) and keeps updating the running stats. Evaluation must use
        // the running statistics, exactly what the folded ONNX convolution computes, so it is written out here.
        var k = EvalScale();
        return y * k.reshape(1, -1, 1, 1) + (bn.bias! - bn.running_mean! * k).reshape(1, -1, 1, 1);
    }

    /// <summary>γ / √(running variance + ε): eval-mode BatchNorm's per-channel factor, and the folded convolution's.</summary>
    internal Tensor EvalScale()
    {
        // An owned scalar: an implicit one may be finalized while libtorch reads it (TorchScalarLifetimeTests).
        using var eps = BatchNormEps.ToScalar();
        return bn.weight!.div(bn.running_var!.add(eps).sqrt());
    }
}

/// <summary>The ResNet BasicBlock: two 3×3 ConvBn, plus an identity or 1×1 projection shortcut, then ReLU.</summary>
internal sealed class BasicBlock : nn.Module<Tensor, Tensor>
{
    public readonly ConvBn conv1;
    public readonly ConvBn conv2;
    public readonly ConvBn? shortcut;

    public BasicBlock(string name, long inChannels, long outChannels, long stride) : base(name)
    {
        conv1 = new ConvBn("conv1", inChannels, outChannels, 3, stride);
        conv2 = new ConvBn("conv2", outChannels, outChannels, 3, 1);
        if (stride != 1 || inChannels != outChannels)
            shortcut = new ConvBn("shortcut", inChannels, outChannels, 1, stride);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var y = conv2.forward(conv1.forward(x).relu_());
        var s = shortcut is null ? x : shortcut.forward(x);
        return (y + s).relu_().MoveToOuterDisposeScope();
    }
}

/// <summary>
/// A small ResNet for mask / no mask / mask worn incorrectly: the ResNet structure (BasicBlocks with identity and
/// projection shortcuts, global average pooling, one linear layer) at widths and input size that fit ≤ 1 ms per face
/// on two CPU cores. Outputs logits in the order of <see cref="Classes"/>.
/// </summary>
internal sealed class SmallResNet : nn.Module<Tensor, Tensor>
{
    /// <summary>The three-class output (the default): column order of the logits and of the exported softmax.</summary>
    public static readonly IReadOnlyList<string> ThreeClasses = ["mask", "no_mask", "incorrect"];

    /// <summary>The two-class output of models trained without the incorrect label.</summary>
    public static readonly IReadOnlyList<string> TwoClasses = ["mask", "no_mask"];

    public readonly ConvBn stem;
    public readonly Linear fc;
    private readonly Sequential _body;

    /// <param name="classes">Output classes as wire names, in output order (default: <see cref="ThreeClasses"/>).</param>
    public SmallResNet(ResNetConfig config, IReadOnlyList<string>? classes = null) : base("SmallResNet")
    {
        Config = config.Validate();
        Classes = classes ?? ThreeClasses;
        stem = new ConvBn("stem", 3, config.StemWidth, config.Stem == StemKind.ImageNet ? 7 : 3, 2);
        var blocks = new List<BasicBlock>();
        long channels = config.StemWidth;
        for (int s = 0; s < config.Widths.Length; s++)
        {
            for (int b = 0; b < config.Blocks[s]; b++)
            {
                blocks.Add(new BasicBlock($"s{s}b{b}", channels, config.Widths[s], b == 0 ? config.StageStride(s) : 1));
                channels = config.Widths[s];
            }
        }
        Blocks = blocks;
        _body = nn.Sequential(blocks.Select((b, i) => ($"block{i}", (nn.Module<Tensor, Tensor>)b)));
        fc = nn.Linear(channels, Classes.Count);
        RegisterComponents();
    }

    public ResNetConfig Config { get; }

    /// <summary>Class order of the logits (and of the exported softmax output).</summary>
    public IReadOnlyList<string> Classes { get; }

    internal IReadOnlyList<BasicBlock> Blocks { get; }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return fc.forward(Features(x)).MoveToOuterDisposeScope();
    }

    /// <summary>The globally pooled features that feed <see cref="fc"/>, shape [N, last width].</summary>
    public Tensor Features(Tensor x)
    {
        using var scope = NewDisposeScope();
        var y = stem.forward(x).relu_();
        // Padding 1 with −∞ semantics, as ONNX MaxPool and ResNet-18's own pooling (its pads 1,1,0,0 give the same
        // windows: every window starts at −1 and the last never reaches past the far edge for even sides).
        if (Config.Stem == StemKind.ImageNet) y = nn.functional.max_pool2d(y, 3, 2, 1);
        y = _body.forward(y);
        return y.mean([2, 3]).MoveToOuterDisposeScope();
    }
}
