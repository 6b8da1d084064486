using EdgeMask.Core.Classification;
using EdgeMask.Inference.Classification;
using OpenCvSharp;

namespace EdgeMask.Inference.Tests.Classification;

/// <summary>Our crop resampler against OpenCV's <c>cv::resize</c>, which the first classifier was trained with.</summary>
public sealed class CropResamplerTests
{
    [Theory]
    [InlineData(97, 97, 48)]    // shrink by a non-integer factor (area)
    [InlineData(96, 96, 48)]    // shrink by exactly 2 (area fast path in OpenCV)
    [InlineData(300, 300, 64)]
    [InlineData(20, 20, 48)]    // enlarge a small face (bilinear)
    [InlineData(31, 31, 64)]
    public void Resample_NoisyImage_MatchesOpenCvResizeWithinOneLevel(int srcW, int srcH, int size)
    {
        using var image = new Mat(srcH + 10, srcW + 14, MatType.CV_8UC3);
        Cv2.Randu(image, new Scalar(0, 0, 0), new Scalar(256, 256, 256));
        var plan = new CropPlan(7, 5, srcW, srcH, 0, 0, 0, 0, size);
        using var ours = new Mat(size, size, MatType.CV_8UC3);
        FaceCropper.Cut(image, plan, ours);

        using var roi = new Mat(image, new Rect(7, 5, srcW, srcH));
        using var reference = new Mat();
        Cv2.Resize(roi, reference, new Size(size, size), 0, 0, size < srcW ? InterpolationFlags.Area : InterpolationFlags.Linear);
        using var diff = new Mat();
        Cv2.Absdiff(ours, reference, diff);
        Cv2.MinMaxLoc(diff.Reshape(1), out _, out double max);
        // OpenCV computes in fixed point (11-bit weights for linear); we compute in float and round once.
        Assert.True(max <= 1, $"largest difference {max}");
    }

    [Fact]
    public void Resample_UniformImage_StaysUniform()
    {
        using var image = new Mat(50, 70, MatType.CV_8UC3, new Scalar(10, 128, 250));
        using var crop = new Mat(48, 48, MatType.CV_8UC3);
        FaceCropper.Cut(image, new CropPlan(3, 2, 61, 45, 0, 1, 0, 2, 48), crop);
        for (int y = 0; y < 48; y++)
            for (int x = 0; x < 48; x++)
                Assert.Equal(new Vec3b(10, 128, 250), crop.At<Vec3b>(y, x));
    }

    [Theory]
    [InlineData(100, 48)]
    [InlineData(48, 48)]
    [InlineData(17, 48)]
    public void BuildTaps_EveryDestinationPixel_WeightsSumToOne(int source, int destination)
    {
        var index = new int[CropResampler.MaxTaps(source, destination)];
        var weight = new float[index.Length];
        var start = new int[destination + 1];
        int used = CropResampler.BuildTaps(source, destination, index, weight, start);
        Assert.Equal(used, start[destination]);
        for (int d = 0; d < destination; d++)
        {
            float sum = 0;
            for (int t = start[d]; t < start[d + 1]; t++)
            {
                Assert.InRange(index[t], 0, source - 1);
                sum += weight[t];
            }
            Assert.Equal(1f, sum, 1e-4f);
        }
    }

    [Fact]
    public void Cut_SteadyState_AllocatesNothing()
    {
        using var image = new Mat(540, 960, MatType.CV_8UC3);
        Cv2.Randu(image, new Scalar(0, 0, 0), new Scalar(256, 256, 256));
        using var crop = new Mat(48, 48, MatType.CV_8UC3);
        var shrink = FaceCropGeometry.Plan(new Core.Geometry.BoxF(100, 100, 220, 220), 960, 540, 48);
        var padded = FaceCropGeometry.Plan(new Core.Geometry.BoxF(-10, 500, 20, 560), 960, 540, 48);
        FaceCropper.Cut(image, shrink, crop);
        FaceCropper.Cut(image, padded, crop);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 50; i++)
        {
            FaceCropper.Cut(image, shrink, crop);
            FaceCropper.Cut(image, padded, crop);
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
