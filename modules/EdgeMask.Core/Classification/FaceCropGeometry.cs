using EdgeMask.Core.Geometry;

namespace EdgeMask.Core.Classification;

/// <summary>
/// Integer plan for cutting one classifier crop out of an image: copy <see cref="Source"/> (inside the image),
/// resize it to <see cref="DestinationWidth"/> × <see cref="DestinationHeight"/>, then pad by replicating the
/// border (<see cref="PadLeft"/>, <see cref="PadTop"/>, …) up to <see cref="OutputSize"/> square.
/// Training (VOC boxes, labelled crops) and run time (RetinaFace boxes) both execute this plan, so a face is
/// cut the same way in both places.
/// </summary>
public readonly record struct CropPlan(
    int SourceX, int SourceY, int SourceWidth, int SourceHeight,
    int PadLeft, int PadTop, int PadRight, int PadBottom,
    int OutputSize)
{
    public int DestinationWidth => OutputSize - PadLeft - PadRight;
    public int DestinationHeight => OutputSize - PadTop - PadBottom;
    public bool NeedsPadding => (PadLeft | PadTop | PadRight | PadBottom) != 0;
    /// <summary>Output pixels per source pixel; &lt; 1 means the crop is shrunk (use area interpolation).</summary>
    public float Scale => (float)DestinationWidth / SourceWidth;
}

/// <summary>
/// How a face box becomes the classifier's square input crop. Pure geometry: the pixel work is done by
/// <c>EdgeMask.Inference.Classification.FaceCropper</c> with OpenCV.
/// </summary>
/// <remarks>
/// Landmarks are deliberately not used for alignment: the VOC training photos only carry boxes, so a crop that
/// used landmarks at run time would differ from every crop the classifier was trained on. The crop is the box's
/// longer side times the expansion factor, square, centred on the box; parts outside the image are filled by
/// replicating the image border (which keeps faces at the frame edge from gaining a hard black bar).
/// </remarks>
public static class FaceCropGeometry
{
    /// <summary>The square region (in source pixels, may extend past the image) a detector box is cut to.</summary>
    public static BoxF SquareRegion(BoxF box, float expansion)
    {
        if (!(expansion > 0) || float.IsInfinity(expansion))
            throw new ArgumentOutOfRangeException(nameof(expansion), expansion, "The crop expansion must be a positive number.");
        if (!(box.Width > 0) || !(box.Height > 0))
            throw new ArgumentException($"The face box {box} is empty; a crop needs a positive width and height.", nameof(box));
        float side = MathF.Max(box.Width, box.Height) * expansion;
        return BoxF.FromCenter(box.CenterX, box.CenterY, side, side);
    }

    /// <summary>
    /// The square region for an image that is already one face crop (the <c>classify</c> command, labelled crop
    /// folders): the whole image, padded on its shorter side to a square. No expansion, because such images are
    /// framed by whoever cut them.
    /// </summary>
    public static BoxF WholeImageRegion(int width, int height)
    {
        if (width <= 0 || height <= 0)
            throw new ArgumentOutOfRangeException(nameof(width), $"An image of {width}×{height} pixels has no area.");
        return SquareRegion(new BoxF(0, 0, width, height), 1f);
    }

    /// <summary>The integer crop plan for a square <paramref name="region"/> of an image, output <paramref name="outputSize"/> px.</summary>
    /// <exception cref="ArgumentException">The region does not overlap the image at all.</exception>
    public static CropPlan Plan(BoxF region, int imageWidth, int imageHeight, int outputSize)
    {
        if (imageWidth <= 0 || imageHeight <= 0)
            throw new ArgumentOutOfRangeException(nameof(imageWidth), $"An image of {imageWidth}×{imageHeight} pixels has no area.");
        if (outputSize <= 0)
            throw new ArgumentOutOfRangeException(nameof(outputSize), outputSize, "The crop size must be positive.");
        // Snap the square to whole pixels first so source rectangle and padding are computed from the same numbers.
        int side = Math.Max(1, (int)MathF.Round(MathF.Max(region.Width, region.Height)));
        int rx = (int)MathF.Round(region.CenterX - side * 0.5f);
        int ry = (int)MathF.Round(region.CenterY - side * 0.5f);
        int sx1 = Math.Max(rx, 0), sy1 = Math.Max(ry, 0);
        int sx2 = Math.Min(rx + side, imageWidth), sy2 = Math.Min(ry + side, imageHeight);
        if (sx2 <= sx1 || sy2 <= sy1)
            throw new ArgumentException(
                $"The crop region {region} lies outside the {imageWidth}×{imageHeight} image; nothing to classify.", nameof(region));

        float scale = (float)outputSize / side;
        int padLeft = (int)MathF.Round((sx1 - rx) * scale);
        int padTop = (int)MathF.Round((sy1 - ry) * scale);
        int padRight = (int)MathF.Round((rx + side - sx2) * scale);
        int padBottom = (int)MathF.Round((ry + side - sy2) * scale);
        // Rounding can eat a sliver completely; keep at least one destination pixel of real image.
        (padLeft, padRight) = KeepOne(padLeft, padRight, outputSize);
        (padTop, padBottom) = KeepOne(padTop, padBottom, outputSize);
        return new CropPlan(sx1, sy1, sx2 - sx1, sy2 - sy1, padLeft, padTop, padRight, padBottom, outputSize);
    }

    /// <summary>Shorthand: the plan for a detector box.</summary>
    public static CropPlan PlanForBox(BoxF box, int imageWidth, int imageHeight, ClassifierContract contract) =>
        Plan(SquareRegion(box, contract.CropExpansion), imageWidth, imageHeight, contract.InputSize);

    /// <summary>Shorthand: the plan for an image that is one face crop.</summary>
    public static CropPlan PlanForWholeImage(int imageWidth, int imageHeight, ClassifierContract contract) =>
        Plan(WholeImageRegion(imageWidth, imageHeight), imageWidth, imageHeight, contract.InputSize);

    private static (int, int) KeepOne(int a, int b, int size)
    {
        while (a + b > size - 1)
        {
            if (a >= b) a--; else b--;
        }
        return (a, b);
    }
}
