using EdgeMask.Core.Geometry;

namespace EdgeMask.Core.Policy;

/// <summary>Point-in-polygon for zones: even-odd rule, with points on an edge or vertex counted as inside.</summary>
public static class PolygonZone
{
    /// <summary>
    /// True when (<paramref name="x"/>, <paramref name="y"/>) is inside <paramref name="polygon"/> or on its
    /// boundary. Works for concave polygons; a self-intersecting outline uses the even-odd rule.
    /// </summary>
    public static bool Contains(ReadOnlySpan<PointF2> polygon, float x, float y)
    {
        int n = polygon.Length;
        if (n < 3) return false;
        bool inside = false;
        for (int i = 0, j = n - 1; i < n; j = i++)
        {
            PointF2 a = polygon[j], b = polygon[i];
            if (OnSegment(a, b, x, y)) return true;
            // Half-open rule (a.Y > y) != (b.Y > y): a ray through a vertex is counted once, horizontal edges never.
            if ((a.Y > y) != (b.Y > y))
            {
                float crossX = a.X + (y - a.Y) * (b.X - a.X) / (b.Y - a.Y);
                if (x < crossX) inside = !inside;
            }
        }
        return inside;
    }

    /// <summary>Shoelace area, positive for counter-clockwise in a y-up frame; its sign is irrelevant here.</summary>
    public static float SignedArea(IReadOnlyList<PointF2> polygon)
    {
        double sum = 0;
        for (int i = 0, j = polygon.Count - 1; i < polygon.Count; j = i++)
            sum += (double)polygon[j].X * polygon[i].Y - (double)polygon[i].X * polygon[j].Y;
        return (float)(sum * 0.5);
    }

    private static bool OnSegment(PointF2 a, PointF2 b, float x, float y)
    {
        float dx = b.X - a.X, dy = b.Y - a.Y;
        float cross = dx * (y - a.Y) - dy * (x - a.X);
        // Tolerance relative to the edge length, so "on the edge" survives float rounding of pixel coordinates.
        float tolerance = 1e-4f * MathF.Max(MathF.Abs(dx) + MathF.Abs(dy), 1e-6f);
        if (MathF.Abs(cross) > tolerance) return false;
        return x >= MathF.Min(a.X, b.X) - 1e-5f && x <= MathF.Max(a.X, b.X) + 1e-5f
            && y >= MathF.Min(a.Y, b.Y) - 1e-5f && y <= MathF.Max(a.Y, b.Y) + 1e-5f;
    }
}
