using EdgeMask.Core.Detection;
using EdgeMask.Core.Events;
using EdgeMask.Core.Policy;
using EdgeMask.Core.Tests.Tracking;
using EdgeMask.Core.Tracking;
using static EdgeMask.Core.Tests.Tracking.Faces;

namespace EdgeMask.Core.Tests.Policy;

/// <summary><c>violation.incorrectCounts</c>: how a face labelled incorrect (a badly worn mask) counts.</summary>
public class IncorrectMaskPolicyTests
{
    private static readonly FaceDetection Person = Face(300, 250, 80);

    private static PipelineHarness Harness(IncorrectMaskCounting counting) =>
        new(new FaceTrackerOptions { ConfirmHits = 1 }, new ViolationPolicyOptions { IncorrectCounts = counting });

    [Fact]
    public void Violation_Default_BadlyWornMaskStartsAViolationLabelledIncorrect()
    {
        var h = Harness(new ViolationPolicyOptions().IncorrectCounts);
        for (int f = 0; f < 4; f++) Assert.Empty(h.Step((Person, Incorrect())));

        MaskEvent start = Assert.Single(h.Step((Person, Incorrect())));

        Assert.Equal(EventTypes.ViolationStart, start.Type);
        Assert.Equal("incorrect", start.Mask.Label);
        Assert.Equal(0.9f, start.Mask.Probability, 5);
        Assert.Equal(new EventProbabilities(0.05f, 0.05f, 0.9f), start.Mask.Probabilities! with { Mask = MathF.Round(start.Mask.Probabilities!.Mask, 5) });
        Assert.Equal(5, start.Mask.FramesUnmasked);
    }

    [Fact]
    public void Violation_NoMaskAndIncorrectFramesMixed_AddUpToOneViolation()
    {
        // Neither label alone reaches K = 5 of 8; not properly masked, the person is, in every frame.
        var h = Harness(IncorrectMaskCounting.Violation);
        for (int f = 0; f < 8; f++) h.Step((Person, f % 2 == 0 ? Unmasked() : Incorrect()));

        Assert.Equal(1, h.Starts);
        Assert.Empty(h.OfType(EventTypes.IncorrectStart));
    }

    [Fact]
    public void Violation_MaskSplitBetweenNoMaskAndIncorrect_CountsTheirSum()
    {
        // p(mask) 0.2: no single label reaches 0.7, but the person is not properly masked with p 0.8.
        var h = Harness(IncorrectMaskCounting.Violation);
        for (int f = 0; f < 5; f++) h.Step((Person, new MaskClassification(0.2f, 0.4f, 0.4f)));

        Assert.Equal(1, h.Starts);
    }

    [Fact]
    public void Compliant_BadlyWornMask_RaisesNothingAndCountsAsCompliant()
    {
        var h = Harness(IncorrectMaskCounting.Compliant);
        for (int f = 0; f < 40; f++) Assert.Empty(h.Step((Person, Incorrect())));

        var c = h.Policy.Counters.Read();
        Assert.Equal(40, c.LabelledIncorrect);
        Assert.Equal((0L, 40L), (c.FacesUnmasked, c.FacesMasked));
        Assert.Equal(1.0, c.ComplianceRateSince(default));
    }

    [Fact]
    public void Compliant_NoMask_StillAViolation()
    {
        var h = Harness(IncorrectMaskCounting.Compliant);
        for (int f = 0; f < 5; f++) h.Step((Person, Unmasked()));

        Assert.Equal(1, h.Starts);
    }

    [Fact]
    public void Compliant_MaskPulledBelowTheNoseDuringAViolation_EndsItAsMasked()
    {
        var h = Harness(IncorrectMaskCounting.Compliant);
        for (int f = 0; f < 5; f++) h.Step((Person, Unmasked()));
        for (int f = 0; f < 4; f++) h.Step((Person, Incorrect()));

        MaskEvent end = Assert.Single(h.OfType(EventTypes.ViolationEnd));
        Assert.Equal("masked", end.EndReason);
    }

    [Fact]
    public void Separate_BadlyWornMask_OwnEventTypesFromStartToEnd()
    {
        var h = Harness(IncorrectMaskCounting.Separate);
        for (int f = 0; f < 5; f++) h.Step((Person, Incorrect()));
        for (int f = 0; f < 4; f++) h.Step((Person, Masked()));

        Assert.Equal([EventTypes.IncorrectStart, EventTypes.IncorrectEnd], h.Events.Select(e => e.Type));
        Assert.Equal(0, h.Starts);
        Assert.Equal("incorrect", h.Events[0].Mask.Label);
        Assert.Equal(ViolationKind.Incorrect, h.Snapshots[0].Episode.Kind);
        h.AssertEpisodesWellFormed();
    }

    [Fact]
    public void Separate_NoMask_StaysAViolation()
    {
        var h = Harness(IncorrectMaskCounting.Separate);
        for (int f = 0; f < 5; f++) h.Step((Person, Unmasked()));

        Assert.Equal(EventTypes.ViolationStart, Assert.Single(h.Events).Type);
    }

    [Theory]
    [InlineData(3, EventTypes.IncorrectStart)]   // 3 of the 5 strong frames badly worn: an incorrect-mask episode
    [InlineData(2, EventTypes.ViolationStart)]   // 2 of 5: no mask
    public void Separate_MixedWindow_KindIsWhatMostStrongFramesShow(int incorrectFrames, string expected)
    {
        var h = Harness(IncorrectMaskCounting.Separate);
        for (int f = 0; f < 5; f++) h.Step((Person, f < incorrectFrames ? Incorrect() : Unmasked()));

        Assert.Equal(expected, Assert.Single(h.Events).Type);
    }

    [Fact]
    public void Counters_ThreeLabels_CountedApartComplianceByPolicy()
    {
        var h = Harness(IncorrectMaskCounting.Violation);
        var a = Face(150, 200, 80);
        var b = Face(500, 200, 80);
        var c = Face(800, 200, 80);
        for (int f = 0; f < 4; f++) h.Step((a, Masked()), (b, Incorrect()), (c, Unmasked()));

        var k = h.Policy.Counters.Read();
        Assert.Equal((4L, 4L, 4L, 12L), (k.LabelledMask, k.LabelledIncorrect, k.LabelledNoMask, k.FacesClassified));
        // As the policy counts: the badly worn masks are unmasked, like the bare faces.
        Assert.Equal((4L, 8L), (k.FacesMasked, k.FacesUnmasked));
        Assert.Equal(4.0 / 12.0, k.ComplianceRateSince(default)!.Value, 6);
    }
}
