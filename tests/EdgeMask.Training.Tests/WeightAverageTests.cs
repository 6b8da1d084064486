using EdgeMask.Training.Model;
using EdgeMask.Training.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace EdgeMask.Training.Tests;

public sealed class WeightAverageTests
{
    private static readonly ResNetConfig Config = new(32, 16, [16], [1]);

    [Fact]
    public void CopyInto_ThenUpdateWithUnchangedWeights_AverageEqualsTheWeights()
    {
        torch.manual_seed(1);
        using var model = new SmallResNet(Config);
        using var average = new SmallResNet(Config);
        WeightAverage.CopyInto(model, average);
        WeightAverage.Update(average, model, 0.999, step: 5000);
        float[] w = model.fc.weight!.data<float>().ToArray(), a = average.fc.weight!.data<float>().ToArray();
        for (int i = 0; i < w.Length; i++) Assert.Equal(w[i], a[i], 1e-6f);
    }

    [Fact]
    public void Update_LateStep_MovesTheAverageByOneMinusDecay()
    {
        torch.manual_seed(2);
        using var model = new SmallResNet(Config);
        using var average = new SmallResNet(Config);
        WeightAverage.CopyInto(model, average);
        float before = average.fc.bias!.data<float>()[0];
        using (no_grad()) model.fc.bias!.add_(1f);
        // At step 10 000 the warm-up bound (1 + s) / (10 + s) is above 0.99, so the decay is 0.99 itself.
        WeightAverage.Update(average, model, 0.99, step: 10_000);
        Assert.Equal(before + 0.01f, average.fc.bias!.data<float>()[0], 1e-5f);
    }

    [Fact]
    public void Update_FirstStep_FollowsTheWeightsClosely()
    {
        torch.manual_seed(3);
        using var model = new SmallResNet(Config);
        using var average = new SmallResNet(Config);
        WeightAverage.CopyInto(model, average);
        float before = average.fc.bias!.data<float>()[0];
        using (no_grad()) model.fc.bias!.add_(1f);
        // Step 0: d = min(0.999, 1/10) = 0.1, so the average takes 90 % of the change.
        WeightAverage.Update(average, model, 0.999, step: 0);
        Assert.Equal(before + 0.9f, average.fc.bias!.data<float>()[0], 1e-5f);
    }

    [Fact]
    public void Update_DifferentArchitectures_Throws()
    {
        using var a = new SmallResNet(Config);
        using var b = new SmallResNet(new ResNetConfig(32, 16, [16, 32], [1, 1]));
        Assert.Throws<InvalidOperationException>(() => WeightAverage.Update(a, b, 0.9, 0));
    }
}

public sealed class EpochSeedTests
{
    [Fact]
    public void EpochSeed_SameSeedAndEpoch_SameValueInEveryProcess()
    {
        // A constant, not a value computed in this process: HashCode.Combine would differ from run to run.
        Assert.Equal(17_000_054, EdgeMask.Training.Training.ClassifierTrainer.EpochSeed(17, 3));
        Assert.NotEqual(ClassifierTrainerSeed(17, 3), ClassifierTrainerSeed(17, 4));
    }

    private static int ClassifierTrainerSeed(int seed, int epoch) => EdgeMask.Training.Training.ClassifierTrainer.EpochSeed(seed, epoch);
}
