using EdgeMask.Core.Events;
using EdgeMask.Core.Policy;

namespace EdgeMask.Core.Tests.Policy;

/// <summary>What a consumer of version 1 receives from a device publishing <c>contract.version: 1</c>.</summary>
public class EventContractTests
{
    private static MaskEvent Incorrect(string type = EventTypes.ViolationStart) => new()
    {
        Id = "dev-cam-3-1",
        Type = type,
        Sequence = 0,
        Device = "dev",
        Camera = "cam",
        TrackId = 3,
        StartedAt = DateTimeOffset.UnixEpoch,
        At = DateTimeOffset.UnixEpoch,
        Frame = new EventFrame(960, 540),
        Face = new EventFace([1, 2, 3, 4], [0, 0, 0, 0], [[0, 0], [0, 0], [0, 0], [0, 0], [0, 0]], 0.9f),
        Mask = new EventMask("incorrect", 0.7f, 8, 6) { Probabilities = new EventProbabilities(0.1f, 0.2f, 0.7f) },
        Snapshot = EventSnapshot.None,
    };

    [Fact]
    public void ToVersion1_BadlyWornMaskViolation_IsANoMaskViolationWithTheUnmaskedProbability()
    {
        var v1 = Incorrect().ToVersion1(IncorrectMaskCounting.Violation);

        Assert.Equal(MaskEvent.SchemaNameV1, v1.Schema);
        Assert.Equal(EventTypes.ViolationStart, v1.Type);
        Assert.Equal("no_mask", v1.Mask.Label);
        Assert.Equal(0.9f, v1.Mask.Probability, 5);
        Assert.Null(v1.Mask.Probabilities);
        Assert.Equal((8, 6), (v1.Mask.FramesObserved, v1.Mask.FramesUnmasked));
        Assert.DoesNotContain("incorrect", System.Text.Encoding.UTF8.GetString(EventJsonContext.Serialize(v1)));
    }

    [Theory]
    [InlineData(EventTypes.IncorrectStart, EventTypes.ViolationStart)]
    [InlineData(EventTypes.IncorrectUpdate, EventTypes.ViolationUpdate)]
    [InlineData(EventTypes.IncorrectEnd, EventTypes.ViolationEnd)]
    public void ToVersion1_SeparateIncorrectEpisode_BecomesTheViolationOfTheSameStep(string type, string expected) =>
        Assert.Equal(expected, Incorrect(type).ToVersion1(IncorrectMaskCounting.Separate).Type);

    [Fact]
    public void ToVersion1_SiteCountsBadlyWornAsCompliant_FoldsIntoMask()
    {
        var end = Incorrect(EventTypes.ViolationEnd) with { Sequence = 2, EndedAt = DateTimeOffset.UnixEpoch, EndReason = "masked" };

        var v1 = end.ToVersion1(IncorrectMaskCounting.Compliant);

        Assert.Equal("mask", v1.Mask.Label);
        Assert.Equal(0.8f, v1.Mask.Probability, 5);
    }

    [Fact]
    public void ForVersion_Current_Unchanged_AndVersion1Idempotent()
    {
        var e = Incorrect();
        Assert.Same(e, e.ForVersion(EventContract.CurrentVersion, IncorrectMaskCounting.Violation));
        var v1 = e.ToVersion1(IncorrectMaskCounting.Violation);
        Assert.Same(v1, v1.ToVersion1(IncorrectMaskCounting.Violation));
        Assert.Throws<ArgumentOutOfRangeException>(() => e.ForVersion(3, IncorrectMaskCounting.Violation));
    }

    [Fact]
    public void StatsToVersion1_LabelCountsLeftOutEverythingElseKeepsItsMeaning()
    {
        var s = new CameraStats
        {
            Device = "dev", Camera = "cam", At = DateTimeOffset.UnixEpoch, IntervalSeconds = 10, FramesPerSecond = 15,
            LatencyMs = new LatencyStats(1, 2, 3), FramesProcessed = 150, DroppedFrames = 0, FacesSeen = 20,
            FacesUnmasked = 7, FacesByLabel = new LabelCounts(10, 4, 3), ActiveViolations = 1, ComplianceRate = 10.0 / 17,
        };

        var v1 = s.ToVersion1();

        Assert.Equal(CameraStats.SchemaNameV1, v1.Schema);
        Assert.Null(v1.FacesByLabel);
        Assert.Equal(s with { Schema = CameraStats.SchemaNameV1, FacesByLabel = null }, v1);
        Assert.Same(s, s.ForVersion(EventContract.CurrentVersion));
    }
}
