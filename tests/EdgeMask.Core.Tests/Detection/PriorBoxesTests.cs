using EdgeMask.Core.Detection;

namespace EdgeMask.Core.Tests.Detection;

public class PriorBoxesTests
{
    // cfg_mnet of the reference repository, as models/manifest.json states it.
    internal static readonly PriorBoxConfig MobileNetConfig = new()
    {
        MinSizes = [[16, 32], [64, 128], [256, 512]],
        Steps = [8, 16, 32],
        CenterVariance = 0.1f,
        SizeVariance = 0.2f,
    };

    [Theory]
    [InlineData(640, 640, 16800)]
    [InlineData(480, 640, 12600)]
    [InlineData(366, 512, 7744)]
    public void Generate_ProvenanceSizes_CountMatches(int height, int width, int expected)
    {
        Assert.Equal(expected, MobileNetConfig.PriorCount(height, width));
        Assert.Equal(expected * 4, PriorBoxes.Generate(MobileNetConfig, height, width).Length);
    }

    [Fact]
    public void Generate_366x512_OrderIsLevelRowColumnSize()
    {
        const int h = 366, w = 512;
        var p = PriorBoxes.Generate(MobileNetConfig, h, w);
        // First prior: level 0, row 0, column 0, size 16.
        AssertPrior(p, 0, 4f / w, 4f / h, 16f / w, 16f / h);
        // Second: same cell, size 32.
        AssertPrior(p, 1, 4f / w, 4f / h, 32f / w, 32f / h);
        // Third: next column (x inner).
        AssertPrior(p, 2, 12f / w, 4f / h, 16f / w, 16f / h);
        // Level 0 has ceil(366/8)=46 rows × 64 columns × 2; the first prior after it is level 1's first.
        int level1 = 46 * 64 * 2;
        AssertPrior(p, level1 - 1, (63 + 0.5f) * 8 / w, (45 + 0.5f) * 8 / h, 32f / w, 32f / h);
        AssertPrior(p, level1, 8f / w, 8f / h, 64f / w, 64f / h);
        // Level 1: ceil(366/16)=23 rows × 32 columns × 2; then level 2 with 12 × 16 × 2.
        int level2 = level1 + 23 * 32 * 2;
        AssertPrior(p, level2, 16f / w, 16f / h, 256f / w, 256f / h);
        Assert.Equal(level2 + 12 * 16 * 2, p.Length / 4);
        // Row-major inside a level: prior index 2·64 is row 1, column 0.
        AssertPrior(p, 2 * 64, 4f / w, 12f / h, 16f / w, 16f / h);
    }

    [Fact]
    public void Validate_LevelsMismatch_NamesTheField()
    {
        var bad = MobileNetConfig with { Steps = [8, 16] };
        var ex = Assert.Throws<ArgumentException>(bad.Validate);
        Assert.Contains("minSizes", ex.Message);
    }

    private static void AssertPrior(float[] p, int index, float cx, float cy, float w, float h)
    {
        Assert.Equal(cx, p[index * 4], 5);
        Assert.Equal(cy, p[index * 4 + 1], 5);
        Assert.Equal(w, p[index * 4 + 2], 5);
        Assert.Equal(h, p[index * 4 + 3], 5);
    }
}
