using EdgeMask.Core.Detection;
using EdgeMask.Core.Geometry;

namespace EdgeMask.Core.Evaluation;

/// <summary>
/// How <c>mask_weared_incorrect</c> faces count — annotated ones, and faces the classifier labels incorrect alike: as
/// violations (no_mask, the default policy's view), as masked, annotated ones not at all (a face labelled incorrect then
/// counts as no_mask), or as their own class.
/// </summary>
public enum IncorrectMaskPolicy
{
    AsNoMask,
    AsMask,
    Ignore,
    AsIncorrect,
}

/// <summary>A detection with its classification, as the evaluator scores it.</summary>
public readonly record struct EvalDetection(BoxF Box, float Score, MaskClassification Mask)
{
    /// <summary>A detection known only by its label and that label's probability (the rest goes to mask, or to no_mask for a mask label).</summary>
    public EvalDetection(BoxF box, float score, MaskLabel label, float labelProbability)
        : this(box, score, label switch
        {
            MaskLabel.Mask => new MaskClassification(labelProbability, 1f - labelProbability, 0f),
            MaskLabel.NoMask => new MaskClassification(1f - labelProbability, labelProbability, 0f),
            _ => new MaskClassification(1f - labelProbability, 0f, labelProbability),
        })
    {
    }

    public MaskLabel Label => Mask.Label;
}

/// <summary>found / total, with the ratio (NaN when there is nothing to find).</summary>
public readonly record struct Fraction(int Hits, int Total)
{
    public double Value => Total == 0 ? double.NaN : (double)Hits / Total;

    /// <summary>"98.86 %" (two decimals, invariant culture), or "—" when there is nothing to count.</summary>
    public string ToPercent(int decimals = 2) => Total == 0
        ? "—"
        : (100.0 * Hits / Total).ToString("F" + decimals.ToString(System.Globalization.CultureInfo.InvariantCulture), System.Globalization.CultureInfo.InvariantCulture) + " %";
}

/// <summary>Everything <c>edgemask eval</c> reports.</summary>
public sealed record EvaluationReport(
    int Images,
    Fraction Recall,
    Fraction RecallLarge,
    Fraction RecallSmall,
    IReadOnlyDictionary<string, Fraction> RecallPerClass,
    IReadOnlyDictionary<string, Fraction> RecallLargePerClass,
    int Detections,
    int FalseDetections,
    Fraction MaskAccuracy,
    Fraction MaskAccuracyLarge,
    double ApMask,
    double ApNoMask)
{
    /// <summary>AP@IoU of the incorrect class; NaN unless it is scored as its own class (<see cref="IncorrectMaskPolicy.AsIncorrect"/>).</summary>
    public double ApIncorrect { get; init; } = double.NaN;

    /// <summary>Mean AP over the classes scored (mask and no_mask, and incorrect when it is its own class).</summary>
    public double MeanAp => double.IsNaN(ApIncorrect) ? (ApMask + ApNoMask) / 2 : (ApMask + ApNoMask + ApIncorrect) / 3;

    /// <summary>Matched faces: annotated class (with_mask → mask, without_mask → no_mask, mask_weared_incorrect → incorrect) × label given.</summary>
    public LabelConfusion Confusion { get; init; } = new();

    /// <summary>The same for faces ≥ the small-face size.</summary>
    public LabelConfusion ConfusionLarge { get; init; } = new();
}

/// <summary>
/// Scores detection and mask classification against Pascal VOC annotations. Face recall: detections matched greedily
/// (by score) to annotated boxes at IoU ≥ the threshold, whatever their label; "large" faces have a short side ≥
/// <c>smallFaceSize</c>. Mask accuracy: on matched faces whose annotated class takes part, with annotated and predicted
/// badly worn masks counted as the <see cref="IncorrectMaskPolicy"/> says. AP@IoU per class: each detection predicts its
/// (counted) label with confidence score × p(label); it is a true positive when it matches an unmatched annotated face of
/// that class; VOC all-points interpolation. The confusion matrices keep the three labels apart whatever the policy.
/// </summary>
public sealed class MaskEvaluator(float iouThreshold = 0.5f, float smallFaceSize = 20f, IncorrectMaskPolicy incorrect = IncorrectMaskPolicy.AsNoMask)
{
    private int _images, _faces, _found, _large, _foundLarge, _small, _foundSmall, _detections, _false;
    private int _classified, _correct, _classifiedLarge, _correctLarge;
    private readonly Dictionary<string, (int Found, int Total)> _perClass = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (int Found, int Total)> _perClassLarge = new(StringComparer.Ordinal);
    private readonly List<(float Confidence, bool TruePositive)>[] _ranked = [[], [], []];
    private readonly int[] _positives = new int[3];
    private readonly LabelConfusion _confusion = new(), _confusionLarge = new();
    private int ScoredClasses => incorrect == IncorrectMaskPolicy.AsIncorrect ? 3 : 2;

