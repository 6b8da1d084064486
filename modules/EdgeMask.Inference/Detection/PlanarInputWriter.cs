using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace EdgeMask.Inference.Detection;

/// <summary>
/// Interleaved 8-bit BGR rows → three float planes minus a per-channel mean: the detector's input tensor, written
/// once per frame over every pixel (0.3 M at 640×480), so it is vectorised. Sixteen pixels at a time: three 16-byte
/// loads are de-interleaved into B, G and R with byte shuffles (SSSE3 <c>pshufb</c> on x64, NEON <c>tbl</c> on the
/// Jetson's ARM64), widened to floats and stored; the row tail and CPUs without either instruction use the scalar loop.
/// </summary>
internal static class PlanarInputWriter
{
    // For each channel, three shuffles pick its bytes out of the three loaded vectors; 0xFF (out of range) gives 0
    // on both instruction sets, so OR-ing the three results assembles the 16 channel values in pixel order.
    private static readonly Vector128<byte> B0 = Vector128.Create((byte)0, 3, 6, 9, 12, 15, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255);
    private static readonly Vector128<byte> B1 = Vector128.Create((byte)255, 255, 255, 255, 255, 255, 2, 5, 8, 11, 14, 255, 255, 255, 255, 255);
    private static readonly Vector128<byte> B2 = Vector128.Create((byte)255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 1, 4, 7, 10, 13);
    private static readonly Vector128<byte> G0 = Vector128.Create((byte)1, 4, 7, 10, 13, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255);
    private static readonly Vector128<byte> G1 = Vector128.Create((byte)255, 255, 255, 255, 255, 0, 3, 6, 9, 12, 15, 255, 255, 255, 255, 255);
    private static readonly Vector128<byte> G2 = Vector128.Create((byte)255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 2, 5, 8, 11, 14);
    private static readonly Vector128<byte> R0 = Vector128.Create((byte)2, 5, 8, 11, 14, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255);
    private static readonly Vector128<byte> R1 = Vector128.Create((byte)255, 255, 255, 255, 255, 1, 4, 7, 10, 13, 255, 255, 255, 255, 255, 255);
    private static readonly Vector128<byte> R2 = Vector128.Create((byte)255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 0, 3, 6, 9, 12, 15);

    /// <summary>Whether this CPU takes the vector path (tests check both paths give the same tensor).</summary>
    public static bool IsVectorized => Ssse3.IsSupported || AdvSimd.Arm64.IsSupported;

    /// <param name="source">First byte of the top-left pixel.</param>
    /// <param name="step">Bytes from one row to the next (≥ 3 × width).</param>
    /// <param name="planes">At least 3 × width × height floats: B plane, then G, then R.</param>
    /// <param name="vectorize">False forces the scalar loop (tests).</param>
    public static unsafe void Write(byte* source, long step, int width, int height, Span<float> planes,
        float meanB, float meanG, float meanR, bool vectorize = true) =>
        Write(source, step, width, height, planes, width, height, 0, 0, meanB, meanG, meanR, vectorize);

    /// <summary>
    /// Writes the image into a window of larger planes: <paramref name="planeWidth"/> × <paramref name="planeHeight"/>
    /// floats per channel, the image's top-left pixel at (<paramref name="left"/>, <paramref name="top"/>). What lies
    /// outside the window is not touched (a mean-coloured border is zero, written once when the tensor is made).
    /// </summary>
    public static unsafe void Write(byte* source, long step, int width, int height, Span<float> planes,
        int planeWidth, int planeHeight, int left, int top, float meanB, float meanG, float meanR, bool vectorize = true)
    {
        if (left < 0 || top < 0 || left + width > planeWidth || top + height > planeHeight)
            throw new ArgumentException($"A {width}×{height} image at ({left}, {top}) does not fit {planeWidth}×{planeHeight} planes.", nameof(planes));
        int plane = planeWidth * planeHeight;
        if (planes.Length < 3 * plane) throw new ArgumentException($"The tensor holds {planes.Length} floats; {planeWidth}×{planeHeight} planes need {3 * plane}.", nameof(planes));
        bool simd = vectorize && IsVectorized;
        var mb = Vector128.Create(meanB);
        var mg = Vector128.Create(meanG);
        var mr = Vector128.Create(meanR);
        fixed (float* dst = planes)
        {
            float* b = dst, g = dst + plane, r = dst + 2 * plane;
            for (int y = 0; y < height; y++)
            {
                byte* row = source + y * step;
                int o = (y + top) * planeWidth + left, x = 0;
                if (simd)
                {
                    for (; x + 16 <= width; x += 16, o += 16)
                    {
                        byte* p = row + 3 * x;
                        var v0 = Vector128.Load(p);
                        var v1 = Vector128.Load(p + 16);
                        var v2 = Vector128.Load(p + 32);
                        StoreAsFloats(Gather(v0, v1, v2, B0, B1, B2), mb, b + o);
                        StoreAsFloats(Gather(v0, v1, v2, G0, G1, G2), mg, g + o);
                        StoreAsFloats(Gather(v0, v1, v2, R0, R1, R2), mr, r + o);
                    }
                }
                for (; x < width; x++, o++)
                {
                    byte* px = row + 3 * x;
                    b[o] = px[0] - meanB;
                    g[o] = px[1] - meanG;
                    r[o] = px[2] - meanR;
                }
            }
        }
    }

    private static Vector128<byte> Gather(Vector128<byte> v0, Vector128<byte> v1, Vector128<byte> v2,
        Vector128<byte> i0, Vector128<byte> i1, Vector128<byte> i2)
    {
        if (Ssse3.IsSupported)
            return Ssse3.Shuffle(v0, i0) | Ssse3.Shuffle(v1, i1) | Ssse3.Shuffle(v2, i2);
        return AdvSimd.Arm64.VectorTableLookup(v0, i0) | AdvSimd.Arm64.VectorTableLookup(v1, i1) | AdvSimd.Arm64.VectorTableLookup(v2, i2);
    }

    private static unsafe void StoreAsFloats(Vector128<byte> bytes, Vector128<float> mean, float* target)
    {
        var (lo, hi) = Vector128.Widen(bytes);
        var (a, b) = Vector128.Widen(lo);
        var (c, d) = Vector128.Widen(hi);
        (Vector128.ConvertToSingle(a.AsInt32()) - mean).Store(target);
        (Vector128.ConvertToSingle(b.AsInt32()) - mean).Store(target + 4);
        (Vector128.ConvertToSingle(c.AsInt32()) - mean).Store(target + 8);
        (Vector128.ConvertToSingle(d.AsInt32()) - mean).Store(target + 12);
    }
}
