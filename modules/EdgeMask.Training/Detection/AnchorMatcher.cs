using EdgeMask.Core.Detection;
using EdgeMask.Core.Geometry;

namespace EdgeMask.Training.Detection;

/// <summary>
/// A face to learn, in pixels of the network input; <see cref="Landmarks"/> is null when the annotation has none (VOC).
/// <see cref="Weight"/> multiplies the classification loss of its face anchors (1: as every face).
/// </summary>
internal readonly record struct TrainingFace(BoxF Box, Landmarks5? Landmarks, float Weight = 1f);

/// <summary>Anchor labels: a face anchor, a background anchor, or one the loss leaves out.</summary>
internal static class AnchorLabel
{
    public const long Ignore = -1;
    public const long Background = 0;
    public const long Face = 1;
}

/// <summary>IoU thresholds of the anchor matching; RetinaFace (Deng et al. 2019, §4.2): ≥ 0.5 face, &lt; 0.3 background.</summary>
internal sealed record MatchingThresholds(float Positive = 0.5f, float Negative = 0.3f)
{
    public MatchingThresholds Validate()
    {
        if (!(Negative is > 0f and < 1f) || !(Positive is > 0f and <= 1f) || Negative > Positive)
            throw new ArgumentException($"Anchor matching needs 0 < negative ({Negative}) ≤ positive ({Positive}) ≤ 1.");
        return this;
    }
}

/// <summary>
/// Assigns each anchor a label and regression targets for one image, as RetinaFace's training does: the IoU of every
/// anchor with every face; an anchor takes the face it overlaps most; ≥ positive threshold is a face anchor,
/// &lt; negative threshold background, in between ignored; each face's best anchor is made a face anchor for that face
/// whatever its IoU (so small and oddly shaped faces are learned too). Targets use the model's variances
/// (the inverse of <see cref="RetinaFaceDecoder"/>).
/// </summary>
internal static class AnchorMatcher
{
    /// <param name="priors">(cx, cy, w, h) per anchor, normalised, from <see cref="PriorBoxes.Generate"/>.</param>
    /// <param name="width">Network input width in pixels (faces are in these pixels).</param>
    /// <param name="height">Network input height in pixels.</param>
    /// <param name="labels">[P]: <see cref="AnchorLabel"/> values.</param>
    /// <param name="loc">[P·4]: encoded box targets (written for face anchors, zero elsewhere).</param>
    /// <param name="landmarks">[P·10]: encoded landmark targets (face anchors whose face has landmarks).</param>
    /// <param name="landmarkMask">[P]: 1 where the landmark target is valid, else 0.</param>
    public static void Match(ReadOnlySpan<float> priors, int width, int height, IReadOnlyList<TrainingFace> faces,
        MatchingThresholds thresholds, float centerVariance, float sizeVariance,
        Span<long> labels, Span<float> loc, Span<float> landmarks, Span<float> landmarkMask) =>
        Match(priors, width, height, faces, thresholds, centerVariance, sizeVariance, labels, loc, landmarks, landmarkMask, []);

    /// <param name="weights">[P] or empty: the classification weight of each anchor — its face's
    /// <see cref="TrainingFace.Weight"/> for a face anchor, 1 for every other.</param>
    public static void Match(ReadOnlySpan<float> priors, int width, int height, IReadOnlyList<TrainingFace> faces,
        MatchingThresholds thresholds, float centerVariance, float sizeVariance,
        Span<long> labels, Span<float> loc, Span<float> landmarks, Span<float> landmarkMask, Span<float> weights)
    {
        int p = priors.Length / 4;
        if (labels.Length != p || loc.Length != p * 4 || landmarks.Length != p * 10 || landmarkMask.Length != p
            || (weights.Length != 0 && weights.Length != p))
            throw new ArgumentException($"Target buffers do not match the {p} anchors.");
        loc.Clear();
        landmarks.Clear();
        landmarkMask.Clear();
        weights.Fill(1f);
        if (faces.Count == 0)
        {
            labels.Fill(AnchorLabel.Background);
            return;
        }

        var bestOverlap = new float[p];
        var bestFace = new int[p];
        var facesNorm = new BoxF[faces.Count];
        for (int f = 0; f < faces.Count; f++)
        {
            var b = faces[f].Box;
            facesNorm[f] = new BoxF(b.X1 / width, b.Y1 / height, b.X2 / width, b.Y2 / height);
        }
        var bestAnchorOfFace = new int[faces.Count];
        var bestAnchorOverlap = new float[faces.Count];
        Array.Fill(bestAnchorOverlap, -1f);
        for (int a = 0; a < p; a++)
        {
            var anchor = BoxF.FromCenter(priors[a * 4], priors[a * 4 + 1], priors[a * 4 + 2], priors[a * 4 + 3]);
            float best = 0f;
            int bestF = 0;
            for (int f = 0; f < facesNorm.Length; f++)
            {
                float iou = anchor.IoU(facesNorm[f]);
                if (iou > best) { best = iou; bestF = f; }
                if (iou > bestAnchorOverlap[f]) { bestAnchorOverlap[f] = iou; bestAnchorOfFace[f] = a; }
            }
            bestOverlap[a] = best;
            bestFace[a] = bestF;
        }
        // Every face keeps its best anchor, even below the positive threshold (later faces win a shared anchor, as in the reference).
        for (int f = 0; f < faces.Count; f++)
        {
            bestOverlap[bestAnchorOfFace[f]] = 2f;
            bestFace[bestAnchorOfFace[f]] = f;
        }

        for (int a = 0; a < p; a++)
        {
            float o = bestOverlap[a];
            if (o >= thresholds.Positive)
            {
                labels[a] = AnchorLabel.Face;
                var face = faces[bestFace[a]];
                if (weights.Length != 0) weights[a] = face.Weight;
                var g = facesNorm[bestFace[a]];
                float pcx = priors[a * 4], pcy = priors[a * 4 + 1], pw = priors[a * 4 + 2], ph = priors[a * 4 + 3];
                loc[a * 4] = (g.CenterX - pcx) / (centerVariance * pw);
                loc[a * 4 + 1] = (g.CenterY - pcy) / (centerVariance * ph);
                loc[a * 4 + 2] = MathF.Log(g.Width / pw) / sizeVariance;
                loc[a * 4 + 3] = MathF.Log(g.Height / ph) / sizeVariance;
                if (face.Landmarks is Landmarks5 lm)
                {
                    for (int m = 0; m < Landmarks5.Count; m++)
                    {
                        landmarks[a * 10 + 2 * m] = (lm[m].X / width - pcx) / (centerVariance * pw);
                        landmarks[a * 10 + 2 * m + 1] = (lm[m].Y / height - pcy) / (centerVariance * ph);
                    }
                    landmarkMask[a] = 1f;
                }
            }
            else
            {
                labels[a] = o < thresholds.Negative ? AnchorLabel.Background : AnchorLabel.Ignore;
            }
        }
    }
}
