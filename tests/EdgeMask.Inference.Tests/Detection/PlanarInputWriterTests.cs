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

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public unsafe void Write_IntoAWindow_PlacesTheImageAtItsOffsetAndLeavesTheBorderAlone(bool vectorize)
    {
        using var image = new Mat(3, 20, MatType.CV_8UC3, new Scalar(10, 20, 30));
        image.Set(2, 19, new Vec3b(200, 100, 50));
        const int planeWidth = 26, planeHeight = 7, left = 4, top = 2;
        var planes = new float[3 * planeWidth * planeHeight];
        Array.Fill(planes, -7f);
        PlanarInputWriter.Write((byte*)image.DataPointer, image.Step(), 20, 3, planes, planeWidth, planeHeight, left, top, 1, 2, 3, vectorize);
        int plane = planeWidth * planeHeight;
        for (int y = 0; y < planeHeight; y++)
            for (int x = 0; x < planeWidth; x++)
            {
                bool inside = x >= left && x < left + 20 && y >= top && y < top + 3;
                int at = y * planeWidth + x;
                if (!inside) Assert.Equal((-7f, -7f, -7f), (planes[at], planes[plane + at], planes[2 * plane + at]));
                else if (x == left + 19 && y == top + 2) Assert.Equal((199f, 98f, 47f), (planes[at], planes[plane + at], planes[2 * plane + at]));
                else Assert.Equal((9f, 18f, 27f), (planes[at], planes[plane + at], planes[2 * plane + at]));
            }
    }

    [Fact]
    public unsafe void Write_WindowOutsideThePlanes_Throws()
    {
        using var image = new Mat(3, 20, MatType.CV_8UC3, Scalar.All(0));
        var planes = new float[3 * 24 * 5];
        var ex = Assert.Throws<ArgumentException>(() =>
            PlanarInputWriter.Write((byte*)image.DataPointer, image.Step(), 20, 3, planes, 24, 5, 5, 0, 1, 2, 3));
        Assert.Contains("does not fit", ex.Message);
    }

    [Fact]
    public void IsVectorized_OnX64OrArm64_True()
    {
        // The CI machine (x64) and the Jetson (ARM64) both take the vector path; only exotic CPUs fall back.
        Assert.True(PlanarInputWriter.IsVectorized);
    }
}
