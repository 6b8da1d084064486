using EdgeMask.Core.Events;
using EdgeMask.Core.Geometry;
using EdgeMask.Core.Policy;
using EdgeMask.Core.Tests.Tracking;
using EdgeMask.Core.Tracking;
using static EdgeMask.Core.Tests.Tracking.Faces;

namespace EdgeMask.Core.Tests.Policy;

/// <summary>
/// Stationary faces (pictures: posters, screens) and ignore zones: a picture that a crowd hides and the tracker finds
/// again as a new track must not start a violation each time.
/// </summary>
public class StationaryFaceTests
{
    private static readonly FaceTrackerOptions ConfirmAtOnce = new() { ConfirmHits = 1 };

    // 2 s at 15 frames/s = 30 frames; the tracker drops an unseen track after 20 frames.
    private static readonly StationaryFaceOptions Quick = new() { After = TimeSpan.FromSeconds(2), ForgetAfter = TimeSpan.FromSeconds(10) };

    private static PipelineHarness Harness(StationaryFaceOptions? stationary = null, IReadOnlyList<ZoneOptions>? ignore = null,
        IReadOnlyList<ZoneOptions>? zones = null) =>
        new(ConfirmAtOnce, new ViolationPolicyOptions { Stationary = stationary ?? Quick, IgnoreZones = ignore ?? [], Zones = zones ?? [] });

    /// <summary>A poster's face: still but for a pixel or two of detector jitter.</summary>
    private static IReadOnlyList<MaskEvent> PosterFrame(PipelineHarness h, int frame) =>
        h.Step((Face(300 + (frame % 3 - 1) * 2, 250 + (frame % 2) * 2, 80), Unmasked()));

    /// <summary>The poster in view for <paramref name="frames"/> frames from poster frame <paramref name="frame"/>; the next poster frame.</summary>
    private static int ShowPoster(PipelineHarness h, int frame, int frames)
    {
        for (int f = 0; f < frames; f++) PosterFrame(h, frame++);
        return frame;
    }

    private static void Hide(PipelineHarness h, int frames)
    {
        for (int f = 0; f < frames; f++) h.Step();
    }

    [Fact]
    public void Evaluate_PictureHiddenAndFoundAgain_StartsOnlyTheFirstTime()
    {
        var h = Harness();
        int frame = ShowPoster(h, 0, 45);
        StationaryFace spot = Assert.Single(h.Policy.Stationary.Current);
        Assert.Equal(1, h.Starts);

        for (int round = 0; round < 3; round++)
        {
            Hide(h, 40);
            frame = ShowPoster(h, frame, 60);
        }

        Assert.Equal(1, h.Starts);
        Assert.Equal(1, h.Ends); // the first episode ended lost when the picture was first hidden; held tracks start nothing to end
        StationaryFace after = Assert.Single(h.Policy.Stationary.Current);
        Assert.Equal(spot.LearnedAt, after.LearnedAt);
        Assert.Equal(3, after.HeldStarts);
        Assert.Equal(3, h.Policy.Counters.Read().StationaryHeld);
    }

    [Fact]
    public void Evaluate_LearningOff_PictureStartsEveryTimeItIsFoundAgain()
    {
        var h = Harness(Quick with { Enabled = false });
        int frame = ShowPoster(h, 0, 45);
        for (int round = 0; round < 3; round++)
        {
            Hide(h, 40);
            frame = ShowPoster(h, frame, 60);
        }

        Assert.Equal(4, h.Starts);
        Assert.Empty(h.Policy.Stationary.Current);
    }

    [Fact]
    public void Evaluate_FaceStillForAfter_LearntOnceAndReportedInThatStep()
    {
        var h = Harness();
        int learntAtFrame = -1;
        for (int f = 0; f < 60; f++)
        {
            PosterFrame(h, f);
            if (h.Policy.LearnedThisStep.Length > 0)
            {
                Assert.Equal(-1, learntAtFrame);
                learntAtFrame = f;
            }
        }

        // Classified from frame 0, so the face has stood put for 2 s at frame 30.
        Assert.Equal(30, learntAtFrame);
        StationaryFace spot = Assert.Single(h.Policy.Stationary.Current);
        Assert.Equal(At(30), spot.LearnedAt);
        Assert.Equal(960, spot.FrameWidth);
        Assert.InRange(spot.Box.CenterX, 297f, 303f);
    }

    [Fact]
    public void Evaluate_PersonWalkingSlowly_NeverLearnt()
    {
        var h = Harness();
        // 1 px a frame: 12 px (0.15 of 80) every 12 frames, so the face never stands put for 30 frames.
        for (int f = 0; f < 120; f++) h.Step((Face(200 + f, 250, 80), Unmasked()));

        Assert.Empty(h.Policy.Stationary.Current);
        Assert.Equal(1, h.Starts);
    }

