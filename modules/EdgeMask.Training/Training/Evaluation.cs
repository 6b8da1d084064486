using System.Globalization;
using EdgeMask.Core.Detection;
using EdgeMask.Core.Evaluation;
using EdgeMask.Training.Data;

namespace EdgeMask.Training.Training;

/// <summary>
/// The labels given to one subset of a dev set, as a confusion matrix (stored as its nine counts so it survives in
/// <c>state.json</c>). Every reported figure is read from it.
/// </summary>
internal sealed record DevMetric(string Name, int[] Counts)
{
    public LabelConfusion Confusion => LabelConfusion.FromArray(Counts);
    public int Count => Counts.Sum();

    public override string ToString()
    {
        var c = Confusion;
        string text = string.Create(CultureInfo.InvariantCulture,
            $"{Name}: {Count} faces, mask vs no_mask {c.MaskVersusNoMask.ToPercent()}, exact {c.Accuracy.ToPercent()} (recall mask {c.Recall(MaskLabel.Mask).ToPercent(1)}, no_mask {c.Recall(MaskLabel.NoMask).ToPercent(1)}");
        if (c.TruthCount(MaskLabel.Incorrect) > 0)
            text += $", incorrect {c.Recall(MaskLabel.Incorrect).ToPercent(1)}, incorrect caught as a violation {c.CaughtAsViolation(MaskLabel.Incorrect).ToPercent(1)}";
        return text + ")";
    }
}

/// <summary>Scores dev-set predictions the way the targets are stated (issue 3, issue 17).</summary>
internal static class Evaluation
{
    /// <summary>
    /// In a photo set's headline figure, the share given to the recall of badly worn masks (labelled incorrect); the rest
    /// is the mask-versus-no_mask accuracy of faces ≥ the minimum size. Badly worn masks are 31 faces of voc853 dev, so
    /// each is worth 3 % of their recall: a larger share would choose epochs on a handful of faces.
    /// </summary>
    public const double IncorrectShareOfHeadline = 0.2;

    /// <summary>
    /// Subsets reported per set. Photo sets: faces ≥ <paramref name="minFace"/> px (the headline) and all sizes;
    /// crop sets: all images.
    /// </summary>
    public static List<DevMetric> Score(FaceSet set, ReadOnlySpan<MaskClassification> predictions, float minFace)
    {
        if (predictions.Length != set.Samples.Count)
            throw new ArgumentException($"{set.Name}: {predictions.Length} predictions for {set.Samples.Count} faces.", nameof(predictions));
        var list = new List<DevMetric>();
        if (set.IsPhotoSet)
        {
            list.Add(Metric(LargeName(set, minFace), set.Samples, predictions, s => s.ShortSide >= minFace));
            list.Add(Metric($"{set.Name} all sizes", set.Samples, predictions, _ => true));
        }
        else
        {
            list.Add(Metric(set.Name, set.Samples, predictions, _ => true));
        }
        return list;
    }

    /// <summary>
    /// The figure an epoch is chosen by: the mean over dev sets of each set's headline. A crop set's headline is its
    /// mask-versus-no_mask accuracy; a photo set's blends that accuracy on faces ≥ the minimum size with the recall of
    /// its badly worn masks (all sizes) when the model has the incorrect label (<see cref="IncorrectShareOfHeadline"/>).
    /// </summary>
    public static double SelectionScore(IReadOnlyList<FaceSet> dev, IReadOnlyList<DevMetric> metrics, float minFace, bool threeClasses)
    {
        var headlines = new List<double>();
        foreach (var set in dev)
        {
            if (!set.IsPhotoSet)
            {
                headlines.Add(Find(metrics, set.Name).Confusion.MaskVersusNoMask.Value);
                continue;
            }
            double accuracy = Find(metrics, LargeName(set, minFace)).Confusion.MaskVersusNoMask.Value;
            double incorrect = Find(metrics, $"{set.Name} all sizes").Confusion.Recall(MaskLabel.Incorrect).Value;
            headlines.Add(threeClasses && !double.IsNaN(incorrect)
                ? (1 - IncorrectShareOfHeadline) * accuracy + IncorrectShareOfHeadline * incorrect
                : accuracy);
        }
        var valid = headlines.Where(h => !double.IsNaN(h)).ToList();
        return valid.Count == 0 ? double.NaN : valid.Average();
    }

    public static string LargeName(FaceSet set, float minFace) => string.Create(CultureInfo.InvariantCulture, $"{set.Name} ≥{minFace:0}px");

    private static DevMetric Find(IReadOnlyList<DevMetric> metrics, string name) =>
        metrics.FirstOrDefault(m => m.Name == name) ?? throw new InvalidOperationException($"No dev figure named '{name}'.");

    private static DevMetric Metric(string name, IReadOnlyList<FaceSample> samples, ReadOnlySpan<MaskClassification> predictions, Func<FaceSample, bool> include)
    {
        var confusion = new LabelConfusion();
        for (int i = 0; i < samples.Count; i++)
            if (include(samples[i])) confusion.Add(samples[i].Label, predictions[i].Label);
        return new DevMetric(name, confusion.ToArray());
    }
}