    /// <summary>The annotated class as a mask label, or null when it does not take part (unknown name, or ignored).</summary>
    public MaskLabel? MapClass(string name) => name switch
    {
        "with_mask" or "mask" => MaskLabel.Mask,
        "without_mask" or "no_mask" => MaskLabel.NoMask,
        "mask_weared_incorrect" or "mask_worn_incorrectly" or "incorrect" => incorrect switch
        {
            IncorrectMaskPolicy.AsNoMask => MaskLabel.NoMask,
            IncorrectMaskPolicy.AsMask => MaskLabel.Mask,
            IncorrectMaskPolicy.AsIncorrect => MaskLabel.Incorrect,
            _ => null,
        },
        _ => null,
    };

    /// <summary>A predicted label as it is scored: incorrect folded like the annotated class (into no_mask when those are ignored).</summary>
    public MaskLabel CountPredicted(MaskLabel predicted) => predicted != MaskLabel.Incorrect ? predicted : incorrect switch
    {
        IncorrectMaskPolicy.AsMask => MaskLabel.Mask,
        IncorrectMaskPolicy.AsIncorrect => MaskLabel.Incorrect,
        _ => MaskLabel.NoMask,
    };

    /// <summary>p(<paramref name="counted"/>) with badly worn masks folded in where the policy counts them.</summary>
    private float CountedProbability(in MaskClassification c, MaskLabel counted) => counted switch
    {
        MaskLabel.Mask => c.MaskProbability + (incorrect == IncorrectMaskPolicy.AsMask ? c.IncorrectProbability : 0f),
        MaskLabel.NoMask => c.NoMaskProbability + (incorrect is IncorrectMaskPolicy.AsNoMask or IncorrectMaskPolicy.Ignore ? c.IncorrectProbability : 0f),
        _ => c.IncorrectProbability,
    };

    /// <summary>The annotated class as a label, before any folding (null for names that are not mask classes).</summary>
    private static MaskLabel? RawClass(string name) => name switch
    {
        "with_mask" or "mask" => MaskLabel.Mask,
        "without_mask" or "no_mask" => MaskLabel.NoMask,
        "mask_weared_incorrect" or "mask_worn_incorrectly" or "incorrect" => MaskLabel.Incorrect,
        _ => null,
    };

