using System.Globalization;

namespace EdgeMask.Training.Model;

/// <summary>
/// Shape of the small ResNet: a 3×3 stride-2 stem, then one stage per entry of <see cref="Widths"/>, each stage
/// starting with a stride-2 BasicBlock (projection shortcut) followed by identity-shortcut BasicBlocks.
/// </summary>
/// <param name="InputSize">Square input side in pixels.</param>
/// <param name="StemWidth">Channels after the stem convolution.</param>
/// <param name="Widths">Channels per stage.</param>
/// <param name="Blocks">BasicBlocks per stage (≥ 1).</param>
public sealed record ResNetConfig(int InputSize, int StemWidth, int[] Widths, int[] Blocks)
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
        if (InputSize >> (Widths.Length + 1) < 1)
            throw new ArgumentException($"An input of {InputSize} px is too small for {Widths.Length} stride-2 stages.");
        return this;
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"input {InputSize}, stem {StemWidth}, widths [{string.Join(",", Widths)}], blocks [{string.Join(",", Blocks)}]");
}
