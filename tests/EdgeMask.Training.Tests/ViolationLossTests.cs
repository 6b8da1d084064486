using EdgeMask.Training.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace EdgeMask.Training.Tests;

/// <summary>The two-way term trained by <c>--violation-weight</c>: −log p(violation) for violations, −log p(mask) for masks.</summary>
public sealed class ViolationLossTests
{
    private static float Loss(float[] logits, long[] labels)
    {
        using var scope = NewDisposeScope();
        var x = torch.tensor(logits, [labels.Length, 3]);
        var y = torch.tensor(labels);
        return ClassifierTrainer.ViolationLoss(x, y).item<float>();
    }

    [Fact]
    public void ViolationLoss_OneFacePerClass_IsTheMeanOfMinusLogOfTheMergedProbability()
    {
        float[] logits = [2f, 0f, -1f, 0.5f, 1f, 0f, 1f, -2f, 0.3f];
        float[] p(int row)
        {
            var e = logits.Skip(row * 3).Take(3).Select(MathF.Exp).ToArray();
            return [.. e.Select(v => v / e.Sum())];
        }
        float expected = -(MathF.Log(p(0)[0]) + MathF.Log(p(1)[1] + p(1)[2]) + MathF.Log(p(2)[1] + p(2)[2])) / 3;

        Assert.Equal(expected, Loss(logits, [0, 1, 2]), 5);
    }

    [Fact]
    public void ViolationLoss_BadlyWornMaskCalledNoMask_CostsNearlyNothingButCalledMaskCostsMuch()
    {
        // Both confusions cost the same in the three-way cross-entropy; only calling it mask lets the person pass.
        float asNoMask = Loss([-5f, 5f, 0f], [2]);
        float asMask = Loss([5f, 0f, -5f], [2]);

        Assert.True(asNoMask < 0.01f, $"no_mask for a badly worn mask cost {asNoMask}");
        Assert.True(asMask > 4f, $"mask for a badly worn mask cost {asMask}");
    }

    [Fact]
    public void Options_ViolationWeightOutOfRange_Rejected()
    {
        var options = OnnxExportTests.Options(new Model.ResNetConfig(32, 16, [16], [1])) with { ViolationWeight = -1 };

        Assert.Contains("--violation-weight", Assert.Throws<ArgumentOutOfRangeException>(() => options.Validate()).Message);
    }
}
