using TorchSharp;
using static TorchSharp.torch;

namespace EdgeMask.Training.Detection;

/// <summary>The loss of one batch and its parts (each already divided by its normaliser).</summary>
internal sealed record LossParts(Tensor Total, float Classification, float Box, float Landmark, int Positives, int Negatives);

/// <summary>
/// RetinaFace's multi-task loss: softmax cross-entropy over face anchors and the hardest background anchors
/// (hard-negative mining, <see cref="NegativeRatio"/> : 1), + λ_box · smooth-L1 on the box regressions of face anchors,
/// + λ_landmark · smooth-L1 on the landmark regressions of face anchors whose face has landmarks. Classification and
/// box terms are divided by the number of face anchors, the landmark term by the number of face anchors with landmarks.
/// </summary>
internal sealed class MultiBoxLoss(float boxWeight, float landmarkWeight, int negativeRatio = 3)
{
    public float BoxWeight { get; } = boxWeight >= 0 ? boxWeight : throw new ArgumentOutOfRangeException(nameof(boxWeight), boxWeight, "--loss-box-weight must be ≥ 0.");
    public float LandmarkWeight { get; } = landmarkWeight >= 0 ? landmarkWeight : throw new ArgumentOutOfRangeException(nameof(landmarkWeight), landmarkWeight, "--loss-landmark-weight must be ≥ 0.");
    public int NegativeRatio { get; } = negativeRatio >= 1 ? negativeRatio : throw new ArgumentOutOfRangeException(nameof(negativeRatio), negativeRatio, "The negative ratio must be ≥ 1.");

    /// <param name="outputs">Network outputs: loc [B,P,4], logits [B,P,2], landmarks [B,P,10].</param>
    /// <param name="labels">[B,P] int64 <see cref="AnchorLabel"/>.</param>
    /// <param name="locTargets">[B,P,4].</param>
    /// <param name="landmarkTargets">[B,P,10].</param>
    /// <param name="landmarkMask">[B,P] float, 1 where a landmark target exists.</param>
    public LossParts Compute(RetinaFaceOutputs outputs, Tensor labels, Tensor locTargets, Tensor landmarkTargets, Tensor landmarkMask)
    {
        using var scope = NewDisposeScope();
        var positive = labels.eq(AnchorLabel.Face);
        int positives = (int)positive.sum().item<long>();
        float n = Math.Max(1, positives);

        var logProb = nn.functional.log_softmax(outputs.Logits, -1);
        var negatives = MineHardNegatives(-logProb[.., .., 0], labels, NegativeRatio);
        int negativeCount = (int)negatives.sum().item<long>();
        var selected = positive.logical_or(negatives);
        var target = positive.to_type(ScalarType.Int64);
        // -log p(target) on the selected anchors.
        var nll = -logProb.gather(-1, target.unsqueeze(-1)).squeeze(-1);
        var cls = nll.masked_select(selected).sum() / n;

        var posMask = positive.unsqueeze(-1);
        var box = nn.functional.smooth_l1_loss(
            outputs.Loc.masked_select(posMask.expand_as(outputs.Loc)),
            locTargets.masked_select(posMask.expand_as(locTargets)), reduction: nn.Reduction.Sum) / n;

        var withLandmarks = landmarkMask.gt(0).logical_and(positive);
        int landmarkCount = (int)withLandmarks.sum().item<long>();
        Tensor landmark;
        if (landmarkCount > 0)
        {
            var lmMask = withLandmarks.unsqueeze(-1).expand_as(outputs.Landmarks);
            landmark = nn.functional.smooth_l1_loss(outputs.Landmarks.masked_select(lmMask), landmarkTargets.masked_select(lmMask),
                reduction: nn.Reduction.Sum) / landmarkCount;
        }
        else
        {
            // No face in the batch has landmarks (VOC): the term is absent, not zero-weighted noise.
            landmark = torch.zeros(1).sum();
        }
        var total = cls + BoxWeight * box + LandmarkWeight * landmark;
        return new LossParts(total.MoveToOuterDisposeScope(), cls.item<float>(), box.item<float>(), landmark.item<float>(), positives, negativeCount);
    }

    /// <summary>
    /// Per image, the background anchors with the highest background loss, <paramref name="ratio"/> per face anchor
    /// (at most as many as there are background anchors). An image without a face anchor still contributes
    /// <paramref name="ratio"/> negatives, so crops of empty scenes keep teaching what is not a face.
    /// </summary>
    /// <param name="backgroundLoss">[B,P]: −log p(background) per anchor.</param>
    /// <param name="labels">[B,P] <see cref="AnchorLabel"/>.</param>
    /// <returns>[B,P] bool: the chosen negatives.</returns>
    public static Tensor MineHardNegatives(Tensor backgroundLoss, Tensor labels, int ratio)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var candidate = labels.eq(AnchorLabel.Background);
        // Non-candidates sort last.
        var score = backgroundLoss.detach().masked_fill(candidate.logical_not(), float.NegativeInfinity);
        var order = score.argsort(1, descending: true);
        var rank = order.argsort(1);
        // The per-image counts are worked out in C#: a long run once died in libtorch ("Unknown scalar type") inside the
        // tensor version of this arithmetic (Tensor × int), and these are a handful of numbers anyway.
        long[] positives = labels.eq(AnchorLabel.Face).sum(1).data<long>().ToArray();
        long[] available = candidate.sum(1).data<long>().ToArray();
        var wanted = new long[positives.Length];
        for (int i = 0; i < wanted.Length; i++) wanted[i] = Math.Min(Math.Max(positives[i], 1) * ratio, available[i]);
        return rank.lt(torch.tensor(wanted).unsqueeze(1)).logical_and(candidate).MoveToOuterDisposeScope();
    }
}
