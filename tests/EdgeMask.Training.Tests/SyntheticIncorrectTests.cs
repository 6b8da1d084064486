using EdgeMask.Core.Detection;
using EdgeMask.Training.Data;

namespace EdgeMask.Training.Tests;

/// <summary>Synthetic badly worn masks: a bare face above, a masked face's mask below its nose.</summary>
public sealed class SyntheticIncorrectTests
{
    private const int Side = 96;
    private const float Box = 61.5f;

    private static FaceSample Plain(MaskLabel label, byte value) =>
        new("voc train", $"{label}.jpg", label, 40, Side, Enumerable.Repeat(value, Side * Side * 3).ToArray()) { FromPhoto = true };

    [Fact]
    public void Compose_BareAndMasked_ForeheadAndNoseBareMouthAndChinMaskedEdgesFaded()
    {
        var bare = Plain(MaskLabel.NoMask, 200);
        var masked = Plain(MaskLabel.Mask, 20);

        var s = new IncorrectMaskSynthesizer(Side, Box).Compose(bare, masked, new Random(1));

        Assert.Equal(MaskLabel.Incorrect, s.Label);
        Assert.True(s.FromPhoto);
        byte At(int x, int y) => s.Pixels[(y * Side + x) * 3];
        int c = Side / 2;
        Assert.Equal(200, At(c, c));                      // nose height (box centre): still the bare face
        Assert.Equal(200, At(c, 10));                     // forehead
        Assert.Equal(20, At(c, Side - 4));                // chin: the mask
        Assert.Equal(200, At(2, Side - 4));               // beside the face: the bare face's background
        Assert.All(bare.Pixels, v => Assert.Equal(200, v)); // the donor is not changed
    }

    [Fact]
    public void Compose_SeveralDraws_MaskEdgeBetweenJustBelowTheNoseAndTheMouth()
    {
        var synthesizer = new IncorrectMaskSynthesizer(Side, Box);
        var rng = new Random(7);
        for (int i = 0; i < 50; i++)
        {
            var s = synthesizer.Compose(Plain(MaskLabel.NoMask, 200), Plain(MaskLabel.Mask, 20), rng);
            int firstMasked = Enumerable.Range(0, Side).First(y => s.Pixels[(y * Side + Side / 2) * 3] < 200);
            Assert.InRange(firstMasked, Side / 2 + 0.02 * Box - 1, Side / 2 + 0.25 * Box + 1);
        }
    }

    [Fact]
    public void Compose_CropsOfAnotherSize_Refused() =>
        Assert.Throws<ArgumentException>(() => new IncorrectMaskSynthesizer(Side, Box).Compose(
            Plain(MaskLabel.NoMask, 1), new FaceSample("s", "f", MaskLabel.Mask, 40, 8, new byte[8 * 8 * 3]), new Random(1)));
}
