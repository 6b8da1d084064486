using EdgeMask.Inference.Detection;
using OpenCvSharp;

namespace EdgeMask.Inference.Tests.Detection;

public sealed class PlanarInputWriterTests
{
    [Theory]
    [InlineData(640, 480)]
    [InlineData(37, 5)]     // a row tail after two 16-pixel blocks
    [InlineData(15, 3)]     // narrower than one block: scalar only
    public unsafe void Write_VectorAndScalarPaths_GiveTheSamePlanes(int width, int height)
    {
        using var image = new Mat(height, width, MatType.CV_8UC3);
        Cv2.Randu(image, new Scalar(0, 0, 0), new Scalar(256, 256, 256));
        var vector = new float[3 * width * height];
        var scalar = new float[vector.Length];
        PlanarInputWriter.Write((byte*)image.DataPointer, image.Step(), width, height, vector, 104, 117, 123);
        PlanarInputWriter.Write((byte*)image.DataPointer, image.Step(), width, height, scalar, 104, 117, 123, vectorize: false);
        Assert.Equal(scalar, vector);
    }

    [Fact]
    public unsafe void Write_RegionOfALargerImage_ReadsRowsByStepAndSubtractsEachMean()
    {
        using var big = new Mat(20, 50, MatType.CV_8UC3, new Scalar(0, 0, 0));
        using var region = new Mat(big, new Rect(3, 2, 33, 4));
        region.SetTo(new Scalar(10, 20, 30));
        region.Set(1, 17, new Vec3b(200, 100, 50));
        var planes = new float[3 * 33 * 4];
        PlanarInputWriter.Write((byte*)region.DataPointer, region.Step(), 33, 4, planes, 1, 2, 3);
        int plane = 33 * 4, at = 1 * 33 + 17;
        Assert.Equal((9f, 18f, 27f), (planes[0], planes[plane], planes[2 * plane]));
        Assert.Equal((199f, 98f, 47f), (planes[at], planes[plane + at], planes[2 * plane + at]));
        Assert.Equal(27f, planes[^1]);
    }

    [Fact]
    public void IsVectorized_OnX64OrArm64_True()
    {
        // The CI machine (x64) and the Jetson (ARM64) both take the vector path; only exotic CPUs fall back.
        Assert.True(PlanarInputWriter.IsVectorized);
    }
}
