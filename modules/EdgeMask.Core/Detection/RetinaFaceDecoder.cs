using EdgeMask.Core.Geometry;

namespace EdgeMask.Core.Detection;

/// <summary>Thresholds of the RetinaFace post-processing (score filter, NMS, top-k).</summary>
public sealed record DetectionThresholds
{
    /// <summary>Minimum face score (softmax of the face class). 0.5 is the reference pipeline's check value.</summary>
    public float ScoreThreshold { get; init; } = 0.5f;
    /// <summary>IoU above which a lower-scored box is suppressed. 0.4 as in the reference <c>detect.py</c>.</summary>
    public float NmsIoU { get; init; } = 0.4f;
    /// <summary>Candidates kept (best first) before NMS, bounding its quadratic cost on crowded scenes.</summary>
    public int TopKBeforeNms { get; init; } = 5000;
    /// <summary>Faces kept after NMS.</summary>
    public int KeepTopK { get; init; } = 750;

    public void Validate()
    {
        if (!(ScoreThreshold is >= 0f and < 1f)) throw new ArgumentException($"scoreThreshold must be in [0, 1), not {ScoreThreshold}.");
        if (!(NmsIoU is > 0f and <= 1f)) throw new ArgumentException($"nmsIoU must be in (0, 1], not {NmsIoU}.");
        if (TopKBeforeNms < 1) throw new ArgumentException($"topKBeforeNms must be at least 1, not {TopKBeforeNms}.");
        if (KeepTopK < 1) throw new ArgumentException($"keepTopK must be at least 1, not {KeepTopK}.");
    }
}

