using TorchSharp;
using static TorchSharp.torch;

namespace EdgeMask.Training.Detection;

/// <summary>The loss of one batch and its parts (each already divided by its normaliser).</summary>
internal sealed record LossParts(Tensor Total, float Classification, float Box, float Landmark, float Distillation, int Positives, int Negatives);

/// <summary>
/// What the frozen start model (the stock RetinaFace) contributes to the loss, so fine-tuning on a few hundred photos
/// does not forget what WIDER FACE taught it.
/// </summary>
/// <param name="Weight">λ_distill: weight of the KL divergence from the teacher's face / background probabilities to the
/// student's, summed over every anchor that is not an annotated face anchor and divided by the face-anchor count.</param>
/// <param name="IgnoreAbove">A background anchor on which the teacher's face probability is at least this is not mined as a
/// hard negative (it is most likely an unannotated face); &gt; 1 turns this off.</param>
internal sealed record TeacherTerms(float Weight, float IgnoreAbove)
{
    public TeacherTerms Validate()
    {
        if (!(Weight >= 0)) throw new ArgumentOutOfRangeException(nameof(Weight), Weight, "--distill-weight must be ≥ 0.");
        if (!(IgnoreAbove > 0)) throw new ArgumentOutOfRangeException(nameof(IgnoreAbove), IgnoreAbove, "--teacher-ignore must be > 0 (above 1 turns it off).");
        return this;
    }
}

/// <summary>
/// RetinaFace's multi-task loss: softmax cross-entropy over face anchors and the hardest background anchors
/// (hard-negative mining, <see cref="NegativeRatio"/> : 1), + λ_box · smooth-L1 on the box regressions of face anchors,
/// + λ_landmark · smooth-L1 on the landmark regressions of face anchors whose face has landmarks, and optionally
/// + λ_distill · KL(teacher ‖ student) on the class probabilities of the other anchors (<see cref="TeacherTerms"/>).
/// Classification, box and distillation terms are divided by the number of face anchors, the landmark term by the
/// number of face anchors with landmarks.
/// </summary>
/// <remarks>
/// Every number handed to libtorch is an owned <see cref="Scalar"/> (<c>using var</c>), never an implicit conversion:
/// an implicit <c>float → Scalar</c> temporary is unreachable once TorchSharp has read its handle, and a garbage
/// collection during the native call may finalize it and free the scalar libtorch is reading. That was the cause of the
/// runs that died with "Unknown scalar type" and <c>toFloat … Scalar.h</c> in the mining (TorchScalarLifetimeTests).
/// </remarks>
internal sealed class MultiBoxLoss(float boxWeight, float landmarkWeight, int negativeRatio = 3, TeacherTerms? teacher = null)
{
    public float BoxWeight { get; } = boxWeight >= 0 ? boxWeight : throw new ArgumentOutOfRangeException(nameof(boxWeight), boxWeight, "--loss-box-weight must be ≥ 0.");
    public float LandmarkWeight { get; } = landmarkWeight >= 0 ? landmarkWeight : throw new ArgumentOutOfRangeException(nameof(landmarkWeight), landmarkWeight, "--loss-landmark-weight must be ≥ 0.");
    public int NegativeRatio { get; } = negativeRatio >= 1 ? negativeRatio : throw new ArgumentOutOfRangeException(nameof(negativeRatio), negativeRatio, "The negative ratio must be ≥ 1.");
    public TeacherTerms? Teacher { get; } = teacher?.Validate();