    [Fact]
    public void Evaluate_FaceAppearsAtSpotThenMoves_StartsOnceItMoves()
    {
        var h = Harness();
        int frame = ShowPoster(h, 0, 45);
        Hide(h, 40);

        // Someone stands where the picture was learnt: held while put…
        frame = ShowPoster(h, frame, 20);
        Assert.Equal(1, h.Starts);
        Assert.Equal(1, Assert.Single(h.Policy.Stationary.Current).HeldStarts);

        // …and counted once they move more than the tolerance.
        for (int f = 0; f < 10; f++) h.Step((Face(300 + 4 * f, 250, 80), Unmasked()));

        Assert.Equal(2, h.Starts);
    }

    [Fact]
    public void Evaluate_PictureRevealedBitByBit_StillHeld()
    {
        var h = Harness();
        int frame = ShowPoster(h, 0, 45);
        Hide(h, 40);

        // A passer-by walks on: first the left part of the face shows (a smaller box inside the spot, the same track as
        // the whole face that follows), then all of it.
        for (int f = 0; f < 5; f++) h.Step((Face(290 + 2 * f, 250, 60 + 4 * f), Unmasked()));
        frame = ShowPoster(h, frame, 30);

        Assert.Equal(1, h.Starts);
        Assert.Equal(1, Assert.Single(h.Policy.Stationary.Current).HeldStarts);
    }

    [Fact]
    public void Evaluate_PersonWalksOntoTheSpot_StartsAsUsual()
    {
        var h = Harness();
        int frame = ShowPoster(h, 0, 45);
        Hide(h, 40);

        // A face that appears elsewhere and walks to the spot has moved since it appeared.
        for (int f = 0; f < 20; f++) h.Step((Face(300 - 60 + 3 * f, 250, 80), Unmasked()));

        Assert.Equal(2, h.Starts);
    }

    [Fact]
    public void Evaluate_SpotNotSeenForForgetAfter_ForgottenAndTheFaceCountsAgain()
    {
        var h = Harness();
        int frame = ShowPoster(h, 0, 45);
        Assert.Single(h.Policy.Stationary.Current);

        Hide(h, 10 * 15 + 1);
        Assert.Empty(h.Policy.Stationary.Current);

        frame = ShowPoster(h, frame, 20);
        Assert.Equal(2, h.Starts);
    }

    [Fact]
    public void Evaluate_PictureSeenAgain_SpotKeptAlive()
    {
        var h = Harness();
        int frame = ShowPoster(h, 0, 45);
        // Hidden for 8 s at a time, seen between: never 10 s unseen, so never forgotten.
        for (int round = 0; round < 3; round++)
        {
            Hide(h, 8 * 15);
            frame = ShowPoster(h, frame, 15);
        }

        Assert.Single(h.Policy.Stationary.Current);
        Assert.Equal(1, h.Starts);
    }

    [Fact]
    public void Evaluate_FrameSizeChanges_SpotsForgotten()
    {
        var h = Harness();
        ShowPoster(h, 0, 45);
        Assert.Single(h.Policy.Stationary.Current);

        h.Policy.Evaluate([], [], 1920, 1080, h.Now);

        Assert.Empty(h.Policy.Stationary.Current);
    }

    [Fact]
    public void Reconfigure_LearningTurnedOff_SpotsForgotten()
    {
        var h = Harness();
        ShowPoster(h, 0, 45);
        Assert.Single(h.Policy.Stationary.Current);

        h.Policy.Reconfigure(h.Policy.Options with { Stationary = Quick with { Enabled = false } });

        Assert.Empty(h.Policy.Stationary.Current);
    }

    [Fact]
    public void Constructor_SharedMemory_SpotsOutliveThePolicy()
    {
        var memory = new StationaryFaces();
        var first = new ViolationPolicy(new ViolationPolicyOptions { Stationary = Quick }, "dev1", "cam1", stationary: memory);
        var tracker = new FaceTracker(ConfirmAtOnce);
        for (int f = 0; f < 45; f++)
        {
            tracker.Update([Face(300, 250, 80)], f, At(f));
            foreach (FaceTrack t in tracker.Tracks) t.AttachClassification(Unmasked());
            first.Evaluate(tracker, 960, 540);
        }
        Assert.Single(memory.Current);

        var second = new ViolationPolicy(new ViolationPolicyOptions { Stationary = Quick }, "dev1", "cam1", stationary: memory);

        Assert.Same(memory, second.Stationary);
        Assert.Single(second.Stationary.Current);
    }

