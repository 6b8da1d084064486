using EdgeMask.Core.Detection;
using EdgeMask.Core.Geometry;

namespace EdgeMask.Core.Tests.Detection;

public class RetinaFaceDecoderTests
{
    private static readonly DetectionThresholds Thresholds = new() { ScoreThreshold = 0.5f, NmsIoU = 0.4f };

    /// <summary>Two priors with hand-chosen outputs; all others background.</summary>
    private static (float[] loc, float[] conf, float[] lm, float[] priors) Outputs(int priorCount)
    {
        var priors = new float[priorCount * 4];
        for (int i = 0; i < priorCount; i++)
        {
            priors[i * 4] = 0.5f; priors[i * 4 + 1] = 0.5f; priors[i * 4 + 2] = 0.25f; priors[i * 4 + 3] = 0.5f;
        }
        var conf = new float[priorCount * 2];
        for (int i = 0; i < priorCount; i++) { conf[i * 2] = 0.99f; conf[i * 2 + 1] = 0.01f; }
        return (new float[priorCount * 4], conf, new float[priorCount * 10], priors);
    }

    [Fact]
    public void Decode_ZeroRegression_BoxIsThePriorInPixels()
    {
        var (loc, conf, lm, priors) = Outputs(3);
        conf[1 * 2 + 1] = 0.9f;
        var output = new List<FaceDetection>();
        var input = new InputGeometry(200, 100, 200, 100, 1f);
        RetinaFaceDecoder.Decode(loc, conf, lm, priors, 0.1f, 0.2f, input, Thresholds, output);
        var face = Assert.Single(output);
        // Prior (0.5, 0.5, 0.25, 0.5) on 200×100: centre (100, 50), size 50×50.
        Assert.Equal(new BoxF(75, 25, 125, 75), face.Box);
        Assert.Equal(0.9f, face.Score);
        Assert.Equal(new PointF2(100, 50), face.Landmarks.Nose);
    }

    [Fact]
    public void Decode_Regression_FollowsReferenceFormulas()
    {
        var (loc, conf, lm, priors) = Outputs(1);
        conf[1] = 0.8f;
        loc[0] = 1f; loc[1] = -1f; loc[2] = MathF.Log(2f) / 0.2f; loc[3] = 0f;
        lm[0] = 2f; lm[1] = 3f;
        var output = new List<FaceDetection>();
        RetinaFaceDecoder.Decode(loc, conf, lm, priors, 0.1f, 0.2f, new InputGeometry(100, 100, 100, 100, 1f), Thresholds, output);
        var box = Assert.Single(output).Box;
        // cx = 0.5 + 1·0.1·0.25 = 0.525; cy = 0.5 − 0.1·0.5 = 0.45; w = 0.25·2 = 0.5; h = 0.5.
        Assert.Equal(27.5f, box.X1, 3); Assert.Equal(77.5f, box.X2, 3);
        Assert.Equal(20f, box.Y1, 3); Assert.Equal(70f, box.Y2, 3);
        var eye = output[0].Landmarks.LeftEye;
        Assert.Equal((0.5f + 2f * 0.1f * 0.25f) * 100, eye.X, 3);
        Assert.Equal((0.5f + 3f * 0.1f * 0.5f) * 100, eye.Y, 3);
    }

    [Fact]
    public void Decode_ScaledInput_MapsBackToOriginalPixels()
    {
        var (loc, conf, lm, priors) = Outputs(1);
        conf[1] = 0.9f;
        var output = new List<FaceDetection>();
        // The network saw a 2× image: 400×200 input for a 200×100 original.
        RetinaFaceDecoder.Decode(loc, conf, lm, priors, 0.1f, 0.2f, new InputGeometry(200, 100, 400, 200, 2f), Thresholds, output);
        Assert.Equal(new BoxF(75, 25, 125, 75), output[0].Box);
    }

    [Fact]
    public void Decode_FramedInput_SubtractsTheBorderThenMapsBackExactly()
    {
        var (loc, conf, lm, priors) = Outputs(1);
        conf[1] = 0.9f;
        var output = new List<FaceDetection>();
        // A 200×100 original at ×2 (400×200) framed by 32 px on each side: a 464×264 tensor. The prior's centre
        // (0.5, 0.5) is tensor pixel (232, 132), image pixel (200, 100) at ×2, original (100, 50).
        RetinaFaceDecoder.Decode(loc, conf, lm, priors, 0.1f, 0.2f, new InputGeometry(200, 100, 464, 264, 2f, 32), Thresholds, output);
        var face = Assert.Single(output);
        // Size 0.25·464 × 0.5·264 = 116×132 tensor pixels = 58×66 original pixels about (100, 50).
        Assert.Equal(new BoxF(71, 17, 129, 83), face.Box);
        Assert.Equal(new PointF2(100, 50), face.Landmarks.Nose);
    }

    [Fact]
    public void Decode_BoxWhollyInTheBorder_IsDropped()
    {
        var (loc, conf, lm, priors) = Outputs(2);
        conf[1] = 0.9f; conf[3] = 0.8f;
        // Prior 0: a 16 px box centred 10 px into the 32 px border (tensor 264×164 for a 200×100 image at ×1).
        priors[0] = 10f / 264; priors[1] = 0.5f; priors[2] = 16f / 264; priors[3] = 16f / 164;
        var output = new List<FaceDetection>();
        RetinaFaceDecoder.Decode(loc, conf, lm, priors, 0.1f, 0.2f, new InputGeometry(200, 100, 264, 164, 1f, 32), Thresholds, output);
        var face = Assert.Single(output);
        Assert.Equal(0.8f, face.Score);
    }

    [Fact]
    public void Decode_BoxOutsideImage_IsClipped()
    {
        var (loc, conf, lm, priors) = Outputs(1);
        conf[1] = 0.9f;
        priors[0] = 0.05f; // centre near the left edge: x1 would be negative.
        lm[0] = -5f;
        var output = new List<FaceDetection>();
        RetinaFaceDecoder.Decode(loc, conf, lm, priors, 0.1f, 0.2f, new InputGeometry(200, 100, 200, 100, 1f), Thresholds, output);
        Assert.Equal(0f, output[0].Box.X1);
        Assert.Equal(0f, output[0].Landmarks.LeftEye.X);
    }

    [Fact]
    public void Decode_ScoreAtThreshold_IsDropped()
    {
        var (loc, conf, lm, priors) = Outputs(2);
        conf[1] = 0.5f;
        conf[3] = 0.5001f;
        var output = new List<FaceDetection>();
        RetinaFaceDecoder.Decode(loc, conf, lm, priors, 0.1f, 0.2f, new InputGeometry(10, 10, 10, 10, 1f), Thresholds with { NmsIoU = 1f }, output);
        Assert.Equal(0.5001f, Assert.Single(output).Score);
    }

    [Fact]
    public void Decode_OutputsShorterThanPriors_Throws()
    {
        var (loc, conf, lm, priors) = Outputs(2);
        Assert.Throws<ArgumentException>(() => RetinaFaceDecoder.Decode(loc.AsSpan(0, 4), conf, lm, priors, 0.1f, 0.2f,
            new InputGeometry(10, 10, 10, 10, 1f), Thresholds, new List<FaceDetection>()));
    }
}