/// <summary>
/// Turns RetinaFace's raw outputs into faces in original-image pixels: score filter, box and landmark decoding
/// (the reference <c>decode</c>/<c>decode_landm</c>), top-k, greedy NMS, keep-top-k, clipping.
/// Allocation-free once the candidate list has grown to its working size.
/// </summary>
public static class RetinaFaceDecoder
{
    /// <param name="loc">[P, 4] box regressions.</param>
    /// <param name="conf">[P, 2] softmax (background, face).</param>
    /// <param name="landmarks">[P, 10] landmark regressions.</param>
    /// <param name="priors">[P, 4] priors from <see cref="PriorBoxes.Generate"/> for the same input size.</param>
    /// <param name="input">The size the network saw and how it maps back to the original image.</param>
    /// <param name="output">Cleared, then filled with the kept faces, best first.</param>
    public static void Decode(
        ReadOnlySpan<float> loc, ReadOnlySpan<float> conf, ReadOnlySpan<float> landmarks, ReadOnlySpan<float> priors,
        float centerVariance, float sizeVariance, in InputGeometry input, DetectionThresholds thresholds,
        List<FaceDetection> output)
    {
        int priorCount = priors.Length / 4;
        if (loc.Length < priorCount * 4 || conf.Length < priorCount * 2 || landmarks.Length < priorCount * 10)
            throw new ArgumentException($"Model outputs are shorter than the {priorCount} priors of a {input.InputWidth}×{input.InputHeight} input.");

        output.Clear();
        float inW = input.InputWidth, inH = input.InputHeight;
        // Boxes are decoded in input pixels, moved by the border the image was framed with, and mapped back by the
        // inverse of the resize factor.
        float toOriginal = 1f / input.Scale;
        float pad = input.Pad;
        float threshold = thresholds.ScoreThreshold;
        for (int p = 0; p < priorCount; p++)
        {
            float score = conf[p * 2 + 1];
            if (score <= threshold) continue;
            float pcx = priors[p * 4], pcy = priors[p * 4 + 1], pw = priors[p * 4 + 2], ph = priors[p * 4 + 3];
            float cx = pcx + loc[p * 4] * centerVariance * pw;
            float cy = pcy + loc[p * 4 + 1] * centerVariance * ph;
            float w = pw * MathF.Exp(loc[p * 4 + 2] * sizeVariance);
            float h = ph * MathF.Exp(loc[p * 4 + 3] * sizeVariance);
            var box = new BoxF((cx - w / 2) * inW - pad, (cy - h / 2) * inH - pad, (cx + w / 2) * inW - pad, (cy + h / 2) * inH - pad).Scale(toOriginal);
            var lm = landmarks.Slice(p * 10, 10);
            var marks = new Landmarks5(
                Landmark(lm, 0, pcx, pcy, pw, ph, centerVariance, inW, inH, pad, toOriginal),
                Landmark(lm, 1, pcx, pcy, pw, ph, centerVariance, inW, inH, pad, toOriginal),
                Landmark(lm, 2, pcx, pcy, pw, ph, centerVariance, inW, inH, pad, toOriginal),
                Landmark(lm, 3, pcx, pcy, pw, ph, centerVariance, inW, inH, pad, toOriginal),
                Landmark(lm, 4, pcx, pcy, pw, ph, centerVariance, inW, inH, pad, toOriginal));
            output.Add(new FaceDetection(box, score, marks));
        }

        // Span.Sort with a cached Comparison allocates nothing; List.Sort(IComparer) wraps the comparer in a new
        // delegate on every call.
        System.Runtime.InteropServices.CollectionsMarshal.AsSpan(output).Sort(ByScoreDescending);
        if (output.Count > thresholds.TopKBeforeNms) output.RemoveRange(thresholds.TopKBeforeNms, output.Count - thresholds.TopKBeforeNms);
        NonMaximumSuppression.ApplyInPlace(output, thresholds.NmsIoU);
        if (output.Count > thresholds.KeepTopK) output.RemoveRange(thresholds.KeepTopK, output.Count - thresholds.KeepTopK);

        // Clip after NMS, as the reference does: clipping first would change the IoUs NMS compares. A box wholly in the
        // border the input was framed with has nothing of the image left after clipping: it is dropped.
        int kept = 0;
        for (int i = 0; i < output.Count; i++)
        {
            var f = output[i];
            var box = f.Box.ClipTo(input.OriginalWidth, input.OriginalHeight);
            if (!(box.X2 > box.X1 && box.Y2 > box.Y1)) continue;
            output[kept++] = f with { Box = box, Landmarks = f.Landmarks.ClipTo(input.OriginalWidth, input.OriginalHeight) };
        }
        output.RemoveRange(kept, output.Count - kept);
    }

    private static PointF2 Landmark(ReadOnlySpan<float> lm, int m, float pcx, float pcy, float pw, float ph,
        float variance, float inW, float inH, float pad, float toOriginal) =>
        new(((pcx + lm[2 * m] * variance * pw) * inW - pad) * toOriginal, ((pcy + lm[2 * m + 1] * variance * ph) * inH - pad) * toOriginal);

    private static readonly Comparison<FaceDetection> ByScoreDescending = static (a, b) => b.Score.CompareTo(a.Score);
}

/// <summary>Greedy non-maximum suppression over a list sorted by descending score.</summary>
public static class NonMaximumSuppression
{
    /// <summary>Keeps, in order, each box whose IoU with every kept higher-scored box is ≤ <paramref name="iouThreshold"/>.</summary>
    public static void ApplyInPlace(List<FaceDetection> sortedByScore, float iouThreshold)
    {
        int kept = 0;
        for (int i = 0; i < sortedByScore.Count; i++)
        {
            var candidate = sortedByScore[i];
            bool suppressed = false;
            for (int k = 0; k < kept; k++)
            {
                if (sortedByScore[k].Box.IoU(candidate.Box) > iouThreshold) { suppressed = true; break; }
            }
            if (!suppressed) sortedByScore[kept++] = candidate;
        }
        sortedByScore.RemoveRange(kept, sortedByScore.Count - kept);
    }
}