    [Fact]
    public void Restore_SpotsFromBefore_FirstAppearanceHeldAndSpotForgottenIfNeverSeen()
    {
        var h = Harness();
        var before = new StationaryFace(new BoxF(260, 210, 340, 290), 960, 540, T0.AddDays(-1), 2);
        h.Policy.Stationary.Restore([before, before with { FrameWidth = 1920, FrameHeight = 1080 }], T0);
        Assert.Single(h.Policy.Stationary.Current);

        for (int f = 0; f < 30; f++) PosterFrame(h, f);

        Assert.Equal(0, h.Starts);
        StationaryFace spot = Assert.Single(h.Policy.Stationary.Current);
        Assert.Equal(before.LearnedAt, spot.LearnedAt);
        Assert.Equal(3, spot.HeldStarts);

        var empty = Harness();
        empty.Policy.Stationary.Restore([before], T0);
        Hide(empty, 10 * 15 + 2);
        Assert.Empty(empty.Policy.Stationary.Current);
    }

    [Fact]
    public void ShiftTimes_ClockSetForwardAnHour_LearntPictureKeptAndStillHeld()
    {
        var h = Harness();
        int frame = ShowPoster(h, 0, 45);
        StationaryFace before = Assert.Single(h.Policy.Stationary.Current);

        // NTP sets the clock an hour forward; the pipeline moves the tracker's and the policy's instants with it.
        var step = TimeSpan.FromHours(1);
        h.ClockStep = step;
        h.Tracker.ShiftTimes(step);
        h.Policy.ShiftTimes(step);
        Hide(h, 40);
        ShowPoster(h, frame, 30);

        // Not forgotten as unseen for an hour (ForgetAfter 10 s), and the picture found again is held.
        StationaryFace after = Assert.Single(h.Policy.Stationary.Current);
        Assert.Equal(before.LearnedAt + step, after.LearnedAt);
        Assert.Equal(1, after.HeldStarts);
        Assert.Equal(1, h.Starts);
    }

    [Fact]
    public void SuggestedIgnoreZone_NormalizedRectangleHalfAFaceAround()
    {
        var spot = new StationaryFace(new BoxF(480, 270, 576, 378), 960, 540, T0, 0);

        ZoneOptions zone = spot.SuggestedIgnoreZone("poster");

        Assert.Equal("poster", zone.Name);
        Assert.Equal(ZoneUnits.Normalized, zone.Units);
        Assert.Equal([new(0.45f, 0.4f), new(0.65f, 0.4f), new(0.65f, 0.8f), new(0.45f, 0.8f)], zone.Points);
        Assert.Equal(new BoxF(0.5f, 0.5f, 0.6f, 0.7f), spot.NormalizedBox);
    }

    private static readonly ZoneOptions PosterArea = new()
    {
        Name = "poster",
        Points = [new(0.25f, 0.35f), new(0.38f, 0.35f), new(0.38f, 0.6f), new(0.25f, 0.6f)],
    };

    [Fact]
    public void Evaluate_IgnoreZone_FacesInsideNeverStartOthersDo()
    {
        var h = Harness(ignore: [PosterArea]);
        for (int f = 0; f < 20; f++) h.Step((Face(300, 250, 80), Unmasked()), (Face(700, 250, 80), Unmasked()));

        MaskEvent start = Assert.Single(h.OfType(EventTypes.ViolationStart));
        Assert.True(start.Face.Box[0] > 600);
    }

    [Fact]
    public void Evaluate_IgnoreZoneInsideAZone_IgnoreWins()
    {
        var leftHalf = new ZoneOptions { Points = [new(0, 0), new(0.5f, 0), new(0.5f, 1), new(0, 1)] };
        var h = Harness(ignore: [PosterArea], zones: [leftHalf]);
        for (int f = 0; f < 20; f++) h.Step((Face(300, 250, 80), Unmasked()), (Face(100, 250, 80), Unmasked()));

        MaskEvent start = Assert.Single(h.OfType(EventTypes.ViolationStart));
        Assert.True(start.Face.Box[0] < 200);
    }

    [Theory]
    [InlineData(0, 0.15f, 900, "Violation:Stationary:After")]
    [InlineData(60, 0f, 900, "Violation:Stationary:Tolerance")]
    [InlineData(60, 1.5f, 900, "Violation:Stationary:Tolerance")]
    [InlineData(60, 0.15f, 30, "Violation:Stationary:ForgetAfter")]
    public void Validate_BadStationaryOption_NamesTheKey(int afterSeconds, float tolerance, int forgetSeconds, string key)
    {
        var options = new ViolationPolicyOptions
        {
            Stationary = new() { After = TimeSpan.FromSeconds(afterSeconds), Tolerance = tolerance, ForgetAfter = TimeSpan.FromSeconds(forgetSeconds) },
        };

        var ex = Assert.Throws<InvalidOptionException>(() => options.Validate());

        Assert.Equal(key, ex.Key);
    }

    [Fact]
    public void Validate_IgnoreZoneWithTwoPoints_NamesTheZone()
    {
        var options = new ViolationPolicyOptions { IgnoreZones = [PosterArea, new ZoneOptions { Points = [new(0, 0), new(1, 1)] }] };

        var ex = Assert.Throws<InvalidOptionException>(() => options.Validate());

        Assert.Equal("Violation:IgnoreZones:1:Points", ex.Key);
    }
}
