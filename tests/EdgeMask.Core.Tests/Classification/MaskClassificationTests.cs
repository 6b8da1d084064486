using EdgeMask.Core.Detection;

namespace EdgeMask.Core.Tests.Classification;

public sealed class MaskClassificationTests
{
    [Theory]
    [InlineData(0.7f, 0.2f, 0.1f, MaskLabel.Mask, 0.7f)]
    [InlineData(0.1f, 0.6f, 0.3f, MaskLabel.NoMask, 0.6f)]
    [InlineData(0.2f, 0.3f, 0.5f, MaskLabel.Incorrect, 0.5f)]
    [InlineData(0.4f, 0.4f, 0.2f, MaskLabel.Mask, 0.4f)]      // a tie goes to mask
    [InlineData(0.2f, 0.4f, 0.4f, MaskLabel.NoMask, 0.4f)]    // then to no_mask, the graver verdict
    public void Label_ThreeProbabilities_IsTheLikeliestWithItsProbability(float mask, float noMask, float incorrect, MaskLabel label, float p)
    {
        var c = new MaskClassification(mask, noMask, incorrect);
        Assert.Equal(label, c.Label);
        Assert.Equal(p, c.Probability, 6);
        Assert.Equal(noMask + incorrect, c.UnmaskedProbability, 6);
    }

    [Theory]
    [InlineData(0.5f, MaskLabel.Mask)]
    [InlineData(0.49f, MaskLabel.NoMask)]
    public void TwoClassConstructor_MaskProbability_SameVerdictAsBeforeTheThirdLabel(float pMask, MaskLabel label)
    {
        var c = new MaskClassification(pMask);
        Assert.Equal(label, c.Label);
        Assert.Equal(1f - pMask, c.NoMaskProbability, 6);
        Assert.Equal(0f, c.IncorrectProbability);
    }

    [Fact]
    public void WireNames_EveryLabel_RoundTrip()
    {
        Assert.Equal(["mask", "no_mask", "incorrect"], MaskLabelExtensions.All.Select(l => l.ToWireName()));
        foreach (var label in MaskLabelExtensions.All)
            Assert.Equal(label, MaskLabelExtensions.ParseWireName(label.ToWireName()));
        Assert.Contains("incorrect", Assert.Throws<FormatException>(() => MaskLabelExtensions.ParseWireName("half_mask")).Message);
    }
}
