using EdgeMask.Core.Detection;
using EdgeMask.Training.Data;
using EdgeMask.Training.Training;

namespace EdgeMask.Training.Tests;

public sealed class SamplingPoolTests
{
    private static FaceSample Face(MaskLabel label, bool incorrect) => new("set", "f.jpg", label, incorrect, 40, 8, new byte[8 * 8 * 3]);

    [Fact]
    public void SamplingPool_IncorrectWeight_ListsBadlyWornMasksThatManyTimesWithinNoMaskOnly()
    {
        var train = new List<FaceSample>
        {
            Face(MaskLabel.Mask, false),      // 0
            Face(MaskLabel.NoMask, false),    // 1
            Face(MaskLabel.NoMask, true),     // 2: mask_weared_incorrect, trained as no_mask
            Face(MaskLabel.Mask, false),      // 3
        };
        Assert.Equal([0, 3], ClassifierTrainer.SamplingPool(train, 0, 1));
        Assert.Equal([1, 2], ClassifierTrainer.SamplingPool(train, 1, 1));
        Assert.Equal([1, 2, 2, 2], ClassifierTrainer.SamplingPool(train, 1, 3));
    }

    [Fact]
    public void Options_IncorrectWeightOutOfRange_Rejected()
    {
        var options = OnnxExportTests.Options(new Model.ResNetConfig(32, 16, [16], [1])) with { IncorrectWeight = 0 };
        Assert.Contains("--incorrect-weight", Assert.Throws<ArgumentOutOfRangeException>(() => options.Validate()).Message);
    }
}
