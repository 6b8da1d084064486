using System.Collections.Immutable;
using EdgeMask.Core.Classification;
using EdgeMask.Inference.Classification;
using OpenCvSharp;

namespace EdgeMask.Inference.Tests.Classification;

public sealed class FaceCropperTests
{
    private static readonly ClassifierContract Contract = new(
        "input", 4, ColorOrder.Rgb, ImmutableArray.Create(10f, 20f, 30f), ImmutableArray.Create(2f, 4f, 5f), 1.2f,
        "probabilities", ImmutableArray.Create("mask", "no_mask"));

    [Fact]
    public void Cut_RegionPastLeftEdge_ReplicatesTheEdgeColumn()
    {
        using var image = new Mat(8, 8, MatType.CV_8UC3, new Scalar(0, 0, 0));
        // Column 0 blue, the rest black: replicated padding must extend the blue column to the left.
        using (var column = image.ColRange(0, 1)) column.SetTo(new Scalar(255, 0, 0));
        var plan = FaceCropGeometry.Plan(new Core.Geometry.BoxF(-4, 0, 4, 8), 8, 8, 8);
        Assert.Equal(4, plan.PadLeft);
        using var crop = new Mat(8, 8, MatType.CV_8UC3);
        FaceCropper.Cut(image, plan, crop);
        for (int x = 0; x <= 4; x++) Assert.Equal(255, crop.At<Vec3b>(3, x).Item0);
        Assert.Equal(0, crop.At<Vec3b>(3, 6).Item0);
    }

    [Fact]
    public void WriteNormalized_BgrPixel_PlanesInContractOrderMinusMeanOverStd()
    {
        using var crop = new Mat(4, 4, MatType.CV_8UC3, new Scalar(50, 100, 150)); // B, G, R
        var target = new float[3 * 16];
        FaceCropper.WriteNormalized(crop, Contract, target);
        Assert.Equal((150 - 10) / 2f, target[0], 1e-4f);   // R plane first (RGB contract)
        Assert.Equal((100 - 20) / 4f, target[16], 1e-4f);  // G
        Assert.Equal((50 - 30) / 5f, target[32], 1e-4f);   // B
    }

    [Fact]
    public void Cut_PlanThatDoesNotFitTheImage_Throws()
    {
        using var image = new Mat(8, 8, MatType.CV_8UC3);
        using var crop = new Mat(4, 4, MatType.CV_8UC3);
        var plan = new CropPlan(4, 4, 8, 8, 0, 0, 0, 0, 4);
        Assert.Throws<ArgumentException>(() => FaceCropper.Cut(image, plan, crop));
    }
}
