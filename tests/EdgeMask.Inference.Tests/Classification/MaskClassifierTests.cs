using EdgeMask.Core.Classification;
using EdgeMask.Core.Detection;
using EdgeMask.Core.Geometry;
using EdgeMask.Inference.Classification;
using EdgeMask.Tests.Shared;
using OpenCvSharp;

namespace EdgeMask.Inference.Tests.Classification;

public sealed class MaskClassifierTests(ClassifierModelFixture fixture) : IClassFixture<ClassifierModelFixture>
{
    private static readonly BoxF[] Boxes =
    [
        new(20, 30, 60, 80), new(100, 40, 130, 75), new(200, 10, 260, 90), new(-10, 100, 30, 150), new(300, 200, 340, 262),
    ];

    private static Mat Photo() => Cv2.ImRead(TestPaths.VocImage(0), ImreadModes.Color);

    [Fact]
    public void Classify_AllFacesInOneBatch_SameAsOneAtATime()
    {
        using var photo = Photo();
        var batch = new MaskClassification[Boxes.Length];
        fixture.Classifier.Classify(photo, Boxes, batch);
        for (int i = 0; i < Boxes.Length; i++)
        {
            var one = new MaskClassification[1];
            fixture.Classifier.Classify(photo, Boxes.AsSpan(i, 1), one);
            Assert.Equal(one[0].MaskProbability, batch[i].MaskProbability, 1e-5f);
            Assert.InRange(batch[i].MaskProbability, 0f, 1f);
        }
    }

    [Fact]
    public void Classify_MoreFacesThanCapacity_GrowsAndGivesTheSameAnswers()
    {
        using var photo = Photo();
        using var small = new MaskClassifier(ClassifierSessions.Create(ClassifierModelFixture.ModelPath, 1),
            fixture.Classifier.Contract, shouldDispose: true, initialCapacity: 2);
        var faces = Boxes.Select(b => new FaceDetection(b, 0.9f, default)).ToArray();
        var grown = new MaskClassification[faces.Length];
        small.Classify(photo, faces, grown);
        Assert.True(small.Capacity >= faces.Length);
        var reference = new MaskClassification[faces.Length];
        fixture.Classifier.Classify(photo, faces, reference);
        for (int i = 0; i < faces.Length; i++) Assert.Equal(reference[i].MaskProbability, grown[i].MaskProbability, 1e-5f);
    }

    [Fact]
    public void ClassifyCrop_ImageThatIsOneCrop_SameAsItsWholeImageBox()
    {
        using var crop = Cv2.ImRead(Path.Combine(TestPaths.Cd7, "with_mask", "w00001.jpg"), ImreadModes.Color);
        var viaCrop = fixture.Classifier.ClassifyCrop(crop);
        // A box over the whole image expanded by the contract factor is not the same region, so compare against the plan.
        var plan = FaceCropGeometry.PlanForWholeImage(crop.Cols, crop.Rows, fixture.Classifier.Contract);
        Assert.Equal(plan.OutputSize, fixture.Classifier.Contract.InputSize);
        Assert.InRange(viaCrop.MaskProbability, 0f, 1f);
        Assert.Equal(viaCrop.MaskProbability, fixture.Classifier.ClassifyCrop(crop).MaskProbability);
    }

    [Fact]
    public void Classify_NoFaces_LeavesResultsUntouched()
    {
        using var photo = Photo();
        var results = new MaskClassification[1];
        fixture.Classifier.Classify(photo, ReadOnlySpan<FaceDetection>.Empty, results);
        Assert.Equal(default, results[0]);
    }

    [Fact]
    public void Classify_GrayImage_ThrowsArgumentException()
    {
        using var gray = new Mat(100, 100, MatType.CV_8UC1, Scalar.All(128));
        Assert.Throws<ArgumentException>(() => fixture.Classifier.ClassifyCrop(gray));
    }

    [Fact]
    public void Constructor_ContractWithOtherInputSize_ThrowsModelExceptionNamingShapes()
    {
        var wrong = fixture.Classifier.Contract with { InputSize = fixture.Classifier.Contract.InputSize + 16 };
        using var session = ClassifierSessions.Create(ClassifierModelFixture.ModelPath, 1);
        var e = Assert.Throws<MaskClassifierModelException>(() => new MaskClassifier(session, wrong, shouldDispose: false));
        Assert.Contains("contract says", e.Message);
    }

    [Fact]
    public void Constructor_ContractWithUnknownOutput_ThrowsModelException()
    {
        var wrong = fixture.Classifier.Contract with { OutputName = "logits_typo" };
        using var session = ClassifierSessions.Create(ClassifierModelFixture.ModelPath, 1);
        var e = Assert.Throws<MaskClassifierModelException>(() => new MaskClassifier(session, wrong, shouldDispose: false));
        Assert.Contains("logits_typo", e.Message);
    }

    [Fact]
    public void ReadContract_ShippedModel_MatchesTheCrop()
    {
        var c = fixture.Classifier.Contract;
        Assert.Equal("input", c.InputName);
        Assert.Equal("probabilities", c.OutputName);
        Assert.Equal(ColorOrder.Rgb, c.ColorOrder);
        Assert.Equal(0, c.MaskIndex);
    }
}
