using System.Runtime.CompilerServices;

namespace EdgeMask.Core.Geometry;

/// <summary>An axis-aligned box in pixels, corners (x1, y1) top-left and (x2, y2) bottom-right.</summary>
public readonly record struct BoxF(float X1, float Y1, float X2, float Y2)
{
    public float Width => X2 - X1;
    public float Height => Y2 - Y1;
    public float Area => Width > 0 && Height > 0 ? Width * Height : 0f;
    public float CenterX => (X1 + X2) * 0.5f;
    public float CenterY => (Y1 + Y2) * 0.5f;

    /// <summary>The shorter side: the size that decides whether a face is "small" (datasets count faces by it).</summary>
    public float ShortSide => MathF.Min(Width, Height);

    public static BoxF FromCenter(float cx, float cy, float w, float h) =>
        new(cx - w * 0.5f, cy - h * 0.5f, cx + w * 0.5f, cy + h * 0.5f);

    /// <summary>Intersection over union; 0 for disjoint or empty boxes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float IoU(in BoxF other)
    {
        float ix1 = MathF.Max(X1, other.X1), iy1 = MathF.Max(Y1, other.Y1);
        float ix2 = MathF.Min(X2, other.X2), iy2 = MathF.Min(Y2, other.Y2);
        float iw = ix2 - ix1, ih = iy2 - iy1;
        if (iw <= 0 || ih <= 0) return 0f;
        float inter = iw * ih;
        float union = Area + other.Area - inter;
        return union <= 0 ? 0f : inter / union;
    }

    /// <summary>Area of the intersection with <paramref name="other"/>; 0 for disjoint boxes.</summary>
    public float IntersectionArea(in BoxF other)
    {
        float iw = MathF.Min(X2, other.X2) - MathF.Max(X1, other.X1);
        float ih = MathF.Min(Y2, other.Y2) - MathF.Max(Y1, other.Y1);
        return iw <= 0 || ih <= 0 ? 0f : iw * ih;
    }

    /// <summary>Most boxes <see cref="UnionArea"/> takes: its scratch space is on the stack.</summary>
    public const int MaxUnionBoxes = 64;

    /// <summary>
    /// Area of the union of up to <see cref="MaxUnionBoxes"/> boxes, without allocation: vertical slabs between
    /// consecutive box edges, and in each slab the merged extent of the boxes that span it (O(n² log n), for a handful).
    /// </summary>
    public static float UnionArea(ReadOnlySpan<BoxF> boxes)
    {
        if (boxes.IsEmpty) return 0f;
        if (boxes.Length > MaxUnionBoxes)
            throw new ArgumentOutOfRangeException(nameof(boxes), boxes.Length, $"UnionArea takes at most {MaxUnionBoxes} boxes.");
        Span<float> xs = stackalloc float[2 * boxes.Length];
        for (int i = 0; i < boxes.Length; i++)
        {
            xs[2 * i] = boxes[i].X1;
            xs[2 * i + 1] = boxes[i].X2;
        }
        xs.Sort();
        Span<float> starts = stackalloc float[boxes.Length];
        Span<float> ends = stackalloc float[boxes.Length];
        float area = 0f;
        for (int s = 0; s + 1 < xs.Length; s++)
        {
            float x1 = xs[s], x2 = xs[s + 1];
            if (x2 <= x1) continue;
            float mid = 0.5f * (x1 + x2);
            int n = 0;
            foreach (BoxF b in boxes)
            {
                if (b.X1 <= mid && mid <= b.X2 && b.Y2 > b.Y1)
                {
                    starts[n] = b.Y1;
                    ends[n++] = b.Y2;
                }
            }
            if (n == 0) continue;
            starts[..n].Sort(ends[..n]);
            float covered = 0f, runStart = starts[0], runEnd = ends[0];
            for (int i = 1; i < n; i++)
            {
                if (starts[i] > runEnd)
                {
                    covered += runEnd - runStart;
                    runStart = starts[i];
                    runEnd = ends[i];
                }
                else if (ends[i] > runEnd)
                {
                    runEnd = ends[i];
                }
            }
            covered += runEnd - runStart;
            area += (x2 - x1) * covered;
        }
        return area;
    }

    /// <summary>The box clipped to an image of <paramref name="width"/> × <paramref name="height"/> pixels.</summary>
    public BoxF ClipTo(float width, float height) => new(
        Math.Clamp(X1, 0, width), Math.Clamp(Y1, 0, height),
        Math.Clamp(X2, 0, width), Math.Clamp(Y2, 0, height));

    public BoxF Scale(float factor) => new(X1 * factor, Y1 * factor, X2 * factor, Y2 * factor);

    /// <summary>The box grown about its centre by <paramref name="factor"/> on each side length.</summary>
    public BoxF Expand(float factor) => FromCenter(CenterX, CenterY, Width * factor, Height * factor);

    public bool Contains(float x, float y) => x >= X1 && x <= X2 && y >= Y1 && y <= Y2;

    public override string ToString() => $"[{X1:0.#}, {Y1:0.#}, {X2:0.#}, {Y2:0.#}]";
}

/// <summary>A point in pixels.</summary>
public readonly record struct PointF2(float X, float Y)
{
    public PointF2 Scale(float factor) => new(X * factor, Y * factor);
    public PointF2 ClipTo(float width, float height) => new(Math.Clamp(X, 0, width), Math.Clamp(Y, 0, height));
}
