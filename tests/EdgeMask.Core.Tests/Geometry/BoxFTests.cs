using EdgeMask.Core.Geometry;

namespace EdgeMask.Core.Tests.Geometry;

public class BoxFTests
{
    [Fact]
    public void IntersectionArea_OverlappingAndDisjointBoxes_AreaOrZero()
    {
        var a = new BoxF(0, 0, 10, 10);

        Assert.Equal(25f, a.IntersectionArea(new BoxF(5, 5, 15, 15)));
        Assert.Equal(0f, a.IntersectionArea(new BoxF(10, 0, 20, 10)));
        Assert.Equal(0f, a.IntersectionArea(new BoxF(20, 20, 30, 30)));
    }

    [Fact]
    public void UnionArea_OverlappingBoxes_CountsSharedAreaOnce()
    {
        // Two 10×10 squares sharing a 5×5 corner, and a third inside the first.
        BoxF[] boxes = [new(0, 0, 10, 10), new(5, 5, 15, 15), new(2, 2, 4, 4)];

        Assert.Equal(175f, BoxF.UnionArea(boxes));
    }

    [Fact]
    public void UnionArea_BoxesWithAGapInOneSlab_AddsOnlyCoveredSpans()
    {
        // Same columns, a 10 px gap between them vertically, and a bar bridging the gap on the right half.
        BoxF[] boxes = [new(0, 0, 10, 10), new(0, 20, 10, 30), new(5, 5, 10, 25)];

        Assert.Equal(200f + 50f, BoxF.UnionArea(boxes));
    }

    [Fact]
    public void UnionArea_NoBoxesOrEmptyBoxes_Zero()
    {
        Assert.Equal(0f, BoxF.UnionArea([]));
        Assert.Equal(0f, BoxF.UnionArea([new BoxF(3, 3, 3, 9)]));
    }

    [Fact]
    public void UnionArea_MoreBoxesThanTheStackScratchHolds_Throws() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => BoxF.UnionArea(new BoxF[BoxF.MaxUnionBoxes + 1]));
}
