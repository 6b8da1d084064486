namespace EdgeMask.Core.Geometry;

/// <summary>
/// RetinaFace's five facial landmarks, in the model's order: eye on the image's left, eye on the image's right,
/// nose tip, mouth corner on the image's left, mouth corner on the image's right. "Left" is the image's left,
/// not the person's, which is why a horizontal flip must swap 0↔1 and 3↔4.
/// </summary>
public readonly record struct Landmarks5(PointF2 LeftEye, PointF2 RightEye, PointF2 Nose, PointF2 LeftMouth, PointF2 RightMouth)
{
    public const int Count = 5;

    public PointF2 this[int index] => index switch
    {
        0 => LeftEye,
        1 => RightEye,
        2 => Nose,
        3 => LeftMouth,
        4 => RightMouth,
        _ => throw new ArgumentOutOfRangeException(nameof(index), index, "A landmark index is 0..4."),
    };

    public Landmarks5 Scale(float factor) =>
        new(LeftEye.Scale(factor), RightEye.Scale(factor), Nose.Scale(factor), LeftMouth.Scale(factor), RightMouth.Scale(factor));

    public Landmarks5 ClipTo(float width, float height) =>
        new(LeftEye.ClipTo(width, height), RightEye.ClipTo(width, height), Nose.ClipTo(width, height),
            LeftMouth.ClipTo(width, height), RightMouth.ClipTo(width, height));

    /// <summary>The landmarks mirrored about x = <paramref name="width"/>/2, with left and right swapped.</summary>
    public Landmarks5 FlipHorizontal(float width) =>
        new(new(width - RightEye.X, RightEye.Y), new(width - LeftEye.X, LeftEye.Y), new(width - Nose.X, Nose.Y),
            new(width - RightMouth.X, RightMouth.Y), new(width - LeftMouth.X, LeftMouth.Y));
}
