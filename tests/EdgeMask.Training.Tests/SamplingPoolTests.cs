using EdgeMask.Core.Detection;
using EdgeMask.Training.Data;
using EdgeMask.Training.Training;

namespace EdgeMask.Training.Tests;

public sealed class SamplingPoolTests
{
    private static FaceSample Face(MaskLabel label) => new("set", "f.jpg", label, 40, 8, new byte[8 * 8 * 3]);

    private static readonly List<FaceSample> Train =
    [
        Face(MaskLabel.Mask),      // 0
        Face(MaskLabel.NoMask),    // 1
        Face(MaskLabel.Incorrect), // 2: mask_weared_incorrect
        Face(MaskLabel.Mask),      // 3
    ];

    private static TrainingOptions Options(IncorrectTraining incorrect, int weight = 1) =>
        OnnxExportTests.Options(new Model.ResNetConfig(32, 16, [16], [1])) with { Incorrect = incorrect, IncorrectWeight = weight };

    [Fact]
    public void SamplingPool_ThreeClasses_BadlyWornMasksAreTheirOwnPool()
    {
        var o = Options(IncorrectTraining.Label, weight: 5);
        Assert.Equal([0, 3], ClassifierTrainer.SamplingPool(Train, 0, o));
        Assert.Equal([1], ClassifierTrainer.SamplingPool(Train, 1, o));
        Assert.Equal([2], ClassifierTrainer.SamplingPool(Train, 2, o));
        Assert.Equal(["mask", "no_mask", "incorrect"], o.Classes);
    }

    [Fact]
    public void SamplingPool_TrainedAsNoMask_ListsBadlyWornMasksWeightTimesWithinNoMask()
    {
        Assert.Equal([1, 2], ClassifierTrainer.SamplingPool(Train, 1, Options(IncorrectTraining.NoMask)));
        Assert.Equal([1, 2, 2, 2], ClassifierTrainer.SamplingPool(Train, 1, Options(IncorrectTraining.NoMask, weight: 3)));
        Assert.Equal(["mask", "no_mask"], Options(IncorrectTraining.NoMask).Classes);
    }

    [Theory]
    [InlineData(0.0, 0)]
    [InlineData(0.399, 0)]
    [InlineData(0.4, 1)]
    [InlineData(0.799, 1)]
    [InlineData(0.8, 2)]
    [InlineData(0.999, 2)]
    public void PickClass_ShareOfAFifth_DrawsBadlyWornMasksOneTimeInFive(double u, int expected)
    {
        var shares = ClassifierTrainer.ClassShares(Options(IncorrectTraining.Label) with { IncorrectShare = 0.2 });
        Assert.Equal(expected, ClassifierTrainer.PickClass(shares, u));
    }

    [Fact]
    public void ClassIndex_BadlyWornMask_FollowsTheTrainingMode()
    {
        Assert.Equal(2, ClassifierTrainer.ClassIndex(MaskLabel.Incorrect, IncorrectTraining.Label));
        Assert.Equal(1, ClassifierTrainer.ClassIndex(MaskLabel.Incorrect, IncorrectTraining.NoMask));
    }

    [Fact]
    public void Options_IncorrectWeightOrShareOutOfRange_Rejected()
    {
        var options = Options(IncorrectTraining.NoMask) with { IncorrectWeight = 0 };
        Assert.Contains("--incorrect-weight", Assert.Throws<ArgumentOutOfRangeException>(() => options.Validate()).Message);
        var share = Options(IncorrectTraining.Label) with { IncorrectShare = 1.0 };
        Assert.Contains("--incorrect-share", Assert.Throws<ArgumentOutOfRangeException>(() => share.Validate()).Message);
    }
}
