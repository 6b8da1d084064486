using EdgeMask.Core.Detection;
using EdgeMask.Core.Events;
using EdgeMask.Core.Policy;
using EdgeMask.Core.Tests.Tracking;
using EdgeMask.Core.Tracking;
using static EdgeMask.Core.Tests.Tracking.Faces;

namespace EdgeMask.Core.Tests.Policy;

public class MaskEventFactoryTests
{
    // The frame-edge rule off: these specify the event's fields, including for a box beyond the frame.
    private static PipelineHarness StartedViolation(FaceDetection face)
    {
        var h = new PipelineHarness(new FaceTrackerOptions { ConfirmHits = 1 }, new ViolationPolicyOptions { EdgeMargin = null });
        for (int f = 0; f < 5; f++) h.Step((face, Unmasked(0.8f)));
        return h;
    }

    [Fact]
    public void Create_StartDecision_FillsTheContractFields()
    {
        var face = Face(480, 270, 100, score: 0.93f);
        var h = StartedViolation(face);

        MaskEvent e = Assert.Single(h.Events);

        Assert.Equal(MaskEvent.SchemaName, e.Schema);
        Assert.Equal(EventTypes.ViolationStart, e.Type);
        Assert.Equal("dev1", e.Device);
        Assert.Equal("cam1", e.Camera);
        Assert.Equal(1, e.TrackId);
        Assert.Equal(new EventFrame(960, 540), e.Frame);
        Assert.Equal([430f, 220f, 530f, 320f], e.Face.Box);
        Assert.Equal([430f / 960, 220f / 540, 530f / 960, 320f / 540], e.Face.BoxNormalized);
        Assert.Equal(5, e.Face.Landmarks.Length);
        Assert.All(e.Face.Landmarks, p => Assert.Equal(2, p.Length));
        Assert.Equal(face.Landmarks.Nose.X, e.Face.Landmarks[2][0]);
        Assert.Equal(0.93f, e.Face.Score);
        Assert.Equal("no_mask", e.Mask.Label);
        Assert.Equal(0.8f, e.Mask.Probability, 5);
        Assert.Equal(5, e.Mask.FramesObserved);
        Assert.Equal(5, e.Mask.FramesUnmasked);
        Assert.Equal(new EventSnapshot(true, "snap-1", "edgemask/dev1/cam1/snapshot", false), e.Snapshot);
    }

    [Fact]
    public void Create_FaceBeyondTheFrame_NormalizedBoxStaysWithinZeroToOne()
    {
        var h = StartedViolation(Face(940, 530, 100));

        MaskEvent e = Assert.Single(h.Events);

        Assert.All(e.Face.BoxNormalized, v => Assert.InRange(v, 0f, 1f));
        Assert.Equal(960f, e.Face.Box[2]);
        Assert.Equal(540f, e.Face.Box[3]);
    }

    [Fact]
    public void Create_EndDecision_SerializesWithReasonAndRoundTrips()
    {
        var h = StartedViolation(Face(480, 270, 100));
        var end = Assert.Single(h.Flush());

        byte[] json = EventJsonContext.Serialize(end);
        string text = System.Text.Encoding.UTF8.GetString(json);
        MaskEvent back = EventJsonContext.DeserializeEvent(json);

        Assert.Contains("\"type\":\"violation.end\"", text);
        Assert.Contains("\"endReason\":\"shutdown\"", text);
        Assert.Contains("\"sequence\":1", text);
        Assert.Equal(end.Id, back.Id);
        Assert.Equal(end.EndedAt, back.EndedAt);
        Assert.Equal(end.Face.Box, back.Face.Box);
    }

    [Fact]
    public void Create_SnapshotGiven_EventNamesExactlyThatSnapshot()
    {
        var tracker = new FaceTracker(new FaceTrackerOptions { ConfirmHits = 1 });
        var policy = new ViolationPolicy(new ViolationPolicyOptions(), "d", "c");
        var factory = new MaskEventFactory("d", "c");
        for (int f = 0; f < 5; f++)
        {
            tracker.Update([Face(300, 300, 80)], [Unmasked()], f, At(f));
            policy.Evaluate(tracker, 960, 540);
        }
        ViolationDecision start = policy.Decisions[0];

        Assert.Equal(EventSnapshot.None, factory.Create(start, EventSnapshot.None).Snapshot);
        var snap = new EventSnapshot(true, "s1", "t", true);
        Assert.Equal(snap, factory.Create(start, snap).Snapshot);
    }

    [Fact]
    public void Create_ThreeClassVerdict_CarriesEveryProbability()
    {
        var h = StartedViolation(Face(480, 270, 100));

        var p = Assert.Single(h.Events).Mask.Probabilities!;

        Assert.Equal(0.2f, p.Mask, 5);
        Assert.Equal(0.8f, p.NoMask, 5);
        Assert.Equal(0f, p.Incorrect);
        Assert.Contains("\"probabilities\":{\"mask\":", System.Text.Encoding.UTF8.GetString(EventJsonContext.Serialize(h.Events[0])));
        Assert.Contains("\"no_mask\":", System.Text.Encoding.UTF8.GetString(EventJsonContext.Serialize(h.Events[0])));
    }

    [Fact]
    public void Create_TwoClassClassifier_LeavesIncorrectOutRatherThanClaimingZero()
    {
        var tracker = new FaceTracker(new FaceTrackerOptions { ConfirmHits = 1 });
        var policy = new ViolationPolicy(new ViolationPolicyOptions(), "d", "c");
        var factory = new MaskEventFactory("d", "c") { HasIncorrect = false };
        for (int f = 0; f < 5; f++)
        {
            tracker.Update([Face(300, 300, 80)], [Unmasked()], f, At(f));
            policy.Evaluate(tracker, 960, 540);
        }

        var e = factory.Create(policy.Decisions[0], EventSnapshot.None);

        Assert.Null(e.Mask.Probabilities!.Incorrect);
        Assert.DoesNotContain("incorrect", System.Text.Encoding.UTF8.GetString(EventJsonContext.Serialize(e)));
    }

    [Fact]
    public void Create_DefaultDecision_ThrowsArgumentException()
    {
        var factory = new MaskEventFactory("d", "c");

        Assert.Throws<ArgumentException>(() => factory.Create(default, EventSnapshot.None));
    }

    [Fact]
    public void WireNames_KindsAndReasons_MatchTheContract()
    {
        Assert.Equal(EventTypes.ViolationStart, ViolationDecisionKind.Start.ToWireName());
        Assert.Equal(EventTypes.ViolationUpdate, ViolationDecisionKind.Update.ToWireName());
        Assert.Equal(EventTypes.ViolationEnd, ViolationDecisionKind.End.ToWireName());
        Assert.Equal(EventTypes.IncorrectStart, ViolationDecisionKind.Start.ToWireName(ViolationKind.Incorrect));
        Assert.Equal(EventTypes.IncorrectUpdate, ViolationDecisionKind.Update.ToWireName(ViolationKind.Incorrect));
        Assert.Equal(EventTypes.IncorrectEnd, ViolationDecisionKind.End.ToWireName(ViolationKind.Incorrect));
        Assert.Equal("masked", ViolationEndReason.Masked.ToWireName());
        Assert.Equal("lost", ViolationEndReason.Lost.ToWireName());
        Assert.Equal("shutdown", ViolationEndReason.Shutdown.ToWireName());
    }
}
