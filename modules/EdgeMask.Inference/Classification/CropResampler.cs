using System.Buffers;
using EdgeMask.Core.Classification;
using OpenCvSharp;

namespace EdgeMask.Inference.Classification;

/// <summary>
/// Resizes the source rectangle of a <see cref="CropPlan"/> into the plan's inner destination rectangle, 8-bit BGR
/// to 8-bit BGR, without allocating. Separable: each axis gets a table of (source index, weight) taps, then every
/// destination row is the weighted sum of horizontally resampled source rows.
/// </summary>
/// <remarks>
/// Per axis it follows OpenCV's rules, so crops look like the <c>cv::resize</c> ones the classifier was first
/// trained on: an axis that shrinks uses area averaging (each destination pixel is the mean of the source area it
/// covers, weighted by overlap — <c>INTER_AREA</c>), an axis that grows uses bilinear interpolation with
/// half-pixel centres and edge clamping (<c>INTER_LINEAR</c>). Results are rounded to the nearest byte. Training
/// and run time both come through here, so they cut faces identically by construction.
/// </remarks>
// Every stack buffer below is written before it is read (taps and starts by BuildTaps, rows by HorizontalPass, sums
// cleared per row), so the runtime need not zero them on each of a frame's faces.
[System.Runtime.CompilerServices.SkipLocalsInit]
internal static class CropResampler
{
    /// <summary>Taps per axis that fit on the stack; larger sources (a crop of a whole 8000 px photo) rent arrays.</summary>
    private const int StackTaps = 1024;

    public static unsafe void Resample(Mat image, in CropPlan plan, Mat destination)
    {
        int srcW = plan.SourceWidth, srcH = plan.SourceHeight;
        int dstW = plan.DestinationWidth, dstH = plan.DestinationHeight;
        int tapsX = MaxTaps(srcW, dstW), tapsY = MaxTaps(srcH, dstH);

        int[]? rentedIndex = null;
        float[]? rentedWeight = null;
        int total = tapsX + tapsY;
        Span<int> index = total <= StackTaps ? stackalloc int[total] : (rentedIndex = ArrayPool<int>.Shared.Rent(total));
        Span<float> weight = total <= StackTaps ? stackalloc float[total] : (rentedWeight = ArrayPool<float>.Shared.Rent(total));
        // Per destination index: first tap and tap count (destination sides are at most the classifier input size).
        Span<int> startX = stackalloc int[dstW + 1];
        Span<int> startY = stackalloc int[dstH + 1];
        Span<float> row = stackalloc float[dstW * 3];
        Span<float> sum = stackalloc float[dstW * 3];
        try
        {
            int usedX = BuildTaps(srcW, dstW, index, weight, startX);
            BuildTaps(srcH, dstH, index[usedX..], weight[usedX..], startY);
            var xIndex = index[..usedX];
            var xWeight = weight[..usedX];
            var yIndex = index[usedX..];
            var yWeight = weight[usedX..];

            byte* src = (byte*)image.DataPointer + plan.SourceY * image.Step() + plan.SourceX * 3;
            long srcStep = image.Step();
            byte* dst = (byte*)destination.DataPointer + plan.PadTop * destination.Step() + plan.PadLeft * 3;
            long dstStep = destination.Step();

            for (int dy = 0; dy < dstH; dy++)
            {
                sum.Clear();
                for (int t = startY[dy]; t < startY[dy + 1]; t++)
                {
                    HorizontalPass(src + yIndex[t] * srcStep, xIndex, xWeight, startX, row);
                    float wy = yWeight[t];
                    for (int i = 0; i < row.Length; i++) sum[i] += wy * row[i];
                }
                byte* outRow = dst + dy * dstStep;
                for (int i = 0; i < sum.Length; i++)
                {
                    float v = sum[i] + 0.5f;
                    outRow[i] = v <= 0f ? (byte)0 : v >= 255f ? (byte)255 : (byte)v;
                }
            }
        }
        finally
        {
            if (rentedIndex is not null) ArrayPool<int>.Shared.Return(rentedIndex);
            if (rentedWeight is not null) ArrayPool<float>.Shared.Return(rentedWeight);
        }
    }

    private static unsafe void HorizontalPass(byte* sourceRow, ReadOnlySpan<int> index, ReadOnlySpan<float> weight,
        ReadOnlySpan<int> start, Span<float> row)
    {
        int dstW = start.Length - 1;
        for (int dx = 0; dx < dstW; dx++)
        {
            float b = 0, g = 0, r = 0;
            for (int t = start[dx]; t < start[dx + 1]; t++)
            {
                byte* px = sourceRow + 3 * index[t];
                float w = weight[t];
                b += w * px[0];
                g += w * px[1];
                r += w * px[2];
            }
            row[3 * dx] = b;
            row[3 * dx + 1] = g;
            row[3 * dx + 2] = r;
        }
    }

    /// <summary>Upper bound on the taps of one axis: area covers every source pixel once plus one shared pixel per destination pixel; bilinear has two per destination pixel.</summary>
    internal static int MaxTaps(int source, int destination) => destination < source ? source + destination : 2 * destination;

    /// <summary>
    /// Fills the taps of one axis (source <paramref name="source"/> px to <paramref name="destination"/> px) and
    /// <paramref name="start"/>[d]..<paramref name="start"/>[d+1] as the range of destination index d. Returns the taps used.
    /// </summary>
    internal static int BuildTaps(int source, int destination, Span<int> index, Span<float> weight, Span<int> start)
    {
        int n = 0;
        if (destination < source)
        {
            // Area: destination pixel d covers source [d·s, (d+1)·s); each overlapped source pixel weighs overlap / s.
            double s = (double)source / destination;
            for (int d = 0; d < destination; d++)
            {
                start[d] = n;
                double from = d * s, to = Math.Min(source, (d + 1) * s);
                for (int i = (int)Math.Floor(from); i < to; i++)
                {
                    double overlap = Math.Min(to, i + 1) - Math.Max(from, i);
                    if (overlap <= 1e-9) continue;
                    index[n] = i;
                    weight[n] = (float)(overlap / s);
                    n++;
                }
            }
        }
        else
        {
            // Bilinear with half-pixel centres: destination d samples source (d + 0.5)·s − 0.5, clamped to the edge.
            double s = (double)source / destination;
            for (int d = 0; d < destination; d++)
            {
                start[d] = n;
                double f = (d + 0.5) * s - 0.5;
                int i0 = (int)Math.Floor(f);
                float a = (float)(f - i0);
                if (i0 < 0) { i0 = 0; a = 0; }
                if (i0 >= source - 1) { i0 = source - 1; a = 0; }
                index[n] = i0;
                weight[n++] = 1 - a;
                if (a > 0)
                {
                    index[n] = i0 + 1;
                    weight[n++] = a;
                }
            }
        }
        start[destination] = n;
        return n;
    }
}
