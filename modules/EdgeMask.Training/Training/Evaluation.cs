using System.Globalization;
using EdgeMask.Core.Detection;
using EdgeMask.Training.Data;

namespace EdgeMask.Training.Training;

/// <summary>Accuracy of one subset of a dev set; mask recall and no_mask recall show which class suffers.</summary>
internal sealed record DevMetric(string Name, int Count, double Accuracy, double RecallMask, double RecallNoMask)
{
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Name}: {Accuracy:P2} of {Count} (mask recall {RecallMask:P1}, no_mask recall {RecallNoMask:P1})");
}

/// <summary>Scores p(mask) predictions on the dev sets the way issue 3 states the targets.</summary>
internal static class Evaluation
{
    /// <summary>
    /// Subsets reported per set. For photo sets: faces ≥ <paramref name="minFace"/> px with_mask vs without_mask (the
    /// headline), the same counting mask_weared_incorrect as no_mask, and all sizes. For crop sets: all images.
    /// </summary>
    public static List<DevMetric> Score(FaceSet set, ReadOnlySpan<float> maskProbability, float minFace)
    {
        var list = new List<DevMetric>();
        var samples = set.Samples;
        var p = maskProbability.ToArray();
        if (set.IsPhotoSet)
        {
            list.Add(Metric($"{set.Name} ≥{minFace:0}px", samples, p, s => s.ShortSide >= minFace && !s.WornIncorrectly));
            list.Add(Metric($"{set.Name} ≥{minFace:0}px incl. incorrect as no_mask", samples, p, s => s.ShortSide >= minFace));
            list.Add(Metric($"{set.Name} all sizes", samples, p, s => !s.WornIncorrectly));
            list.Add(Metric($"{set.Name} all sizes incl. incorrect as no_mask", samples, p, _ => true));
            list.Add(Metric($"{set.Name} mask_weared_incorrect only", samples, p, s => s.WornIncorrectly));
        }
        else
        {
            list.Add(Metric(set.Name, samples, p, s => !s.WornIncorrectly));
        }
        return list;
    }

    private static DevMetric Metric(string name, IReadOnlyList<FaceSample> samples, float[] p, Func<FaceSample, bool> include)
    {
        int n = 0, correct = 0, mask = 0, maskOk = 0, noMask = 0, noMaskOk = 0;
        for (int i = 0; i < samples.Count; i++)
        {
            var s = samples[i];
            if (!include(s)) continue;
            n++;
            bool predictedMask = p[i] >= 0.5f;
            if (s.Label == MaskLabel.Mask)
            {
                mask++;
                if (predictedMask) { maskOk++; correct++; }
            }
            else
            {
                noMask++;
                if (!predictedMask) { noMaskOk++; correct++; }
            }
        }
        return new DevMetric(name, n, Ratio(correct, n), Ratio(maskOk, mask), Ratio(noMaskOk, noMask));
    }

    private static double Ratio(int a, int b) => b == 0 ? double.NaN : (double)a / b;
}
