using System.Globalization;

namespace EdgeMask.Training.Model;

/// <summary>The first layer(s) of the network.</summary>
public enum StemKind
{
    /// <summary>One 3×3 stride-2 convolution; every stage then starts with a stride-2 block.</summary>
    Conv3x3,
    /// <summary>
    /// The ImageNet ResNet stem: 7×7 stride-2 convolution and 3×3 stride-2 max-pooling; the first stage then keeps
    /// the resolution (stride 1), as in ResNet-18. This is the shape a pretrained ResNet-18 can initialise.
    /// </summary>
    ImageNet,
}

/// <summary>
/// Shape of the ResNet: a stem (<see cref="StemKind"/>), then one stage per entry of <see cref="Widths"/>, each stage
/// starting with a BasicBlock that halves the resolution (projection shortcut) followed by identity-shortcut
/// BasicBlocks. With the ImageNet stem the first stage keeps the resolution, exactly like ResNet-18's layer1.
/// </summary>
/// <param name="InputSize">Square input side in pixels.</param>
/// <param name="StemWidth">Channels after the stem convolution.</param>
/// <param name="Widths">Channels per stage.</param>
/// <param name="Blocks">BasicBlocks per stage (≥ 1).</param>
/// <param name="Stem">Stem kind.</param>
public sealed record ResNetConfig(int InputSize, int StemWidth, int[] Widths, int[] Blocks, StemKind Stem = StemKind.Conv3x3)
{
    /// <summary>The shipped shape: 64 px, ~0.3 M parameters, a few tens of MFLOPs per face.</summary>
    public static ResNetConfig Default { get; } = new(64, 16, [32, 64, 128], [1, 2, 2]);

    public ResNetConfig Validate()
    {
        if (InputSize is < 16 or > 512) throw new ArgumentOutOfRangeException(nameof(InputSize), InputSize, "--input-size must be 16..512.");
        if (StemWidth < 1) throw new ArgumentOutOfRangeException(nameof(StemWidth), StemWidth, "--stem-width must be positive.");
        if (Widths.Length == 0 || Widths.Length != Blocks.Length)
            throw new ArgumentException("--widths and --blocks must list the same number of stages (at least one).");
        if (Blocks.Any(b => b < 1))
            throw new ArgumentException("--blocks must be positive.");
        // libtorch 2.10's CPU convolution (libtorch-cpu-linux-x64) returns wrong values for some channel counts
        // that are not multiples of 16 (e.g. 24→24 3×3 differs from an im2col reference by ~0.4, and batched from
        // unbatched): the trained net would not be the one exported. Multiples of 16 were checked to be exact.
        if (StemWidth % 16 != 0 || Widths.Any(w => w < 16 || w % 16 != 0))
            throw new ArgumentException("--stem-width and --widths must be multiples of 16 (libtorch CPU convolution is wrong for some other widths).");
        if (InputSize / TotalStride < 1)
            throw new ArgumentException($"An input of {InputSize} px is too small for a total stride of {TotalStride}.");
        return this;
    }

    /// <summary>Stride of the stage at <paramref name="stage"/>'s first block (the ImageNet stem already pooled).</summary>
    public int StageStride(int stage) => stage == 0 && Stem == StemKind.ImageNet ? 1 : 2;

    /// <summary>Input side ÷ side of the last feature map.</summary>
    public int TotalStride => (Stem == StemKind.ImageNet ? 4 : 2) << (Widths.Length - (Stem == StemKind.ImageNet ? 1 : 0));

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"input {InputSize}, stem {StemWidth}{(Stem == StemKind.ImageNet ? " (ImageNet: 7×7 stride-2 convolution + 3×3 stride-2 max-pooling, first stage at stride 1)" : "")}, widths [{string.Join(",", Widths)}], blocks [{string.Join(",", Blocks)}]");
}
