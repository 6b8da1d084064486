using EdgeMask.Core.Detection;
using EdgeMask.Core.Geometry;

namespace EdgeMask.Core.Tests.Detection;

public class NonMaximumSuppressionTests
{
    private static FaceDetection Face(float x1, float y1, float x2, float y2, float score) => new(new BoxF(x1, y1, x2, y2), score, default);

    [Fact]
    public void ApplyInPlace_OverlapAboveThreshold_KeepsHigherScore()
    {
        var list = new List<FaceDetection> { Face(0, 0, 10, 10, 0.9f), Face(1, 0, 11, 10, 0.8f), Face(50, 50, 60, 60, 0.7f) };
        NonMaximumSuppression.ApplyInPlace(list, 0.4f);
        Assert.Equal([0.9f, 0.7f], list.Select(f => f.Score));
    }

    [Fact]
    public void ApplyInPlace_OverlapExactlyAtThreshold_KeepsBoth()
    {
        // IoU of [0,10]×[0,10] and [5,15]×[0,10] is 50/150 = 1/3.
        var list = new List<FaceDetection> { Face(0, 0, 10, 10, 0.9f), Face(5, 0, 15, 10, 0.8f) };
        NonMaximumSuppression.ApplyInPlace(list, 1f / 3f);
        Assert.Equal(2, list.Count);
    }

    [Fact]
    public void ApplyInPlace_SuppressedBoxDoesNotSuppressOthers()
    {
        // B overlaps A and C; A suppresses B, so C (which overlaps only B) survives: greedy NMS, not clustering.
        var list = new List<FaceDetection> { Face(0, 0, 10, 10, 0.9f), Face(4, 0, 14, 10, 0.8f), Face(8, 0, 18, 10, 0.7f) };
        NonMaximumSuppression.ApplyInPlace(list, 0.4f);
        Assert.Equal([0.9f, 0.7f], list.Select(f => f.Score));
    }

    [Fact]
    public void ApplyInPlace_Empty_StaysEmpty()
    {
        var list = new List<FaceDetection>();
        NonMaximumSuppression.ApplyInPlace(list, 0.4f);
        Assert.Empty(list);
    }
}
