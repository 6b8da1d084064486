using System.Globalization;
using System.Text;
using EdgeMask.Core.Detection;

namespace EdgeMask.Core.Evaluation;

/// <summary>
/// A confusion matrix over the mask labels: rows are the true label, columns the predicted one. The figures a site
/// and the issue ask for are read from it: accuracy, recall per class, how many badly worn masks were caught as a
/// violation (labelled no_mask or incorrect), and mask-versus-violation accuracy.
/// </summary>
public sealed class LabelConfusion
{
    private const int N = 3;
    private readonly int[] _counts = new int[N * N];

    public void Add(MaskLabel truth, MaskLabel predicted) => _counts[Index(truth) * N + Index(predicted)]++;

    /// <summary>The nine counts, row by row (true mask, no_mask, incorrect × predicted mask, no_mask, incorrect), e.g. to store them.</summary>
    public int[] ToArray() => (int[])_counts.Clone();

    /// <summary>The matrix of nine counts written by <see cref="ToArray"/>.</summary>
    public static LabelConfusion FromArray(IReadOnlyList<int> counts)
    {
        ArgumentNullException.ThrowIfNull(counts);
        if (counts.Count != N * N) throw new ArgumentException($"A label confusion matrix has {N * N} counts, not {counts.Count}.", nameof(counts));
        var m = new LabelConfusion();
        for (int i = 0; i < counts.Count; i++)
            m._counts[i] = counts[i] >= 0 ? counts[i] : throw new ArgumentException("Counts cannot be negative.", nameof(counts));
        return m;
    }

    /// <summary>Adds every count of <paramref name="other"/>.</summary>
    public void Add(LabelConfusion other)
    {
        ArgumentNullException.ThrowIfNull(other);
        for (int i = 0; i < _counts.Length; i++) _counts[i] += other._counts[i];
    }

    public int this[MaskLabel truth, MaskLabel predicted] => _counts[Index(truth) * N + Index(predicted)];

    public int Total => _counts.Sum();

    public int TruthCount(MaskLabel truth)
    {
        int row = Index(truth) * N, sum = 0;
        for (int p = 0; p < N; p++) sum += _counts[row + p];
        return sum;
    }

    public int PredictedCount(MaskLabel predicted)
    {
        int sum = 0;
        for (int t = 0; t < N; t++) sum += _counts[t * N + Index(predicted)];
        return sum;
    }

    /// <summary>Faces labelled exactly as annotated.</summary>
    public Fraction Accuracy
    {
        get
        {
            int hits = 0;
            for (int i = 0; i < N; i++) hits += _counts[i * N + i];
            return new Fraction(hits, Total);
        }
    }

    /// <summary>Of the faces whose true label is <paramref name="truth"/>, how many were labelled so.</summary>
    public Fraction Recall(MaskLabel truth) => new(this[truth, truth], TruthCount(truth));

    /// <summary>Of the faces whose true label is <paramref name="truth"/>, how many were called a violation (no_mask or incorrect).</summary>
    public Fraction CaughtAsViolation(MaskLabel truth) =>
        new(this[truth, MaskLabel.NoMask] + this[truth, MaskLabel.Incorrect], TruthCount(truth));

    /// <summary>
    /// Accuracy on the mask and no_mask faces only (badly worn masks left out), where a no_mask face labelled
    /// incorrect still counts as right: the question is "masked or a violation", as the default policy asks it.
    /// </summary>
    public Fraction MaskVersusNoMask =>
        new(this[MaskLabel.Mask, MaskLabel.Mask] + this[MaskLabel.NoMask, MaskLabel.NoMask] + this[MaskLabel.NoMask, MaskLabel.Incorrect],
            TruthCount(MaskLabel.Mask) + TruthCount(MaskLabel.NoMask));

    /// <summary>The labels that occur as a true or a predicted label, in label order (a two-class run shows 2×2).</summary>
    public IReadOnlyList<MaskLabel> LabelsInUse() =>
        MaskLabelExtensions.All.Where(l => TruthCount(l) > 0 || PredictedCount(l) > 0 || l != MaskLabel.Incorrect).ToArray();

    /// <summary>A Markdown table: one row per true label, one column per predicted label.</summary>
    public string ToMarkdown(string truthHeading = "true \\ predicted")
    {
        var labels = LabelsInUse();
        var sb = new StringBuilder();
        sb.Append("| ").Append(truthHeading).Append(" | ").AppendJoin(" | ", labels.Select(l => l.ToWireName())).AppendLine(" | recall |");
        sb.Append("| --- |").Append(string.Concat(Enumerable.Repeat(" ---: |", labels.Count + 1))).AppendLine();
        foreach (var t in labels)
        {
            sb.Append("| ").Append(t.ToWireName()).Append(" | ")
              .AppendJoin(" | ", labels.Select(p => this[t, p].ToString(CultureInfo.InvariantCulture)))
              .Append(" | ").Append(Recall(t).ToPercent()).AppendLine(" |");
        }
        return sb.ToString();
    }

    private static int Index(MaskLabel label) => label switch
    {
        MaskLabel.Mask => 0,
        MaskLabel.NoMask => 1,
        MaskLabel.Incorrect => 2,
        _ => throw new ArgumentOutOfRangeException(nameof(label), label, "Unknown mask label."),
    };
}
