using EdgeMask.Training.Detection;
using EdgeMask.Training.Onnx;

namespace EdgeMask.Training.Tests.Detection;

public sealed class WeightBlendTests
{
    /// <summary>The stock file and a "tuned" copy whose every weight is the stock weight + 1.</summary>
    private static (OnnxGraphFile Start, OnnxGraphFile Tuned) Pair()
    {
        var start = OnnxGraphFile.Load(SharedFiles.StockDetector);
        var shifted = start.Initializers.Keys.ToDictionary(n => n, n => start.ReadFloats(n).Select(v => v + 1f).ToArray());
        return (start, OnnxGraphFile.Parse(start.WithInitializers(shifted), "tuned.onnx"));
    }

    [Theory]
    [InlineData(0f)]
    [InlineData(0.7f)]
    [InlineData(1f)]
    public void Blend_Alpha_EveryWeightIsThatFractionOfTheWayFromStartToTuned(float alpha)
    {
        var (start, tuned) = Pair();

        var blended = OnnxGraphFile.Parse(WeightBlend.Blend(start, tuned, alpha), "blend.onnx");

        Assert.Equal(start.Initializers.Count, blended.Initializers.Count);
        foreach (string name in start.Initializers.Keys.Take(20))
        {
            float[] a = start.ReadFloats(name), w = blended.ReadFloats(name);
            for (int i = 0; i < a.Length; i += 7) Assert.Equal(a[i] + alpha, w[i], 4);
        }
    }

    [Fact]
    public void Blend_AlphaOne_IsTheTunedFileByteForByte()
    {
        var (start, tuned) = Pair();
        var tunedBytes = tuned.WithInitializers(new Dictionary<string, float[]>());

        Assert.Equal(tunedBytes, WeightBlend.Blend(start, tuned, 1f));
    }

    [Fact]
    public void Blend_AnotherGraph_IsRefusedNamingTheFile()
    {
        var (start, tuned) = Pair();
        var other = OnnxGraphFile.Load(Path.Combine(SharedFiles.RepoRoot, "models", "mask_classifier.onnx"));

        var e = Assert.Throws<OnnxGraphException>(() => WeightBlend.Blend(other, tuned, 0.5f));
        Assert.Contains("mask_classifier.onnx", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => WeightBlend.Blend(start, tuned, 1.5f));
    }
}