    /// <summary>Adds one image: its annotation and the detections (any order) made on it.</summary>
    public void Add(VocAnnotation truth, ReadOnlySpan<EvalDetection> detections)
    {
        _images++;
        var sorted = detections.ToArray();
        Array.Sort(sorted, (a, b) => b.Score.CompareTo(a.Score));
        var truthBoxes = truth.Objects.Select(o => o.Box).ToArray();
        var matchOfTruth = new int[truthBoxes.Length];
        var matchOfDetection = new int[sorted.Length];
        DetectionMatcher.Match(truthBoxes, sorted.Select(d => d.Box).ToArray(), iouThreshold, matchOfTruth, matchOfDetection);

        _detections += sorted.Length;
        for (int d = 0; d < sorted.Length; d++) if (matchOfDetection[d] < 0) _false++;

        for (int t = 0; t < truthBoxes.Length; t++)
        {
            var obj = truth.Objects[t];
            bool found = matchOfTruth[t] >= 0;
            bool large = obj.Box.ShortSide >= smallFaceSize;
            _faces++; if (found) _found++;
            if (large) { _large++; if (found) _foundLarge++; }
            else { _small++; if (found) _foundSmall++; }
            Bump(_perClass, obj.Name, found);
            if (large) Bump(_perClassLarge, obj.Name, found);

            if (found && RawClass(obj.Name) is { } raw)
            {
                _confusion.Add(raw, sorted[matchOfTruth[t]].Label);
                if (large) _confusionLarge.Add(raw, sorted[matchOfTruth[t]].Label);
            }
            if (found && MapClass(obj.Name) is { } expected)
            {
                bool correct = CountPredicted(sorted[matchOfTruth[t]].Label) == expected;
                _classified++; if (correct) _correct++;
                if (large) { _classifiedLarge++; if (correct) _correctLarge++; }
            }
        }

        // AP: per class, rank this image's detections predicting the class and match them to annotated faces of the class.
        for (int c = 0; c < ScoredClasses; c++)
        {
            var label = (MaskLabel)c;
            var classTruths = new List<BoxF>();
            var ignored = new List<BoxF>();
            foreach (var o in truth.Objects)
            {
                var mapped = MapClass(o.Name);
                if (mapped == label) classTruths.Add(o.Box);
                else if (mapped is null) ignored.Add(o.Box);
            }
            _positives[c] += classTruths.Count;
            var taken = new bool[classTruths.Count];
            foreach (var d in sorted)
            {
                if (CountPredicted(d.Label) != label) continue;
                int best = -1;
                float bestIoU = iouThreshold;
                for (int t = 0; t < classTruths.Count; t++)
                {
                    if (taken[t]) continue;
                    float iou = d.Box.IoU(classTruths[t]);
                    if (iou >= bestIoU) { bestIoU = iou; best = t; }
                }
                if (best >= 0)
                {
                    taken[best] = true;
                    _ranked[c].Add((d.Score * CountedProbability(d.Mask, label), true));
                }
                else if (!ignored.Any(b => d.Box.IoU(b) >= iouThreshold))
                {
                    // A detection on an ignored face is neither right nor wrong (like VOC's "difficult").
                    _ranked[c].Add((d.Score * CountedProbability(d.Mask, label), false));
                }
            }
        }
    }

    public EvaluationReport Report() => new(
        _images,
        new Fraction(_found, _faces),
        new Fraction(_foundLarge, _large),
        new Fraction(_foundSmall, _small),
        _perClass.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToDictionary(kv => kv.Key, kv => new Fraction(kv.Value.Found, kv.Value.Total)),
        _perClassLarge.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToDictionary(kv => kv.Key, kv => new Fraction(kv.Value.Found, kv.Value.Total)),
        _detections,
        _false,
        new Fraction(_correct, _classified),
        new Fraction(_correctLarge, _classifiedLarge),
        AveragePrecision(_ranked[(int)MaskLabel.Mask], _positives[(int)MaskLabel.Mask]),
        AveragePrecision(_ranked[(int)MaskLabel.NoMask], _positives[(int)MaskLabel.NoMask]))
    {
        ApIncorrect = ScoredClasses == 3 ? AveragePrecision(_ranked[(int)MaskLabel.Incorrect], _positives[(int)MaskLabel.Incorrect]) : double.NaN,
        Confusion = Copy(_confusion),
        ConfusionLarge = Copy(_confusionLarge),
    };

    private static LabelConfusion Copy(LabelConfusion m)
    {
        var copy = new LabelConfusion();
        copy.Add(m);
        return copy;
    }

    /// <summary>VOC all-points AP: the area under the precision–recall curve with precision made monotone from the right.</summary>
    public static double AveragePrecision(IReadOnlyList<(float Confidence, bool TruePositive)> ranked, int positives)
    {
        if (positives == 0) return double.NaN;
        var order = ranked.OrderByDescending(r => r.Confidence).ToArray();
        int n = order.Length;
        var precision = new double[n + 2];
        var recall = new double[n + 2];
        int tp = 0;
        for (int i = 0; i < n; i++)
        {
            if (order[i].TruePositive) tp++;
            recall[i + 1] = (double)tp / positives;
            precision[i + 1] = (double)tp / (i + 1);
        }
        recall[n + 1] = recall[n];
        precision[n + 1] = 0;
        for (int i = n; i >= 0; i--) precision[i] = Math.Max(precision[i], precision[i + 1]);
        double ap = 0;
        for (int i = 1; i <= n + 1; i++) ap += (recall[i] - recall[i - 1]) * precision[i];
        return ap;
    }

    private static void Bump(Dictionary<string, (int Found, int Total)> d, string key, bool found)
    {
        d.TryGetValue(key, out var v);
        d[key] = (v.Found + (found ? 1 : 0), v.Total + 1);
    }
}
