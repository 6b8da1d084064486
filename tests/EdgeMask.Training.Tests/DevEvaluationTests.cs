using EdgeMask.Core.Detection;
using EdgeMask.Training.Data;
using EdgeMask.Training.Training;

namespace EdgeMask.Training.Tests;

/// <summary>The dev figures an epoch is reported and chosen by.</summary>
public sealed class DevEvaluationTests
{
    private static FaceSample Face(MaskLabel label, float side) => new("voc", "f.jpg", label, side, 8, new byte[8 * 8 * 3]);
    private static readonly MaskClassification SaysMask = new(0.9f, 0.05f, 0.05f);
    private static readonly MaskClassification SaysNoMask = new(0.05f, 0.9f, 0.05f);
    private static readonly MaskClassification SaysIncorrect = new(0.05f, 0.05f, 0.9f);

    /// <summary>Photo set: 4 large masks (one called incorrect), 2 large bare faces (one called incorrect), 2 badly worn (large: caught as no_mask; small: labelled right), 1 small mask.</summary>
    private static (FaceSet Set, MaskClassification[] Predictions) Photos()
    {
        var faces = new[]
        {
            (Face(MaskLabel.Mask, 30), SaysMask), (Face(MaskLabel.Mask, 30), SaysMask), (Face(MaskLabel.Mask, 30), SaysMask),
            (Face(MaskLabel.Mask, 30), SaysIncorrect), (Face(MaskLabel.NoMask, 30), SaysNoMask), (Face(MaskLabel.NoMask, 30), SaysIncorrect),
            (Face(MaskLabel.Incorrect, 30), SaysNoMask), (Face(MaskLabel.Incorrect, 12), SaysIncorrect), (Face(MaskLabel.Mask, 12), SaysNoMask),
        };
        return (new FaceSet("voc dev", true, faces.Select(f => f.Item1).ToList()), faces.Select(f => f.Item2).ToArray());
    }

    [Fact]
    public void Score_PhotoSet_LargeFacesAndAllSizesAsConfusionMatrices()
    {
        var (set, p) = Photos();
        var metrics = Evaluation.Score(set, p, 20f);

        Assert.Equal(["voc dev ≥20px", "voc dev all sizes"], metrics.Select(m => m.Name));
        var large = metrics[0].Confusion;
        Assert.Equal(7, large.Total);
        Assert.Equal(5.0 / 6.0, large.MaskVersusNoMask.Value, 6);     // 3 masks + 2 bare (one called incorrect) of 6
        Assert.Equal(1.0, large.CaughtAsViolation(MaskLabel.Incorrect).Value, 6);
        Assert.Equal(0.0, large.Recall(MaskLabel.Incorrect).Value, 6);
        Assert.Equal(0.5, metrics[1].Confusion.Recall(MaskLabel.Incorrect).Value, 6);
        Assert.Contains("incorrect caught as a violation 100.0 %", metrics[0].ToString());
    }

    [Fact]
    public void SelectionScore_ThreeClasses_BlendsBadlyWornRecallIntoThePhotoSetHeadline()
    {
        var (set, p) = Photos();
        var crops = new FaceSet("cd7 dev", false, [Face(MaskLabel.Mask, 64), Face(MaskLabel.NoMask, 64)]);
        var metrics = Evaluation.Score(set, p, 20f).Concat(Evaluation.Score(crops, [SaysMask, SaysMask], 20f)).ToList();

        double three = Evaluation.SelectionScore([set, crops], metrics, 20f, threeClasses: true);
        double two = Evaluation.SelectionScore([set, crops], metrics, 20f, threeClasses: false);

        double photos = 5.0 / 6.0, badlyWorn = 0.5, cd7 = 0.5;
        Assert.Equal(((1 - Evaluation.IncorrectShareOfHeadline) * photos + Evaluation.IncorrectShareOfHeadline * badlyWorn + cd7) / 2, three, 6);
        Assert.Equal((photos + cd7) / 2, two, 6);
    }

    [Fact]
    public void Score_PredictionCountDiffers_Refused()
    {
        var (set, _) = Photos();
        Assert.Throws<ArgumentException>(() => Evaluation.Score(set, [SaysMask], 20f));
    }
}
