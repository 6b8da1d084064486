using EdgeMask.Core.Geometry;
using OpenCvSharp;

namespace EdgeMask.Training.Detection;

/// <summary>How training crops are drawn.</summary>
internal sealed record AugmentOptions
{
    /// <summary>Network input side (square crops).</summary>
    public int Size { get; init; } = 640;
    /// <summary>
    /// Range of the resize factor from photo pixels to input pixels, drawn log-uniformly. Below 1 the photo is shrunk
    /// (zoom-out: faces get smaller, the rest of the square is mean-coloured padding); above 1 it is enlarged (zoom-in).
    /// The default spans the sizes the detector meets: the photo as it is (<c>--scale 1</c>) and enlarged 2×.
    /// </summary>
    public float MinScale { get; init; } = 0.6f;
    public float MaxScale { get; init; } = 2.6f;
    /// <summary>Crop draws before falling back to the whole photo (which cuts no face).</summary>
    public int CropAttempts { get; init; } = 30;
    public bool Flip { get; init; } = true;
    public bool Photometric { get; init; } = true;
    /// <summary>
    /// A face the crop cuts is kept, its box clipped to the crop, when at least this fraction of it stays inside;
    /// a crop that cuts a face below it is drawn again. 1: no face is ever cut. Photos cut faces at their borders
    /// and annotators clip those boxes, so a detector that never saw a cut face misses them (the bare faces at x = 1
    /// in voc853 dev).
    /// </summary>
    public float MinVisible { get; init; } = 1f;
    /// <summary>
    /// With <see cref="MinVisible"/> &lt; 1: only faces whose short side in the network input is at most this many pixels
    /// may be cut (a crop that cuts a larger one is drawn again); null: any. A large cut face leaves a large box of
    /// featureless skin, hair or mask at the crop's edge as a face, which teaches the coarse anchors to fire on walls and
    /// sky; the faces photos cut at their borders are small.
    /// </summary>
    public float? MaxCutSide { get; init; }

    public AugmentOptions Validate()
    {
        if (Size < 32) throw new ArgumentOutOfRangeException(nameof(Size), Size, "--image-size must be at least 32.");
        if (!(MinScale > 0) || !(MaxScale >= MinScale))
            throw new ArgumentException($"Scale jitter needs 0 < min ({MinScale}) ≤ max ({MaxScale}).");
        if (CropAttempts < 1) throw new ArgumentOutOfRangeException(nameof(CropAttempts), CropAttempts, "At least one crop attempt.");
        if (!(MinVisible is > 0f and <= 1f)) throw new ArgumentOutOfRangeException(nameof(MinVisible), MinVisible, "--min-visible must be in (0, 1].");
        if (MaxCutSide is float m && !(m > 0f)) throw new ArgumentOutOfRangeException(nameof(MaxCutSide), MaxCutSide, "--max-cut-side must be a positive number of pixels.");
        return this;
    }
}

/// <summary>A square crop of a photo: top-left corner and side in photo pixels (may extend past the photo).</summary>
internal readonly record struct CropWindow(float X, float Y, float Side)
{
    public BoxF Box => new(X, Y, X + Side, Y + Side);
}

/// <summary>
/// RetinaFace training augmentation: photometric colour jitter, a random square crop at a random scale that never cuts a
/// face (every face is either wholly inside the crop and kept, or wholly outside; otherwise the crop is drawn again),
/// and a horizontal flip that mirrors the boxes and swaps the left/right landmarks. Padding outside the photo is the
/// model's mean colour, i.e. zero after mean subtraction.
/// </summary>
internal static class DetectionAugmenter
{
    /// <summary>The model's BGR mean (manifest): padding in this colour becomes zero input.</summary>
    public static Scalar PadColor(IReadOnlyList<float> meanBgr) => new(meanBgr[0], meanBgr[1], meanBgr[2]);