    /// <param name="outputs">Network outputs: loc [B,P,4], logits [B,P,2], landmarks [B,P,10].</param>
    /// <param name="labels">[B,P] int64 <see cref="AnchorLabel"/>.</param>
    /// <param name="locTargets">[B,P,4].</param>
    /// <param name="landmarkTargets">[B,P,10].</param>
    /// <param name="landmarkMask">[B,P] float, 1 where a landmark target exists.</param>
    /// <param name="teacherLogits">[B,P,2] class logits of the frozen teacher on the same input (required with <see cref="Teacher"/>).</param>
    /// <param name="anchorWeights">[B,P] float or null: each anchor's weight in the classification term
    /// (<see cref="AnchorMatcher"/>: its face's weight on a face anchor, 1 elsewhere).</param>
    public LossParts Compute(RetinaFaceOutputs outputs, Tensor labels, Tensor locTargets, Tensor landmarkTargets, Tensor landmarkMask,
        Tensor? teacherLogits = null, Tensor? anchorWeights = null)
    {
        if (Teacher is not null && teacherLogits is null) throw new ArgumentNullException(nameof(teacherLogits), "This loss distils from a teacher: pass its logits.");
        using var scope = NewDisposeScope();
        using var faceLabel = AnchorLabel.Face.ToScalar();
        var positive = labels.eq(faceLabel);
        int positives = (int)positive.sum().item<long>();
        using var n = ((float)Math.Max(1, positives)).ToScalar();

        var logProb = nn.functional.log_softmax(outputs.Logits, -1);
        Tensor? teacherLogProb = teacherLogits is null ? null : nn.functional.log_softmax(teacherLogits.detach(), -1);
        var miningLabels = Teacher is { IgnoreAbove: <= 1f } t && teacherLogProb is not null
            ? IgnoreTeacherFaces(labels, teacherLogProb, t.IgnoreAbove)
            : labels;
        var negatives = MineHardNegatives(-logProb[.., .., 0], miningLabels, NegativeRatio);
        int negativeCount = (int)negatives.sum().item<long>();
        var selected = positive.logical_or(negatives);
        var target = positive.to_type(ScalarType.Int64);
        // -log p(target) on the selected anchors.
        var nll = -logProb.gather(-1, target.unsqueeze(-1)).squeeze(-1);
        if (anchorWeights is not null) nll = nll.mul(anchorWeights);
        var cls = nll.masked_select(selected).sum().div(n);

        var posMask = positive.unsqueeze(-1);
        var box = nn.functional.smooth_l1_loss(
            outputs.Loc.masked_select(posMask.expand_as(outputs.Loc)),
            locTargets.masked_select(posMask.expand_as(locTargets)), reduction: nn.Reduction.Sum).div(n);

        using var zero = 0f.ToScalar();
        var withLandmarks = landmarkMask.gt(zero).logical_and(positive);
        int landmarkCount = (int)withLandmarks.sum().item<long>();
        Tensor landmark;
        if (landmarkCount > 0)
        {
            var lmMask = withLandmarks.unsqueeze(-1).expand_as(outputs.Landmarks);
            using var lmCount = ((float)landmarkCount).ToScalar();
            landmark = nn.functional.smooth_l1_loss(outputs.Landmarks.masked_select(lmMask), landmarkTargets.masked_select(lmMask),
                reduction: nn.Reduction.Sum).div(lmCount);
        }
        else
        {
            // No face in the batch has landmarks (VOC): the term is absent, not zero-weighted noise.
            landmark = torch.zeros(1).sum();
        }

        Tensor distill;
        if (Teacher is not null && teacherLogProb is not null)
        {
            // KL(teacher ‖ student) per anchor; annotated face anchors follow their labels, not the teacher (which misses masked faces).
            var kl = teacherLogProb.exp().mul(teacherLogProb.sub(logProb)).sum(-1);
            distill = kl.masked_select(positive.logical_not()).sum().div(n);
        }
        else
        {
            distill = torch.zeros(1).sum();
        }

        using var wBox = BoxWeight.ToScalar();
        using var wLandmark = LandmarkWeight.ToScalar();
        using var wDistill = (Teacher?.Weight ?? 0f).ToScalar();
        var total = cls.add(box.mul(wBox)).add(landmark.mul(wLandmark)).add(distill.mul(wDistill));
        return new LossParts(total.MoveToOuterDisposeScope(), cls.item<float>(), box.item<float>(), landmark.item<float>(), distill.item<float>(),
            positives, negativeCount);
    }

    /// <summary>
    /// Background anchors on which the teacher is confident of a face become <see cref="AnchorLabel.Ignore"/> for the
    /// mining: the annotations leave out faces (far, turned away), and teaching the model that those are background is
    /// how fine-tuning forgets.
    /// </summary>
    internal static Tensor IgnoreTeacherFaces(Tensor labels, Tensor teacherLogProb, float threshold)
    {
        using var scope = NewDisposeScope();
        using var background = AnchorLabel.Background.ToScalar();
        using var ignore = AnchorLabel.Ignore.ToScalar();
        using var logThreshold = MathF.Log(threshold).ToScalar();
        var confident = teacherLogProb[.., .., 1].ge(logThreshold).logical_and(labels.eq(background));
        return labels.masked_fill(confident, ignore).MoveToOuterDisposeScope();
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
        using var background = AnchorLabel.Background.ToScalar();
        using var face = AnchorLabel.Face.ToScalar();
        using var sortsLast = float.NegativeInfinity.ToScalar();
        var candidate = labels.eq(background);
        var score = backgroundLoss.detach().masked_fill(candidate.logical_not(), sortsLast);
        var order = score.argsort(1, descending: true);
        var rank = order.argsort(1);
        // A handful of numbers per batch: computed in C#.
        long[] positives = labels.eq(face).sum(1).data<long>().ToArray();
        long[] available = candidate.sum(1).data<long>().ToArray();
        var wanted = new long[positives.Length];
        for (int i = 0; i < wanted.Length; i++) wanted[i] = Math.Min(Math.Max(positives[i], 1) * ratio, available[i]);
        return rank.lt(torch.tensor(wanted).unsqueeze(1)).logical_and(candidate).MoveToOuterDisposeScope();
    }
}
