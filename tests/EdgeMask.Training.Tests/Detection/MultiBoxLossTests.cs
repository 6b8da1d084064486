using EdgeMask.Core.Detection;
using EdgeMask.Core.Geometry;
using EdgeMask.Training.Detection;
using TorchSharp;
using static TorchSharp.torch;

namespace EdgeMask.Training.Tests.Detection;

public sealed class MultiBoxLossTests
{
    /// <summary>Logits (background 0, face z): p(background) = 1 / (1 + e^z).</summary>
    private static Tensor Logits(params double[] z) =>
        torch.tensor(z.SelectMany(v => new[] { 0f, (float)v }).ToArray(), [1, z.Length, 2]);

    [Fact]
    public void Compute_HandMadeAnchors_GivesTheHandComputedLossParts()
    {
        // The six anchors of AnchorMatcherTests with faces F0 (on p0, with landmarks) and F1 (p3 face, p4 ignored).
        var priors = PriorBoxes.Generate(AnchorMatcherTests.Config, AnchorMatcherTests.H, AnchorMatcherTests.W);
        var c = new PointF2(16, 16);
        var faces = new[]
        {
            new TrainingFace(new BoxF(0, 0, 32, 32), new Landmarks5(new PointF2(8, 8), c, c, c, c)),
            new TrainingFace(new BoxF(16, 32, 48, 64), null),
        };
        var labels = new long[6];
        var loc = new float[24];
        var lm = new float[60];
        var mask = new float[6];
        AnchorMatcher.Match(priors, AnchorMatcherTests.W, AnchorMatcherTests.H, faces, new MatchingThresholds(), 0.1f, 0.2f, labels, loc, lm, mask);

        // Face logit z per anchor: p0 0 (p(face) ½), p1 ln 3, p2 0, p3 ln 3 (p(face) ¾), p4 10 (ignored: must not count), p5 ln 7.
        var logits = Logits(0, Math.Log(3), 0, Math.Log(3), 10, Math.Log(7));
        var predictedLoc = torch.zeros(1, 6, 4);
        predictedLoc[0, 0, 0] = torch.tensor(0.5f); // target 0 ⇒ smooth-L1 ½ · 0.5² = 0.125
        var outputs = new RetinaFaceOutputs(predictedLoc, logits, torch.zeros(1, 6, 10));
        var loss = new MultiBoxLoss(boxWeight: 2f, landmarkWeight: 0.5f);

        var parts = loss.Compute(outputs, torch.tensor(labels, [1, 6]), torch.tensor(loc, [1, 6, 4]), torch.tensor(lm, [1, 6, 10]), torch.tensor(mask, [1, 6]));

        // 2 face anchors ⇒ up to 6 negatives, but only p1, p2, p5 are background: all three are used.
        Assert.Equal(2, parts.Positives);
        Assert.Equal(3, parts.Negatives);
        // CE: p0 ln 2, p3 ln 4/3, p1 ln 4, p2 ln 2, p5 ln 8 — divided by 2 face anchors.
        double cls = (Math.Log(2) + Math.Log(4.0 / 3) + Math.Log(4) + Math.Log(2) + Math.Log(8)) / 2;
        Assert.Equal(cls, parts.Classification, 4);
        // Box: p0 0.125, p3 target (5,0,0,0) with prediction 0 ⇒ 5 − ½ = 4.5; (0.125 + 4.5) / 2.
        Assert.Equal(2.3125, parts.Box, 4);
        // Landmarks: only p0 has them; targets (−2.5, −2.5, 0, …) ⇒ 2 + 2 = 4, over 1 anchor.
        Assert.Equal(4.0, parts.Landmark, 4);
        Assert.Equal(cls + 2 * 2.3125 + 0.5 * 4.0, parts.Total.item<float>(), 3);
    }

    [Fact]
    public void Compute_AnchorWeights_ScaleEachSelectedAnchorsCrossEntropy()
    {
        // One face anchor weighing 3 and three background anchors weighing 1; every p = ½ ⇒ each CE is ln 2.
        var labels = torch.tensor(new long[] { 1, 0, 0, 0 }, [1, 4]);
        var outputs = new RetinaFaceOutputs(torch.zeros(1, 4, 4), Logits(0, 0, 0, 0), torch.zeros(1, 4, 10));
        var weights = torch.tensor(new float[] { 3f, 1f, 1f, 1f }, [1, 4]);

        var parts = new MultiBoxLoss(1f, 1f).Compute(outputs, labels, torch.zeros(1, 4, 4), torch.zeros(1, 4, 10), torch.zeros(1, 4), anchorWeights: weights);

        Assert.Equal((3 + 3) * Math.Log(2), parts.Classification, 4);
    }

    [Fact]
    public void Compute_NoLandmarksInBatch_LandmarkTermIsZeroAndTotalIsClsPlusBox()
    {
        var labels = torch.tensor(new long[] { 1, 0, 0, 0 }, [1, 4]);
        var outputs = new RetinaFaceOutputs(torch.zeros(1, 4, 4), Logits(0, 0, 0, 0), torch.ones(1, 4, 10));
        var parts = new MultiBoxLoss(1f, 5f).Compute(outputs, labels, torch.zeros(1, 4, 4), torch.zeros(1, 4, 10), torch.zeros(1, 4));

        Assert.Equal(0.0, parts.Landmark, 6);
        Assert.Equal(0.0, parts.Box, 6);
        Assert.Equal(4 * Math.Log(2), parts.Total.item<float>(), 4); // 1 positive + 3 negatives, each ln 2
    }

    [Fact]
    public void MineHardNegatives_OnePositive_PicksTheThreeHardestBackgroundAnchors()
    {
        // Image 0: one face anchor (index 0), ignored index 7 with the highest loss (must not be picked).
        // Image 1: no face anchor ⇒ still 3 negatives.
        var bgLoss = torch.tensor(new float[]
        {
            9f, 0.1f, 0.7f, 0.3f, 0.9f, 0.2f, 0.8f, 5f,
            0.5f, 0.4f, 0.3f, 0.2f, 0.1f, 0.6f, 0.05f, 0.01f,
        }, [2, 8]);
        var labels = torch.tensor(new long[] { 1, 0, 0, 0, 0, 0, 0, -1, 0, 0, 0, 0, 0, 0, 0, 0 }, [2, 8]);

        var chosen = MultiBoxLoss.MineHardNegatives(bgLoss, labels, 3).data<bool>().ToArray();

        Assert.Equal([false, false, true, false, true, false, true, false], chosen[..8]);   // 0.9, 0.8, 0.7
        Assert.Equal([true, true, false, false, false, true, false, false], chosen[8..]);   // 0.6, 0.5, 0.4
    }

    [Fact]
    public void MineHardNegatives_FewerBackgroundAnchorsThanWanted_TakesAllOfThem()
    {
        var bgLoss = torch.tensor(new float[] { 1f, 2f, 3f, 4f }, [1, 4]);
        var labels = torch.tensor(new long[] { 1, 1, 0, -1 }, [1, 4]);
        var chosen = MultiBoxLoss.MineHardNegatives(bgLoss, labels, 3).data<bool>().ToArray();
        Assert.Equal([false, false, true, false], chosen);
    }
}
