using EdgeMask.Core.Classification;
using EdgeMask.Core.Detection;
using EdgeMask.Core.Evaluation;
using EdgeMask.Tests.Shared;
using OpenCvSharp;
using Xunit.Abstractions;

namespace EdgeMask.Inference.Tests.Classification;

/// <summary>The float classifier (what TensorRT and CUDA run) held to the model card's figures.</summary>
public sealed class ShippedClassifierAccuracyTests(ClassifierModelFixture fixture, ITestOutputHelper output)
    : ShippedClassifierAccuracyGuard(fixture.Classifier, output), IClassFixture<ClassifierModelFixture>;

/// <summary>The int8 classifier (what the CPU runs) held to the same figures (issue 17: it may be the default only if it keeps them).</summary>
public sealed class ShippedInt8ClassifierAccuracyTests(Int8ClassifierModelFixture fixture, ITestOutputHelper output)
    : ShippedClassifierAccuracyGuard(fixture.Classifier, output), IClassFixture<Int8ClassifierModelFixture>;

/// <summary>
/// Regression guard for a shipped classifier file on the dev splits, cut exactly as at run time (VOC boxes through
/// <see cref="FaceCropGeometry"/>, crop images whole), figures read from the 3×3 confusion matrix as the model card
/// states them (models/mask_classifier.md).
/// </summary>
public abstract class ShippedClassifierAccuracyGuard(EdgeMask.Inference.Classification.MaskClassifier classifier, ITestOutputHelper output)
{
    /// <summary>Faces whose shorter side is at least this count (issue 17, as issue 3).</summary>
    private const float MinFace = 20f;

    // Issue 17's targets on voc853 dev faces ≥ 20 px and cd7 dev: mask vs no_mask ≥ 98.5 %, badly worn masks labelled
    // incorrect ≥ 70 % and cd7 ≥ 99 % are met and held at the targets. Badly worn masks caught as a violation (target
    // 90 %, 18 of 19) is not: the guard holds the shipped 16 of 19 instead (the model card says why: the same three
    // faces are called mask by every file exported while working on it).
    private const double VocMaskVersusNoMaskBar = 0.985;
    private const double IncorrectLabelledBar = 0.70;
    private const double IncorrectCaughtBar = 16.0 / 19;
    private const double Cd7Bar = 0.99;

    private LabelConfusion VocDev(float minFace)
    {
        var m = new LabelConfusion();
        foreach (string stem in File.ReadLines(Path.Combine(TestPaths.Voc853, "splits", "dev.txt")).Where(l => l.Length > 0))
        {
            var annotation = VocAnnotation.Load(Path.Combine(TestPaths.Voc853, "annotations", stem + ".xml"));
            var faces = annotation.Objects.Where(o => o.Box.ShortSide >= minFace && MaskClassNames.ToLabel(o.Name) is not null).ToArray();
            if (faces.Length == 0) continue;
            using var photo = Cv2.ImRead(Path.Combine(TestPaths.Voc853, "images", stem + ".jpg"), ImreadModes.Color);
            var results = new MaskClassification[faces.Length];
            classifier.Classify(photo, faces.Select(f => f.Box).ToArray(), results);
            for (int i = 0; i < faces.Length; i++) m.Add(MaskClassNames.ToLabel(faces[i].Name)!.Value, results[i].Label);
        }
        output.WriteLine(m.ToMarkdown());
        return m;
    }

    [Fact]
    public void Classify_Voc853DevFacesAtLeast20px_MeetsTheModelCardFigures()
    {
        var m = VocDev(MinFace);

        output.WriteLine($"mask vs no_mask {m.MaskVersusNoMask.ToPercent()}, incorrect labelled {m.Recall(MaskLabel.Incorrect).ToPercent()}, caught {m.CaughtAsViolation(MaskLabel.Incorrect).ToPercent()}");
        Assert.True(m.TruthCount(MaskLabel.Mask) + m.TruthCount(MaskLabel.NoMask) > 400, $"only {m.Total} dev faces were read");
        Assert.Equal(19, m.TruthCount(MaskLabel.Incorrect));
        Assert.True(m.MaskVersusNoMask.Value >= VocMaskVersusNoMaskBar, $"mask vs no_mask {m.MaskVersusNoMask.ToPercent()} is below {VocMaskVersusNoMaskBar:P1}");
        Assert.True(m.Recall(MaskLabel.Incorrect).Value >= IncorrectLabelledBar, $"badly worn masks labelled incorrect {m.Recall(MaskLabel.Incorrect).ToPercent()}");
        Assert.True(m.CaughtAsViolation(MaskLabel.Incorrect).Value >= IncorrectCaughtBar - 1e-9, $"badly worn masks caught {m.CaughtAsViolation(MaskLabel.Incorrect).ToPercent()}");
    }

    [Fact]
    public void ClassifyCrop_Cd7Dev_MeetsTheModelCardAccuracy()
    {
        var m = new LabelConfusion();
        foreach (string rel in File.ReadLines(Path.Combine(TestPaths.Cd7, "splits", "dev.txt")).Where(l => l.Length > 0))
        {
            var expected = rel.StartsWith("with_mask/", StringComparison.Ordinal) ? MaskLabel.Mask : MaskLabel.NoMask;
            using var crop = Cv2.ImRead(Path.Combine(TestPaths.Cd7, rel), ImreadModes.Color);
            m.Add(expected, classifier.ClassifyCrop(crop).Label);
        }
        output.WriteLine($"cd7 dev: mask vs no_mask {m.MaskVersusNoMask.ToPercent()}, exact {m.Accuracy.ToPercent()} of {m.Total}");
        Assert.True(m.Total > 600, $"only {m.Total} dev images were read");
        Assert.True(m.MaskVersusNoMask.Value >= Cd7Bar - 1e-9, $"cd7 dev {m.MaskVersusNoMask.ToPercent()} is below {Cd7Bar:P2}");
    }
}