    /// <summary>Draws a crop window; returns it and the indices of the faces it keeps (wholly inside).</summary>
    public static (CropWindow Window, List<int> Kept) DrawCrop(int width, int height, IReadOnlyList<BoxF> faces, AugmentOptions o, Random rng)
    {
        for (int attempt = 0; attempt < o.CropAttempts; attempt++)
        {
            double logMin = Math.Log(o.MinScale), logMax = Math.Log(o.MaxScale);
            float scale = (float)Math.Exp(logMin + rng.NextDouble() * (logMax - logMin));
            float side = o.Size / scale;
            float x = Origin(width, side, rng), y = Origin(height, side, rng);
            var window = new CropWindow(x, y, side);
            float maxCut = o.MaxCutSide is float m ? m / scale : float.PositiveInfinity;
            if (TryKeep(window, faces, out var kept, o.MinVisible, maxCut) && (kept.Count > 0 || faces.Count == 0)) return (window, kept);
        }
        // The whole photo, centred in a square: cuts nothing and keeps every face.
        float whole = Math.Max(width, height);
        var fallback = new CropWindow((width - whole) / 2f, (height - whole) / 2f, whole);
        TryKeep(fallback, faces, out var all);
        return (fallback, all);
    }

    /// <summary>
    /// A face is kept when at least <paramref name="minVisible"/> of its area is inside the window (wholly inside with
    /// the default 1) and, when cut, its short side is at most <paramref name="maxCutSide"/> (photo pixels); the window
    /// is refused when it cuts any other face.
    /// </summary>
    public static bool TryKeep(CropWindow window, IReadOnlyList<BoxF> faces, out List<int> kept, float minVisible = 1f,
        float maxCutSide = float.PositiveInfinity)
    {
        kept = [];
        var w = window.Box;
        for (int i = 0; i < faces.Count; i++)
        {
            var f = faces[i];
            bool inside = f.X1 >= w.X1 && f.Y1 >= w.Y1 && f.X2 <= w.X2 && f.Y2 <= w.Y2;
            bool outside = f.X2 <= w.X1 || f.X1 >= w.X2 || f.Y2 <= w.Y1 || f.Y1 >= w.Y2;
            if (inside) kept.Add(i);
            else if (outside) continue;
            else if (minVisible < 1f && f.ShortSide <= maxCutSide && VisibleFraction(f, w) >= minVisible) kept.Add(i);
            else return false;
        }
        return true;
    }

    private static float VisibleFraction(BoxF face, BoxF window)
    {
        float iw = Math.Min(face.X2, window.X2) - Math.Max(face.X1, window.X1);
        float ih = Math.Min(face.Y2, window.Y2) - Math.Max(face.Y1, window.Y1);
        float area = face.Width * face.Height;
        return iw <= 0 || ih <= 0 || area <= 0 ? 0f : iw * ih / area;
    }

    private static float Origin(int extent, float side, Random rng) =>
        side <= extent
            ? (float)(rng.NextDouble() * (extent - side))
            : (float)(-rng.NextDouble() * (side - extent)); // photo placed somewhere inside a larger square

