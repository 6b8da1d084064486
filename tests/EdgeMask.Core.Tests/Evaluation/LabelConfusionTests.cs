using EdgeMask.Core.Detection;
using EdgeMask.Core.Evaluation;

namespace EdgeMask.Core.Tests.Evaluation;

public sealed class LabelConfusionTests
{
    /// <summary>10 masks (9 right, 1 called incorrect), 5 bare faces (3 right, 1 called incorrect, 1 mask), 4 badly worn (2 right, 1 no_mask, 1 mask).</summary>
    private static LabelConfusion Sample()
    {
        var m = new LabelConfusion();
        void Add(MaskLabel t, MaskLabel p, int n) { for (int i = 0; i < n; i++) m.Add(t, p); }
        Add(MaskLabel.Mask, MaskLabel.Mask, 9);
        Add(MaskLabel.Mask, MaskLabel.Incorrect, 1);
        Add(MaskLabel.NoMask, MaskLabel.NoMask, 3);
        Add(MaskLabel.NoMask, MaskLabel.Incorrect, 1);
        Add(MaskLabel.NoMask, MaskLabel.Mask, 1);
        Add(MaskLabel.Incorrect, MaskLabel.Incorrect, 2);
        Add(MaskLabel.Incorrect, MaskLabel.NoMask, 1);
        Add(MaskLabel.Incorrect, MaskLabel.Mask, 1);
        return m;
    }

    [Fact]
    public void Figures_HandCountedMatrix_Exact()
    {
        var m = Sample();
        Assert.Equal(19, m.Total);
        Assert.Equal(new Fraction(14, 19), m.Accuracy);
        Assert.Equal(new Fraction(9, 10), m.Recall(MaskLabel.Mask));
        Assert.Equal(new Fraction(3, 5), m.Recall(MaskLabel.NoMask));
        Assert.Equal(new Fraction(2, 4), m.Recall(MaskLabel.Incorrect));
        Assert.Equal(new Fraction(3, 4), m.CaughtAsViolation(MaskLabel.Incorrect));
        // mask vs no_mask: 9 masks right + 3 bare right + 1 bare called incorrect (still a violation) of 15.
        Assert.Equal(new Fraction(13, 15), m.MaskVersusNoMask);
    }

    [Fact]
    public void ToArrayFromArray_RoundTripsAndRefusesBadCounts()
    {
        var m = Sample();
        var copy = LabelConfusion.FromArray(m.ToArray());
        Assert.Equal(m.ToArray(), copy.ToArray());
        Assert.Throws<ArgumentException>(() => LabelConfusion.FromArray([1, 2, 3]));
        Assert.Throws<ArgumentException>(() => LabelConfusion.FromArray([0, 0, 0, 0, -1, 0, 0, 0, 0]));
    }

    [Fact]
    public void LabelsInUse_NoIncorrectAnywhere_TwoByTwo()
    {
        var m = new LabelConfusion();
        m.Add(MaskLabel.Mask, MaskLabel.NoMask);
        Assert.Equal([MaskLabel.Mask, MaskLabel.NoMask], m.LabelsInUse());
        Assert.DoesNotContain("incorrect", m.ToMarkdown());
        Assert.Equal(3, Sample().LabelsInUse().Count);
    }

    [Fact]
    public void ToMarkdown_Sample_RowPerTrueLabelWithRecall()
    {
        string md = Sample().ToMarkdown();
        Assert.Contains("| incorrect | 1 | 1 | 2 | 50.00 % |", md);
        Assert.Contains("| mask | 9 | 0 | 1 | 90.00 % |", md);
    }
}
