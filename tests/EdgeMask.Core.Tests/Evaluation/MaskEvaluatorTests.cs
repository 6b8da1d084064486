using EdgeMask.Core.Detection;
using EdgeMask.Core.Evaluation;
using EdgeMask.Core.Geometry;

namespace EdgeMask.Core.Tests.Evaluation;

/// <summary>A tiny hand-made VOC set whose answers are worked out by hand.</summary>
public class MaskEvaluatorTests
{
    private static VocAnnotation Image(params (string Name, BoxF Box)[] objects) =>
        new("test.xml", 200, 200, objects.Select(o => new VocObject(o.Name, o.Box)).ToList(), []);

    private static EvalDetection Det(float x, float y, float size, float score, MaskLabel label, float p) =>
        new(new BoxF(x, y, x + size, y + size), score, label, p);

    [Fact]
    public void Report_HandMadeSet_ExactFigures()
    {
        var e = new MaskEvaluator();
        // Image 1: a masked face (found, right), a bare face (found, wrong), a small masked face (missed).
        e.Add(Image(("with_mask", new BoxF(0, 0, 40, 40)), ("without_mask", new BoxF(100, 0, 140, 40)), ("with_mask", new BoxF(0, 100, 10, 110))),
        [
            Det(0, 0, 40, 0.9f, MaskLabel.Mask, 0.95f),
            Det(100, 0, 40, 0.8f, MaskLabel.Mask, 0.6f),
            Det(150, 150, 30, 0.7f, MaskLabel.NoMask, 0.9f), // nothing there: a false detection
        ]);
        // Image 2: a bare face found and right; an incorrectly worn mask found, predicted no_mask (right under AsNoMask).
        e.Add(Image(("without_mask", new BoxF(50, 50, 90, 90)), ("mask_weared_incorrect", new BoxF(120, 120, 150, 150))),
        [
            Det(50, 50, 40, 0.95f, MaskLabel.NoMask, 0.9f),
            Det(120, 120, 30, 0.85f, MaskLabel.NoMask, 0.8f),
        ]);

        var r = e.Report();
        Assert.Equal(2, r.Images);
        Assert.Equal(new Fraction(4, 5), r.Recall);
        Assert.Equal(new Fraction(4, 4), r.RecallLarge);
        Assert.Equal(new Fraction(0, 1), r.RecallSmall);
        Assert.Equal(new Fraction(1, 2), r.RecallPerClass["with_mask"]);
        Assert.Equal(new Fraction(2, 2), r.RecallPerClass["without_mask"]);
        Assert.Equal(new Fraction(1, 1), r.RecallPerClass["mask_weared_incorrect"]);
        Assert.Equal(5, r.Detections);
        Assert.Equal(1, r.FalseDetections);
        Assert.Equal(new Fraction(3, 4), r.MaskAccuracy);

        // mask: positives 2 (two with_mask). Predictions "mask": 0.855 (TP), 0.48 (FP: it is a bare face).
        // Ranked: TP → P=1,R=.5; FP → P=.5,R=.5. AP = 0.5·1 = 0.5.
        Assert.Equal(0.5, r.ApMask, 6);
        // no_mask: positives 3 (2 without_mask + 1 incorrect). Predictions: 0.855 (TP), 0.68 (TP), 0.63 (FP).
        // Ranked: R=1/3 P=1; R=2/3 P=1; then FP. AP = 2/3.
        Assert.Equal(2.0 / 3.0, r.ApNoMask, 6);
        Assert.Equal((0.5 + 2.0 / 3.0) / 2, r.MeanAp, 6);
    }

    [Fact]
    public void Report_IgnoreIncorrect_NeitherCountedNorPenalised()
    {
        var e = new MaskEvaluator(incorrect: IncorrectMaskPolicy.Ignore);
        e.Add(Image(("mask_weared_incorrect", new BoxF(0, 0, 40, 40))), [Det(0, 0, 40, 0.9f, MaskLabel.Mask, 0.9f)]);
        var r = e.Report();
        Assert.Equal(new Fraction(0, 0), r.MaskAccuracy);
        Assert.True(double.IsNaN(r.ApMask));
    }

    [Fact]
    public void Report_PredictedIncorrectUnderDefaultPolicy_CountsAsNoMaskAndConfusionKeepsThreeLabels()
    {
        var e = new MaskEvaluator();
        e.Add(Image(("mask_weared_incorrect", new BoxF(0, 0, 40, 40)), ("without_mask", new BoxF(100, 0, 140, 40)), ("with_mask", new BoxF(0, 100, 40, 140))),
        [
            Det(0, 0, 40, 0.9f, MaskLabel.Incorrect, 0.8f),
            Det(100, 0, 40, 0.9f, MaskLabel.Incorrect, 0.7f),
            Det(0, 100, 40, 0.9f, MaskLabel.Incorrect, 0.6f),
        ]);
        var r = e.Report();
        // Both violations are right (a violation either way); the masked face called incorrect is wrong.
        Assert.Equal(new Fraction(2, 3), r.MaskAccuracy);
        Assert.True(double.IsNaN(r.ApIncorrect));
        Assert.Equal(1, r.Confusion[MaskLabel.Incorrect, MaskLabel.Incorrect]);
        Assert.Equal(1, r.Confusion[MaskLabel.NoMask, MaskLabel.Incorrect]);
        Assert.Equal(1, r.ConfusionLarge[MaskLabel.Mask, MaskLabel.Incorrect]);
    }

    [Fact]
    public void Report_IncorrectAsItsOwnClass_ScoredApartWithThreeAps()
    {
        var e = new MaskEvaluator(incorrect: IncorrectMaskPolicy.AsIncorrect);
        e.Add(Image(("mask_weared_incorrect", new BoxF(0, 0, 40, 40)), ("without_mask", new BoxF(100, 0, 140, 40))),
        [
            Det(0, 0, 40, 0.9f, MaskLabel.Incorrect, 0.8f),
            Det(100, 0, 40, 0.9f, MaskLabel.Incorrect, 0.7f),
        ]);
        var r = e.Report();
        Assert.Equal(new Fraction(1, 2), r.MaskAccuracy);
        // incorrect: one positive; ranked TP (0.72) then FP (0.63) → AP 1. no_mask: one positive never predicted → AP 0.
        Assert.Equal(1.0, r.ApIncorrect, 6);
        Assert.Equal(0.0, r.ApNoMask, 6);
        Assert.True(double.IsNaN(r.ApMask));
    }

    [Fact]
    public void AveragePrecision_PerfectRanking_IsOne() =>
        Assert.Equal(1.0, MaskEvaluator.AveragePrecision([(0.9f, true), (0.8f, true), (0.1f, false)], 2), 6);

    [Fact]
    public void AveragePrecision_NothingFound_IsZero() =>
        Assert.Equal(0.0, MaskEvaluator.AveragePrecision([(0.9f, false)], 3), 6);
}
