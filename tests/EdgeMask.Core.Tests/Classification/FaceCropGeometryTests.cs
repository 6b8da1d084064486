using EdgeMask.Core.Classification;
using EdgeMask.Core.Geometry;

namespace EdgeMask.Core.Tests.Classification;

public sealed class FaceCropGeometryTests
{
    [Fact]
    public void SquareRegion_TallBox_SquareOfLongerSideTimesExpansionAboutCentre()
    {
        var r = FaceCropGeometry.SquareRegion(new BoxF(10, 20, 30, 60), 1.5f);
        Assert.Equal(new BoxF(-10, 10, 50, 70), r);
    }

    [Fact]
    public void SquareRegion_EmptyBox_Throws()
    {
        Assert.Throws<ArgumentException>(() => FaceCropGeometry.SquareRegion(new BoxF(5, 5, 5, 9), 1.2f));
    }

    [Fact]
    public void Plan_RegionInsideImage_NoPaddingAndExactSource()
    {
        var plan = FaceCropGeometry.Plan(new BoxF(10, 20, 74, 84), 200, 100, 32);
        Assert.Equal(new CropPlan(10, 20, 64, 64, 0, 0, 0, 0, 32), plan);
        Assert.False(plan.NeedsPadding);
        Assert.Equal(0.5f, plan.Scale);
    }

    [Fact]
    public void Plan_RegionPastLeftAndTopEdge_PadsProportionally()
    {
        // 40 px square starting 10 px left of and 20 px above the image: a quarter / half of the output is padding.
        var plan = FaceCropGeometry.Plan(new BoxF(-10, -20, 30, 20), 100, 100, 64);
        Assert.Equal(0, plan.SourceX);
        Assert.Equal(0, plan.SourceY);
        Assert.Equal(30, plan.SourceWidth);
        Assert.Equal(20, plan.SourceHeight);
        Assert.Equal(16, plan.PadLeft);
        Assert.Equal(32, plan.PadTop);
        Assert.Equal(0, plan.PadRight);
        Assert.Equal(0, plan.PadBottom);
        Assert.Equal(48, plan.DestinationWidth);
    }

    [Fact]
    public void Plan_WholeImageOfWideCrop_PadsTopAndBottomEqually()
    {
        var plan = FaceCropGeometry.Plan(FaceCropGeometry.WholeImageRegion(100, 50), 100, 50, 64);
        Assert.Equal(new CropPlan(0, 0, 100, 50, 0, 16, 0, 16, 64), plan);
    }

    [Fact]
    public void Plan_RegionOutsideImage_Throws()
    {
        Assert.Throws<ArgumentException>(() => FaceCropGeometry.Plan(new BoxF(200, 200, 240, 240), 100, 100, 64));
    }

    [Fact]
    public void Plan_SliverInsideImage_KeepsAtLeastOnePixel()
    {
        var plan = FaceCropGeometry.Plan(new BoxF(-98.6f, 0, 1.4f, 100), 50, 100, 16);
        Assert.True(plan.DestinationWidth >= 1);
        Assert.Equal(16, plan.PadLeft + plan.DestinationWidth + plan.PadRight);
    }
}
