using EdgeMask.Core.Detection;
using EdgeMask.Core.Geometry;

namespace EdgeMask.Core.Tests.Detection;

public class GeometryTests
{
    [Fact]
    public void IoU_HalfOverlap_IsOneThird() => Assert.Equal(1f / 3f, new BoxF(0, 0, 10, 10).IoU(new BoxF(5, 0, 15, 10)), 5);

    [Fact]
    public void IoU_Disjoint_IsZero() => Assert.Equal(0f, new BoxF(0, 0, 10, 10).IoU(new BoxF(10, 10, 20, 20)));

    [Fact]
    public void IoU_EmptyBox_IsZero() => Assert.Equal(0f, new BoxF(0, 0, 0, 0).IoU(new BoxF(0, 0, 0, 0)));

    [Fact]
    public void ClipTo_OutsideCorners_ClampedToImage() =>
        Assert.Equal(new BoxF(0, 0, 100, 50), new BoxF(-5, -3, 120, 60).ClipTo(100, 50));

    [Fact]
    public void Landmarks_FlipHorizontal_SwapsLeftAndRight()
    {
        var lm = new Landmarks5(new(10, 20), new(30, 20), new(20, 30), new(12, 40), new(28, 40));
        var flipped = lm.FlipHorizontal(100);
        Assert.Equal(new PointF2(70, 20), flipped.LeftEye);
        Assert.Equal(new PointF2(90, 20), flipped.RightEye);
        Assert.Equal(new PointF2(72, 40), flipped.LeftMouth);
        Assert.Equal(new PointF2(80, 30), flipped.Nose);
    }

    [Theory]
    [InlineData(512, 366, 1f, 512, 366)]
    [InlineData(512, 366, 2f, 1024, 732)]
    [InlineData(960, 540, 0.5f, 480, 270)]
    public void InputGeometry_Scale_InputSizeAndFactor(int w, int h, float scale, int inW, int inH)
    {
        var g = InputGeometry.For(w, h, new InputSizing { Scale = scale });
        Assert.Equal((inW, inH), (g.InputWidth, g.InputHeight));
        Assert.Equal(scale, g.Scale, 3);
    }

    [Fact]
    public void InputGeometry_TargetLongSide_OverridesScale()
    {
        var g = InputGeometry.For(8000, 4000, new InputSizing { Scale = 2f, TargetLongSide = 1920 });
        Assert.Equal((1920, 960), (g.InputWidth, g.InputHeight));
        Assert.Equal(0.24f, g.Scale, 4);
    }

    [Fact]
    public void InputGeometry_BorderPad_FramesTheResizedImageOnEverySide()
    {
        var g = InputGeometry.For(400, 225, new InputSizing { TargetLongSide = 960, BorderPad = 32 });
        Assert.Equal((960, 540), (g.ResizedWidth, g.ResizedHeight));
        Assert.Equal((1024, 604, 32), (g.InputWidth, g.InputHeight, g.Pad));
        Assert.Equal(2.4f, g.Scale, 4);
    }

    [Fact]
    public void InputGeometry_Default_HasNoBorder()
    {
        var g = InputGeometry.For(960, 540, new InputSizing());
        Assert.Equal((960, 540, 0), (g.InputWidth, g.InputHeight, g.Pad));
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(257)]
    public void InputSizing_Validate_RejectsBorderPadOutOfRange(int pad) =>
        Assert.Contains("borderPad", Assert.Throws<ArgumentException>(() => new InputSizing { BorderPad = pad }.Validate()).Message);

    [Fact]
    public void InputSizing_Validate_RejectsZeroScale() =>
        Assert.Throws<ArgumentException>(new InputSizing { Scale = 0 }.Validate);
}
