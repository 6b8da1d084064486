using EdgeMask.Core.Classification;
using EdgeMask.Core.Detection;
using EdgeMask.Core.Geometry;
using EdgeMask.Tests.Shared;
using OpenCvSharp;
using Xunit.Abstractions;

namespace EdgeMask.Inference.Tests.Classification;

/// <summary>
/// Regression guard for the shipped classifier on the dev splits, cut exactly as at run time (VOC boxes through
/// <see cref="FaceCropGeometry"/>, crop images whole). The bars are the figures in models/mask_classifier.md.
/// </summary>
public sealed class ShippedClassifierAccuracyTests(ClassifierModelFixture fixture, ITestOutputHelper output) : IClassFixture<ClassifierModelFixture>
{
    /// <summary>Faces whose shorter side is at least this count (issue 3).</summary>
    private const float MinFace = 20f;
    // Issue 3's targets: 98 % on voc853 dev faces ≥ 20 px and 98.5 % on cd7 dev. The shipped model measures
    // 98.86 % and 99.28 % (models/mask_classifier.md); a replacement must still meet the targets.
    private const double VocDevBar = 0.98;
    private const double Cd7DevBar = 0.985;

    [Fact]
    public void Classify_Voc853DevFacesAtLeast20px_MeetsTheModelCardAccuracy()
    {
        int n = 0, correct = 0, nIncl = 0, correctIncl = 0;
        foreach (string stem in File.ReadLines(Path.Combine(TestPaths.Voc853, "splits", "dev.txt")).Where(l => l.Length > 0))
        {
            var annotation = EdgeMask.Core.Evaluation.VocAnnotation.Load(Path.Combine(TestPaths.Voc853, "annotations", stem + ".xml"));
            var faces = annotation.Objects.Where(o => o.Box.ShortSide >= MinFace && MaskClassNames.ToLabel(o.Name) is not null).ToArray();
            if (faces.Length == 0) continue;
            using var photo = Cv2.ImRead(Path.Combine(TestPaths.Voc853, "images", stem + ".jpg"), ImreadModes.Color);
            var results = new MaskClassification[faces.Length];
            fixture.Classifier.Classify(photo, faces.Select(f => f.Box).ToArray(), results);
            for (int i = 0; i < faces.Length; i++)
            {
                bool ok = results[i].Label == MaskClassNames.ToLabel(faces[i].Name);
                nIncl++;
                if (ok) correctIncl++;
                if (faces[i].Name == MaskClassNames.MaskWornIncorrectly) continue;
                n++;
                if (ok) correct++;
            }
        }
        double accuracy = (double)correct / n;
        output.WriteLine($"voc853 dev ≥{MinFace} px: {accuracy:P2} of {n}; incl. mask_weared_incorrect as no_mask: {(double)correctIncl / nIncl:P2} of {nIncl}");
        Assert.True(n > 400, $"only {n} dev faces were read");
        Assert.True(accuracy >= VocDevBar, $"voc853 dev accuracy {accuracy:P2} is below {VocDevBar:P2}");
    }

    [Fact]
    public void ClassifyCrop_Cd7Dev_MeetsTheModelCardAccuracy()
    {
        int n = 0, correct = 0;
        foreach (string rel in File.ReadLines(Path.Combine(TestPaths.Cd7, "splits", "dev.txt")).Where(l => l.Length > 0))
        {
            var expected = rel.StartsWith("with_mask/", StringComparison.Ordinal) ? MaskLabel.Mask : MaskLabel.NoMask;
            using var crop = Cv2.ImRead(Path.Combine(TestPaths.Cd7, rel), ImreadModes.Color);
            n++;
            if (fixture.Classifier.ClassifyCrop(crop).Label == expected) correct++;
        }
        double accuracy = (double)correct / n;
        output.WriteLine($"cd7 dev: {accuracy:P2} of {n}");
        Assert.True(n > 600, $"only {n} dev images were read");
        Assert.True(accuracy >= Cd7DevBar, $"cd7 dev accuracy {accuracy:P2} is below {Cd7DevBar:P2}");
    }
}
