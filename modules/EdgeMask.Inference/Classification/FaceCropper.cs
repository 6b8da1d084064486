using EdgeMask.Core.Classification;
using OpenCvSharp;

namespace EdgeMask.Inference.Classification;

/// <summary>
/// Executes a <see cref="CropPlan"/> and converts crops to the classifier's normalized planar input.
/// Shared by run time (<see cref="MaskClassifier"/>) and training (dataset crops), so both cut and scale faces
/// with the same interpolation and border rule. The resampling is our own (<see cref="CropResampler"/>) rather
/// than OpenCV's: cutting a face then allocates nothing (OpenCvSharp creates a ROI header and array wrappers per
/// call), and the crop is read straight out of the frame.
/// </summary>
public static class FaceCropper
{
    /// <summary>
    /// Cuts <paramref name="plan"/> out of <paramref name="image"/> (8-bit, 3 channels, BGR as OpenCV decodes it) into
    /// <paramref name="destination"/>, which must be an 8UC3 Mat of <c>plan.OutputSize</c> square (it is reused, not reallocated).
    /// </summary>
    public static void Cut(Mat image, in CropPlan plan, Mat destination)
    {
        RequireBgr(image, nameof(image));
        if (destination.Type() != MatType.CV_8UC3 || destination.Rows != plan.OutputSize || destination.Cols != plan.OutputSize)
            throw new ArgumentException($"The crop destination must be an 8UC3 Mat of {plan.OutputSize}×{plan.OutputSize}.", nameof(destination));
        if (plan.SourceX < 0 || plan.SourceY < 0 || plan.SourceX + plan.SourceWidth > image.Cols || plan.SourceY + plan.SourceHeight > image.Rows)
            throw new ArgumentException($"The crop plan {plan} does not fit the {image.Cols}×{image.Rows} image.", nameof(plan));

        CropResampler.Resample(image, plan, destination);
        if (plan.NeedsPadding) ReplicateBorder(destination, plan);
    }

    /// <summary>
    /// Writes an 8UC3 BGR crop as normalized planar floats (<c>[3, S, S]</c>, in the contract's colour order) into
    /// <paramref name="target"/>: <c>(pixel − mean) / std</c>.
    /// </summary>
    public static unsafe void WriteNormalized(Mat crop, ClassifierContract contract, Span<float> target)
    {
        int s = contract.InputSize, plane = s * s;
        if (crop.Type() != MatType.CV_8UC3 || crop.Rows != s || crop.Cols != s || !crop.IsContinuous())
            throw new ArgumentException($"The crop must be a continuous 8UC3 Mat of {s}×{s}.", nameof(crop));
        if (target.Length < 3 * plane)
            throw new ArgumentException($"The target holds {target.Length} floats; one crop needs {3 * plane}.", nameof(target));
        // OpenCV stores B,G,R interleaved; plane p of the tensor takes source channel bgrIndex[p].
        bool rgb = contract.ColorOrder == ColorOrder.Rgb;
        int c0 = rgb ? 2 : 0, c2 = rgb ? 0 : 2;
        float k0 = 1f / contract.Std[0], k1 = 1f / contract.Std[1], k2 = 1f / contract.Std[2];
        float b0 = -contract.Mean[0] * k0, b1 = -contract.Mean[1] * k1, b2 = -contract.Mean[2] * k2;
        byte* src = (byte*)crop.Data;
        var p0 = target[..plane];
        var p1 = target.Slice(plane, plane);
        var p2 = target.Slice(2 * plane, plane);
        for (int i = 0; i < plane; i++)
        {
            byte* px = src + 3 * i;
            p0[i] = px[c0] * k0 + b0;
            p1[i] = px[1] * k1 + b1;
            p2[i] = px[c2] * k2 + b2;
        }
    }

    internal static void RequireBgr(Mat image, string name)
    {
        if (image.Empty()) throw new ArgumentException("The image is empty.", name);
        if (image.Type() != MatType.CV_8UC3)
            throw new ArgumentException($"Expected an 8-bit 3-channel BGR image, got {image.Type()}.", name);
    }

    private static unsafe void ReplicateBorder(Mat dst, in CropPlan plan)
    {
        int s = plan.OutputSize;
        long step = dst.Step();
        byte* data = (byte*)dst.Data;
        int x1 = plan.PadLeft, x2 = s - plan.PadRight - 1, y1 = plan.PadTop, y2 = s - plan.PadBottom - 1;
        // Rows inside the image band: extend left and right edge pixels.
        for (int y = y1; y <= y2; y++)
        {
            byte* row = data + y * step;
            for (int x = 0; x < x1; x++) Copy3(row + 3 * x1, row + 3 * x);
            for (int x = x2 + 1; x < s; x++) Copy3(row + 3 * x2, row + 3 * x);
        }
        // Rows above and below: copies of the first and last full row.
        for (int y = 0; y < y1; y++) Buffer.MemoryCopy(data + y1 * step, data + y * step, step, 3 * s);
        for (int y = y2 + 1; y < s; y++) Buffer.MemoryCopy(data + y2 * step, data + y * step, step, 3 * s);
    }

    private static unsafe void Copy3(byte* from, byte* to)
    {
        to[0] = from[0];
        to[1] = from[1];
        to[2] = from[2];
    }
}