    /// <summary>
    /// Produces one training input: <paramref name="output"/> (Size × Size BGR) and the kept faces in its pixels.
    /// </summary>
    public static List<TrainingFace> Apply(Mat photo, IReadOnlyList<TrainingFace> faces, AugmentOptions o, Scalar pad, Random rng, Mat output)
    {
        var (window, kept) = DrawCrop(photo.Width, photo.Height, faces.Select(f => f.Box).ToList(), o, rng);
        using var coloured = o.Photometric ? ColourJitter(photo, rng) : photo.Clone();
        float scale = o.Size / window.Side;
        using var m = new Mat(2, 3, MatType.CV_64FC1);
        m.Set(0, 0, (double)scale); m.Set(0, 1, 0.0); m.Set(0, 2, (double)(-window.X * scale));
        m.Set(1, 0, 0.0); m.Set(1, 1, (double)scale); m.Set(1, 2, (double)(-window.Y * scale));
        Cv2.WarpAffine(coloured, output, m, new Size(o.Size, o.Size), InterpolationFlags.Linear, BorderTypes.Constant, pad);

        var result = new List<TrainingFace>(kept.Count);
        foreach (int i in kept)
        {
            var f = faces[i];
            var box = new BoxF((f.Box.X1 - window.X) * scale, (f.Box.Y1 - window.Y) * scale, (f.Box.X2 - window.X) * scale, (f.Box.Y2 - window.Y) * scale);
            // A cut face (MinVisible < 1) keeps the part inside the crop, as annotators clip a face at a photo's border;
            // its landmarks may lie outside, so it keeps none.
            var clipped = new BoxF(Math.Max(0f, box.X1), Math.Max(0f, box.Y1), Math.Min(o.Size, box.X2), Math.Min(o.Size, box.Y2));
            bool cut = clipped != box;
            box = clipped;
            Landmarks5? lm = !cut && f.Landmarks is Landmarks5 l ? Shift(l, window.X, window.Y, scale) : null;
            result.Add(new TrainingFace(box, lm, f.Weight));
        }
        if (o.Flip && rng.Next(2) == 1)
        {
            Cv2.Flip(output, output, FlipMode.Y);
            FlipFaces(result, o.Size);
        }
        return result;
    }

    /// <summary>Mirrors faces about the vertical centre line of an image <paramref name="width"/> wide; left/right landmarks swap.</summary>
    public static void FlipFaces(List<TrainingFace> faces, float width)
    {
        for (int i = 0; i < faces.Count; i++)
        {
            var f = faces[i];
            faces[i] = f with { Box = new BoxF(width - f.Box.X2, f.Box.Y1, width - f.Box.X1, f.Box.Y2), Landmarks = f.Landmarks?.FlipHorizontal(width) };
        }
    }

    private static Landmarks5 Shift(Landmarks5 l, float x0, float y0, float s)
    {
        PointF2 P(PointF2 p) => new((p.X - x0) * s, (p.Y - y0) * s);
        return new Landmarks5(P(l.LeftEye), P(l.RightEye), P(l.Nose), P(l.LeftMouth), P(l.RightMouth));
    }

    /// <summary>
    /// The reference's photometric distortion: brightness ±32, contrast ×[0.5, 1.5], saturation ×[0.5, 1.5] and hue ±18°,
    /// each with probability ½. Masks come in every colour, so colour must not be what the detector keys on.
    /// </summary>
    public static unsafe Mat ColourJitter(Mat photo, Random rng)
    {
        var result = photo.Clone();
        double alpha = rng.Next(2) == 1 ? 0.5 + rng.NextDouble() : 1.0;
        double beta = rng.Next(2) == 1 ? rng.NextDouble() * 64 - 32 : 0.0;
        if (alpha != 1.0 || beta != 0.0) result.ConvertTo(result, MatType.CV_8UC3, alpha, beta);
        bool saturate = rng.Next(2) == 1, hue = rng.Next(2) == 1;
        if (!saturate && !hue) return result;
        float satFactor = saturate ? (float)(0.5 + rng.NextDouble()) : 1f;
        int hueShift = hue ? rng.Next(-9, 10) : 0; // OpenCV's 8-bit hue is degrees / 2
        using var hsv = new Mat();
        Cv2.CvtColor(result, hsv, ColorConversionCodes.BGR2HSV);
        int rows = hsv.Rows, cols = hsv.Cols;
        for (int y = 0; y < rows; y++)
        {
            byte* row = (byte*)hsv.Ptr(y);
            for (int x = 0; x < cols; x++, row += 3)
            {
                int h = row[0] + hueShift;
                row[0] = (byte)(h < 0 ? h + 180 : h >= 180 ? h - 180 : h);
                row[1] = (byte)Math.Clamp((int)(row[1] * satFactor + 0.5f), 0, 255);
            }
        }
        Cv2.CvtColor(hsv, result, ColorConversionCodes.HSV2BGR);
        return result;
    }
}
