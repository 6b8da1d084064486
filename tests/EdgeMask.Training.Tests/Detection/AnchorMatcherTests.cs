using EdgeMask.Core.Detection;
using EdgeMask.Core.Geometry;
using EdgeMask.Training.Detection;

namespace EdgeMask.Training.Tests.Detection;

public sealed class AnchorMatcherTests
{
    // A 96×64 input with one 32 px anchor per 32 px cell: six anchors, row-major:
    // p0 (0,0,32,32)  p1 (32,0,64,32)  p2 (64,0,96,32)
    // p3 (0,32,32,64) p4 (32,32,64,64) p5 (64,32,96,64)
    internal static readonly PriorBoxConfig Config = new() { MinSizes = [[32]], Steps = [32], CenterVariance = 0.1f, SizeVariance = 0.2f };
    internal const int W = 96, H = 64;

    private static (long[] Labels, float[] Loc, float[] Lm, float[] Mask) Match(params TrainingFace[] faces)
    {
        var priors = PriorBoxes.Generate(Config, H, W);
        int p = priors.Length / 4;
        var labels = new long[p];
        var loc = new float[p * 4];
        var lm = new float[p * 10];
        var mask = new float[p];
        AnchorMatcher.Match(priors, W, H, faces, new MatchingThresholds(), 0.1f, 0.2f, labels, loc, lm, mask);
        return (labels, loc, lm, mask);
    }

    [Fact]
    public void Match_HandMadeFaces_LabelsFaceBackgroundAndIgnoredAnchors()
    {
        // F0 sits exactly on p0 (IoU 1). F1 straddles p3 and p4 (IoU 1/3 with each): p3 is its best anchor (first of
        // the tie) and is forced to be a face anchor; p4, at 1/3 ∈ [0.3, 0.5), is ignored. The rest overlap nothing.
        var (labels, _, _, _) = Match(new TrainingFace(new BoxF(0, 0, 32, 32), null), new TrainingFace(new BoxF(16, 32, 48, 64), null));

        Assert.Equal([AnchorLabel.Face, AnchorLabel.Background, AnchorLabel.Background, AnchorLabel.Face, AnchorLabel.Ignore, AnchorLabel.Background], labels);
    }

    [Fact]
    public void Match_FaceBelowThresholdEverywhere_ItsBestAnchorIsStillAFaceAnchor()
    {
        // 16×16 face inside p4: IoU 256/1024 = 0.25 < 0.3, yet p4 must learn it.
        var (labels, _, _, _) = Match(new TrainingFace(new BoxF(40, 40, 56, 56), null));

        Assert.Equal([AnchorLabel.Background, AnchorLabel.Background, AnchorLabel.Background, AnchorLabel.Background, AnchorLabel.Face, AnchorLabel.Background], labels);
    }

    [Fact]
    public void Match_HandMadeFaces_EncodesBoxesWithTheVariances()
    {
        var (_, loc, _, _) = Match(new TrainingFace(new BoxF(0, 0, 32, 32), null), new TrainingFace(new BoxF(16, 32, 48, 64), null));

        // p0 ↔ F0: same box ⇒ all zero. p3 ↔ F1: centre 16 px to the right of p3's, 16 / (0.1 · 32) = 5; same size ⇒ log 1 = 0.
        Assert.Equal([0f, 0f, 0f, 0f], loc[0..4]);
        Assert.Equal(5f, loc[12], 4);
        Assert.Equal(0f, loc[13], 4);
        Assert.Equal(0f, loc[14], 4);
        Assert.Equal(0f, loc[15], 4);
        // A box twice the anchor's size: log 2 / 0.2.
        var (_, loc2, _, _) = Match(new TrainingFace(new BoxF(-16, -16, 48, 48), null));
        Assert.Equal(MathF.Log(2) / 0.2f, loc2[2], 4);
        Assert.Equal(MathF.Log(2) / 0.2f, loc2[3], 4);
    }

    [Fact]
    public void Match_FaceWithLandmarks_EncodesThemAndMasksFacesWithout()
    {
        var c = new PointF2(16, 16);
        var marks = new Landmarks5(new PointF2(8, 8), c, c, c, c);
        var (_, _, lm, mask) = Match(new TrainingFace(new BoxF(0, 0, 32, 32), marks), new TrainingFace(new BoxF(16, 32, 48, 64), null));

        // Left eye 8 px left of and above p0's centre: −8 / (0.1 · 32) = −2.5 on both axes; the others sit on the centre.
        Assert.Equal(-2.5f, lm[0], 4);
        Assert.Equal(-2.5f, lm[1], 4);
        Assert.All(lm[2..10], v => Assert.Equal(0f, v, 4));
        Assert.Equal([1f, 0f, 0f, 0f, 0f, 0f], mask);
    }

    [Fact]
    public void Match_WeightedFace_ItsFaceAnchorsCarryItsWeightAndEveryOtherAnchorOne()
    {
        var priors = PriorBoxes.Generate(Config, H, W);
        var labels = new long[6];
        var weights = new float[6];
        Array.Fill(weights, -7f); // stale values from the previous image must not survive
        AnchorMatcher.Match(priors, W, H, [new TrainingFace(new BoxF(0, 0, 32, 32), null, 3f), new TrainingFace(new BoxF(16, 32, 48, 64), null)],
            new MatchingThresholds(), 0.1f, 0.2f, labels, new float[24], new float[60], new float[6], weights);

        // p0 belongs to the weighted face, p3 to the unweighted one; p4 is ignored, the rest background.
        Assert.Equal([3f, 1f, 1f, 1f, 1f, 1f], weights);
    }

    [Fact]
    public void Match_NoFaces_EveryAnchorIsBackground()
    {
        var (labels, _, _, _) = Match();
        Assert.All(labels, l => Assert.Equal(AnchorLabel.Background, l));
    }
}
