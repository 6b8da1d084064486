using EdgeMask.Core.Detection;
using EdgeMask.Core.Events;
using EdgeMask.Core.Geometry;
using EdgeMask.Core.Policy;
using EdgeMask.Core.Tests.Tracking;
using EdgeMask.Core.Tracking;
using static EdgeMask.Core.Tests.Tracking.Faces;

namespace EdgeMask.Core.Tests.Policy;

public class ViolationPolicyTests
{
    private static readonly FaceTrackerOptions ConfirmAtOnce = new() { ConfirmHits = 1 };

    private static PipelineHarness Harness(ViolationPolicyOptions? policy = null, FaceTrackerOptions? tracking = null) =>
        new(tracking ?? ConfirmAtOnce, policy ?? new ViolationPolicyOptions());

    private static readonly FaceDetection Person = Face(300, 250, 80);

    [Fact]
    public void Evaluate_FourOfEightUnmasked_NoStartUntilTheFifth()
    {
        var h = Harness();
        // U M U M U M U: four strong no_mask frames among seven.
        for (int f = 0; f < 7; f++) h.Step((Person, f % 2 == 0 ? Unmasked() : Masked()));
        Assert.Equal(0, h.Starts);

        var events = h.Step((Person, Unmasked()));

        MaskEvent start = Assert.Single(events);
        Assert.Equal(EventTypes.ViolationStart, start.Type);
        Assert.Equal(0, start.Sequence);
        Assert.Equal(At(7), start.StartedAt);
        Assert.Equal(At(7), start.At);
        Assert.Equal("no_mask", start.Mask.Label);
        Assert.Equal(8, start.Mask.FramesObserved);
        Assert.Equal(5, start.Mask.FramesUnmasked);
        Assert.Null(start.EndedAt);
        Assert.Null(start.EndReason);
    }

    [Fact]
    public void Evaluate_UnmaskedButBelowStartProbability_NeverStarts()
    {
        var h = Harness();
        for (int f = 0; f < 40; f++) h.Step((Person, Unmasked(0.65f)));

        Assert.Equal(0, h.Starts);
    }

    [Fact]
    public void Evaluate_TrackNotYetConfirmed_StartWaitsForConfirmation()
    {
        var h = Harness(tracking: new FaceTrackerOptions { ConfirmHits = 7 });
        for (int f = 0; f < 6; f++) Assert.Empty(h.Step((Person, Unmasked())));

        Assert.Equal(EventTypes.ViolationStart, Assert.Single(h.Step((Person, Unmasked()))).Type);
    }

    [Fact]
    public void Evaluate_UnclassifiedFrames_DoNotCount()
    {
        var h = Harness();
        for (int f = 0; f < 4; f++) h.Step((Person, Unmasked()));
        for (int f = 0; f < 10; f++) h.Step((Person, null));
        Assert.Equal(0, h.Starts);

        h.Step((Person, Unmasked()));

        Assert.Equal(1, h.Starts);
    }

    [Fact]
    public void Evaluate_ClassifierFlickersDuringViolation_NeitherEndsNorRestarts()
    {
        var h = Harness();
        for (int f = 0; f < 5; f++) h.Step((Person, Unmasked()));
        Assert.Equal(1, h.Starts);

        // Every other frame "mask": 4 of 8 still unmasked (> EndMaxUnmaskedFrames) and never 4 masked in a row.
        for (int f = 0; f < 60; f++) h.Step((Person, f % 2 == 0 ? Masked(0.7f) : Unmasked(0.6f)));

        Assert.Equal(1, h.Starts);
        Assert.Equal(0, h.Ends);
        Assert.Equal(1, h.Policy.ActiveViolations);
    }

    [Fact]
    public void Evaluate_MaskPutOn_EndsAfterMConsecutiveMaskedFrames()
    {
        var h = Harness();
        for (int f = 0; f < 5; f++) h.Step((Person, Unmasked()));
        for (int f = 0; f < 3; f++) Assert.Empty(h.Step((Person, Masked())));

        MaskEvent end = Assert.Single(h.Step((Person, Masked())));

        Assert.Equal(EventTypes.ViolationEnd, end.Type);
        Assert.Equal("masked", end.EndReason);
        Assert.Equal(h.Now, end.EndedAt);
        Assert.Equal("mask", end.Mask.Label);
        Assert.Equal(1, end.Sequence);
        h.AssertEpisodesWellFormed();
    }

    [Fact]
    public void Evaluate_MaskPutOnWithConsecutiveRuleOff_EndsWhenWindowDropsToKEnd()
    {
        var h = Harness(new ViolationPolicyOptions { EndMaskedConsecutiveFrames = 0 });
        for (int f = 0; f < 8; f++) h.Step((Person, Unmasked()));
        // Window of 8 unmasked; each masked frame pushes one out. At most 2 left after 6 masked frames.
        for (int f = 0; f < 5; f++) Assert.Empty(h.Step((Person, Masked())));

        MaskEvent end = Assert.Single(h.Step((Person, Masked())));

        Assert.Equal("masked", end.EndReason);
        Assert.Equal(2, end.Mask.FramesUnmasked);
    }

    [Fact]
    public void Evaluate_UnmaskedAgainWithinCooldown_NoNewStartUntilCooldownPassed()
    {
        var h = Harness(new ViolationPolicyOptions { Cooldown = TimeSpan.FromSeconds(4) });
        for (int f = 0; f < 5; f++) h.Step((Person, Unmasked()));
        for (int f = 0; f < 4; f++) h.Step((Person, Masked()));
        DateTimeOffset endedAt = h.Events.Single(e => e.Type == EventTypes.ViolationEnd).At;

        DateTimeOffset? restart = null;
        for (int f = 0; f < 120 && restart is null; f++)
        {
            foreach (MaskEvent e in h.Step((Person, Unmasked())))
                if (e.Type == EventTypes.ViolationStart) restart = e.At;
        }

        Assert.NotNull(restart);
        Assert.True(restart >= endedAt + TimeSpan.FromSeconds(4), $"restarted at {restart}, ended at {endedAt}");
        Assert.True(restart < endedAt + TimeSpan.FromSeconds(4) + TimeSpan.FromSeconds(1.0 / Fps) * 1.5);
        var starts = h.OfType(EventTypes.ViolationStart).ToList();
        Assert.Equal(2, starts.Count);
        Assert.Equal(starts[0].TrackId, starts[1].TrackId);
        Assert.NotEqual(starts[0].Id, starts[1].Id);
        Assert.Equal(0, starts[1].Sequence);
    }

    [Fact]
    public void Evaluate_FaceSmallerThanMinFaceSize_StartsOnlyOnceBigEnough()
    {
        var h = Harness(new ViolationPolicyOptions { MinFaceSize = 40 });
        for (int f = 0; f < 30; f++) h.Step((Face(300, 250, 38 + f * 0.01f), Unmasked()));
        Assert.Equal(0, h.Starts);

        // Big enough from here; the small frames did not fill the window, so five big ones are needed.
        for (int f = 0; f < 4; f++) Assert.Empty(h.Step((Face(300, 250, 42), Unmasked())));
        Assert.Equal(EventTypes.ViolationStart, Assert.Single(h.Step((Face(300, 250, 42), Unmasked()))).Type);
    }

    [Fact]
    public void Evaluate_FaceCutByFrameEdge_SizeMeasuredInsideTheFrame()
    {
        // 80 px boxes: centred 30 px outside the left edge only 10 px are in the frame (too small); centred 10 px
        // inside, 50 px are (big enough). With the frame-edge rule off (it would refuse both: ViolationFrameEdgeTests).
        var mostlyOut = Harness(new ViolationPolicyOptions { MinFaceSize = 40, EdgeMargin = null });
        var halfIn = Harness(new ViolationPolicyOptions { MinFaceSize = 40, EdgeMargin = null });
        for (int f = 0; f < 10; f++)
        {
            mostlyOut.Step((Face(-30, 250, 80), Unmasked()));
            halfIn.Step((Face(10, 250, 80), Unmasked()));
        }

        Assert.Equal(0, mostlyOut.Starts);
        Assert.Equal(1, halfIn.Starts);
        Assert.Equal([0f, 210f, 50f, 290f], halfIn.Events[0].Face.Box);
    }

    private static readonly ZoneOptions LeftHalf = new()
    {
        Name = "left",
        Points = [new(0, 0), new(0.5f, 0), new(0.5f, 1), new(0, 1)],
    };

    [Fact]
    public void Evaluate_ZoneSet_OnlyFacesInsideStart()
    {
        var h = Harness(new ViolationPolicyOptions { Zones = [LeftHalf] });
        var inside = Face(200, 250, 80);
        var outside = Face(700, 250, 80);

        for (int f = 0; f < 10; f++) h.Step((inside, Unmasked()), (outside, Unmasked()));

        MaskEvent start = Assert.Single(h.OfType(EventTypes.ViolationStart));
        Assert.True(start.Face.Box[0] < 480);
    }

    [Fact]
    public void Evaluate_ZoneInPixelsWithBottomCenterAnchor_ChinDecides()
    {
        // A floor band from y = 300 down; the face's centre (y 260) is above it, its chin (y 300) on the edge.
        var floor = new ZoneOptions { Units = ZoneUnits.Pixels, Points = [new(0, 300), new(960, 300), new(960, 540), new(0, 540)] };
        var face = Face(480, 260, 80);

        var byCentre = Harness(new ViolationPolicyOptions { Zones = [floor], ZoneAnchor = ZoneAnchor.BoxCenter });
        var byChin = Harness(new ViolationPolicyOptions { Zones = [floor], ZoneAnchor = ZoneAnchor.BottomCenter });
        for (int f = 0; f < 10; f++)
        {
            byCentre.Step((face, Unmasked()));
            byChin.Step((face, Unmasked()));
        }

        Assert.Equal(0, byCentre.Starts);
        Assert.Equal(1, byChin.Starts);
    }

    [Fact]
    public void Evaluate_NormalizedZone_FollowsTheFrameSize()
    {
        // The same normalized zone on a 1920×1080 stream: x = 900 is in the left half there.
        var h = new PipelineHarness(ConfirmAtOnce, new ViolationPolicyOptions { Zones = [LeftHalf] }, width: 1920, height: 1080);
        for (int f = 0; f < 10; f++) h.Step((Face(900, 500, 80), Unmasked()));

        Assert.Equal(1, h.Starts);
    }

    [Fact]
    public void Evaluate_ViolatorLeavesTheZone_EpisodeContinuesUntilMaskedOrLost()
    {
        var h = Harness(new ViolationPolicyOptions { Zones = [LeftHalf] });
        float x = 300;
        for (int f = 0; f < 6; f++) h.Step((Face(x, 250, 80), Unmasked()));
        for (int f = 0; f < 40; f++) h.Step((Face(x += 10, 250, 80), Unmasked()));
        Assert.Equal(1, h.Starts);
        Assert.Equal(0, h.Ends);

        for (int f = 0; f < 4; f++) h.Step((Face(x += 10, 250, 80), Masked()));

        Assert.Equal("masked", Assert.Single(h.OfType(EventTypes.ViolationEnd)).EndReason);
    }

    [Theory]
    [InlineData(5f, 5f, true)]      // inside
    [InlineData(10f, 5f, true)]     // on the right edge
    [InlineData(0f, 0f, true)]      // on a vertex
    [InlineData(5f, 10f, true)]     // on the bottom edge
    [InlineData(10.01f, 5f, false)] // just outside
    [InlineData(-1f, 5f, false)]
    [InlineData(5f, -0.01f, false)]
    public void Contains_Square_EdgesAndVerticesCountAsInside(float x, float y, bool expected)
    {
        PointF2[] square = [new(0, 0), new(10, 0), new(10, 10), new(0, 10)];
        Assert.Equal(expected, PolygonZone.Contains(square, x, y));
    }

    [Theory]
    [InlineData(2f, 2f, true)]   // in the foot of the L
    [InlineData(2f, 8f, true)]   // in the stem
    [InlineData(7f, 7f, false)]  // in the notch of the concave shape
    [InlineData(4f, 4f, true)]   // on the inner corner
    public void Contains_ConcaveL_NotchIsOutside(float x, float y, bool expected)
    {
        PointF2[] l = [new(0, 0), new(10, 0), new(10, 4), new(4, 4), new(4, 10), new(0, 10)];
        Assert.Equal(expected, PolygonZone.Contains(l, x, y));
    }

    [Theory]
    [InlineData(2f, 5f, true)]   // the ray to the right passes exactly through the vertex (10, 5)
    [InlineData(-2f, 5f, false)] // crosses the left edge and the vertex: outside, the vertex counted once
    [InlineData(12f, 5f, false)]
    public void Contains_RayThroughVertex_CountedOnce(float x, float y, bool expected)
    {
        PointF2[] triangle = [new(0, 0), new(10, 5), new(0, 10)];
        Assert.Equal(expected, PolygonZone.Contains(triangle, x, y));
    }

    [Fact]
    public void Evaluate_TrackLost_EndsWithReasonLostAtLastSighting()
    {
        var h = Harness(tracking: new FaceTrackerOptions { ConfirmHits = 1, MaxAgeFrames = 10, MaxAge = null });
        for (int f = 0; f < 6; f++) h.Step((Person, Unmasked()));
        DateTimeOffset lastSeen = h.Now;

        List<MaskEvent> ends = [];
        for (int f = 0; f < 15; f++) ends.AddRange(h.Step());

        MaskEvent end = Assert.Single(ends);
        Assert.Equal("lost", end.EndReason);
        Assert.Equal(lastSeen, end.EndedAt);
        Assert.Equal(At(6 + 10), end.At);
        Assert.Equal(0, h.Policy.ActiveViolations);
        h.AssertEpisodesWellFormed();
    }

    [Fact]
    public void Evaluate_StepWithRemovedTrackSkipped_EpisodeStillEndsAsLost()
    {
        var tracker = new FaceTracker(new FaceTrackerOptions { ConfirmHits = 1, MaxAgeFrames = 2, MaxAge = null });
        var policy = new ViolationPolicy(new ViolationPolicyOptions(), "d", "c");
        int f = 0;
        for (; f < 5; f++)
        {
            tracker.Update([Person], [Unmasked()], f, At(f));
            policy.Evaluate(tracker, 960, 540);
        }
        for (; f < 9; f++) tracker.Update([], f, At(f)); // the caller forgot the policy while the track was removed

        tracker.Update([], f, At(f));
        var decisions = policy.Evaluate(tracker, 960, 540);

        ViolationDecision end = Assert.Single(decisions.ToArray());
        Assert.Equal(ViolationEndReason.Lost, end.EndReason);
        Assert.Equal(At(4), end.EndedAt);
        Assert.Equal(0, policy.ActiveViolations);
    }

    [Fact]
    public void Flush_OpenEpisodes_EachEndsOnceWithReasonShutdown()
    {
        var h = Harness();
        var a = Face(150, 200, 80);
        var b = Face(500, 200, 80);
        var c = Face(800, 200, 80);
        for (int f = 0; f < 6; f++) h.Step((a, Unmasked()), (b, Unmasked()), (c, Masked()));
        Assert.Equal(2, h.Policy.ActiveViolations);

        var ends = h.Flush();

        Assert.Equal(2, ends.Count);
        Assert.All(ends, e => Assert.Equal("shutdown", e.EndReason));
        Assert.All(ends, e => Assert.Equal(h.Now, e.EndedAt));
        Assert.Equal(0, h.Policy.ActiveViolations);
        Assert.Empty(h.Flush());
        h.AssertEpisodesWellFormed();
    }

    [Fact]
    public void Evaluate_EvidenceKeepsImproving_UpdatesRateLimitedAndCarryTheBestSnapshot()
    {
        var h = Harness(new ViolationPolicyOptions { UpdateMinInterval = TimeSpan.FromSeconds(5) });
        float size = 40;
        // 20 s of a face approaching the camera: 2 % bigger every frame, so evidence improves all the time.
        for (int f = 0; f < 300; f++, size = MathF.Min(size * 1.02f, 500)) h.Step((Face(480, 270, size), Unmasked(0.9f)));

        var events = h.Events;
        var updates = events.Where(e => e.Type == EventTypes.ViolationUpdate).ToList();
        Assert.InRange(updates.Count, 2, 4);
        for (int i = 1; i < events.Count; i++)
            Assert.True(events[i].At - events[i - 1].At >= TimeSpan.FromSeconds(5), "updates closer than the min interval");
        Assert.All(updates, u => Assert.True(u.Snapshot.Available));
        for (int i = 1; i < updates.Count; i++)
        {
            Assert.True(updates[i].Face.Box[2] - updates[i].Face.Box[0] > updates[i - 1].Face.Box[2] - updates[i - 1].Face.Box[0]);
            Assert.NotEqual(updates[i - 1].Snapshot.Id, updates[i].Snapshot.Id);
        }
        // Snapshots are asked for more often than updates are sent, but far less than once per frame.
        Assert.InRange(h.Snapshots.Count, updates.Count + 1, 30);
    }

    [Fact]
    public void Evaluate_NoBetterEvidence_NoUpdates()
    {
        var h = Harness(new ViolationPolicyOptions { UpdateMinInterval = TimeSpan.Zero });
        for (int f = 0; f < 200; f++) h.Step((Person, Unmasked(0.9f)));

        Assert.Single(h.Events);
        Assert.Single(h.Snapshots);
    }

    [Fact]
    public void Evaluate_Start_AsksForASnapshotOfTheSameFrame()
    {
        var h = Harness();
        for (int f = 0; f < 5; f++) h.Step((Person, Unmasked()));

        SnapshotRequest r = Assert.Single(h.Snapshots);
        Assert.True(r.IsStart);
        Assert.Equal(h.Frame, r.Observation.FrameIndex);
        Assert.Equal(80f * 0.9f * 0.95f, r.Quality, 3);
        MaskEvent start = Assert.Single(h.Events);
        Assert.True(start.Snapshot.Available);
        Assert.Equal("snap-1", start.Snapshot.Id);
    }

    [Fact]
    public void Evaluate_DefaultEpisodeId_DeviceCameraTrackAndStartTicks()
    {
        var h = Harness();
        for (int f = 0; f < 5; f++) h.Step((Person, Unmasked()));

        Assert.Equal($"dev1-cam1-1-{At(4).UtcTicks}", Assert.Single(h.Events).Id);
    }

    [Fact]
    public void Evaluate_InjectedIdGenerator_IsUsed()
    {
        int n = 0;
        var tracker = new FaceTracker(ConfirmAtOnce);
        var policy = new ViolationPolicy(new ViolationPolicyOptions(), "d", "c", (_, _, track, _) => $"ep-{track}-{n++}");
        for (int f = 0; f < 5; f++)
        {
            tracker.Update([Person], [Unmasked()], f, At(f));
            policy.Evaluate(tracker, 960, 540);
        }

        Assert.Equal("ep-1-0", Assert.Single(policy.Decisions.ToArray()).Episode.Id);
    }

    [Fact]
    public void Counters_AfterFrames_CountFacesClassificationsAndViolations()
    {
        var h = Harness();
        var a = Face(150, 200, 80);
        var b = Face(500, 200, 80);
        for (int f = 0; f < 10; f++) h.Step((a, Unmasked()), (b, f < 5 ? Masked() : null));

        FaceCountersSnapshot c = h.Policy.Counters.Read();
        Assert.Equal(20, c.FacesSeen);
        Assert.Equal(15, c.FacesClassified);
        Assert.Equal(10, c.FacesUnmasked);
        Assert.Equal(5, c.FacesMasked);
        Assert.Equal(1, c.ViolationsStarted);
        Assert.Equal(1, c.ActiveViolations);
        Assert.Equal(5.0 / 15.0, c.ComplianceRateSince(default)!.Value, 6);
        Assert.Null(c.ComplianceRateSince(c));
    }

    [Fact]
    public void Evaluate_SteadyStateWithTwentyFacesAndOpenViolations_AllocatesNothing()
    {
        var tracker = new FaceTracker(new FaceTrackerOptions());
        var policy = new ViolationPolicy(new ViolationPolicyOptions { UpdateMinInterval = TimeSpan.Zero, Zones = [LeftHalf] }, "d", "c");
        var faces = new FaceDetection[20];
        var classes = new MaskClassification[20];
        void Frame(int f)
        {
            for (int i = 0; i < faces.Length; i++)
            {
                faces[i] = Face(60 + 45 * i + MathF.Sin(f * 0.1f + i) * 5, 100 + 15 * (i % 4), 36);
                classes[i] = new MaskClassification(i % 2 == 0 ? 0.9f : 0.1f);
            }
            tracker.Update(faces, classes, f, At(f));
            policy.Evaluate(tracker, 960, 540);
        }
        for (int f = 0; f < 50; f++) Frame(f);

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int f = 50; f < 550; f++) Frame(f);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(5, policy.ActiveViolations); // the unmasked faces in the left half
        Assert.Equal(0, allocated);
    }

    public static TheoryData<string, ViolationPolicyOptions> BadOptions => new()
    {
        { "Violation:WindowFrames", new() { WindowFrames = 0 } },
        { "Violation:WindowFrames", new() { WindowFrames = 65 } },
        { "Violation:StartUnmaskedFrames", new() { StartUnmaskedFrames = 9 } },
        { "Violation:EndMaxUnmaskedFrames", new() { EndMaxUnmaskedFrames = 5 } },
        { "Violation:StartProbability", new() { StartProbability = 0.4f } },
        { "Violation:EndProbability", new() { EndProbability = 0.8f } },
        { "Violation:MinFaceSize", new() { MinFaceSize = -1 } },
        { "Violation:Cooldown", new() { Cooldown = TimeSpan.FromSeconds(-1) } },
        { "Violation:UpdateMinInterval", new() { UpdateMinInterval = TimeSpan.FromSeconds(-1) } },
        { "Violation:SnapshotImprovementRatio", new() { SnapshotImprovementRatio = 0.9f } },
        { "Violation:IncorrectCounts", new() { IncorrectCounts = (IncorrectMaskCounting)7 } },
        { "Violation:Zones:0:Points", new() { Zones = [new ZoneOptions { Points = [new(0, 0), new(1, 1)] }] } },
        { "Violation:Zones:0:Points:2", new() { Zones = [new ZoneOptions { Points = [new(0, 0), new(1, 0), new(1.5f, 1)] }] } },
        { "Violation:Zones:0:Points", new() { Zones = [new ZoneOptions { Points = [new(0, 0), new(0.5f, 0.5f), new(1, 1)] }] } },
    };

    [Theory]
    [MemberData(nameof(BadOptions))]
    public void Validate_BadValue_ThrowsNamingTheKey(string key, ViolationPolicyOptions options)
    {
        var e = Assert.Throws<InvalidOptionException>(() => new ViolationPolicy(options, "d", "c"));

        Assert.Equal(key, e.Key);
        Assert.StartsWith($"Invalid configuration value {key} =", e.Message);
    }

    [Fact]
    public void Reconfigure_MidEpisode_EpisodeStaysOpenAndTheNewStartRuleAppliesToTheNextFrame()
    {
        var h = Harness();
        for (int f = 0; f < 5; f++) h.Step((Person, Unmasked(0.8f)));
        Assert.Equal(1, h.Starts);
        var other = Face(700, 250, 80);

        // A stricter start probability: the episode in progress goes on, a newcomer at p 0.8 can no longer start one.
        h.Policy.Reconfigure(new ViolationPolicyOptions { StartProbability = 0.9f, EndProbability = 0.5f });
        for (int f = 0; f < 10; f++) h.Step((Person, Unmasked(0.8f)), (other, Unmasked(0.8f)));

        Assert.Equal(1, h.Starts);
        Assert.Equal(0, h.Ends);
        Assert.Equal(1, h.Policy.ActiveViolations);
        Assert.Equal(0.9f, h.Policy.Options.StartProbability);
        h.Flush();
        h.AssertEpisodesWellFormed();
    }

    [Fact]
    public void Reconfigure_ShorterWindow_KeepsTheNewestFramesOfEachTrack()
    {
        var h = Harness();
        // Eight frames: M M M M U U U U (the newest four unmasked), no start yet with K = 5 of 8.
        for (int f = 0; f < 4; f++) h.Step((Person, Masked()));
        for (int f = 0; f < 4; f++) h.Step((Person, Unmasked()));
        Assert.Equal(0, h.Starts);

        // N 5, K 5: the kept window is the newest five (M U U U U); one more unmasked frame makes five of five.
        h.Policy.Reconfigure(new ViolationPolicyOptions { WindowFrames = 5, StartUnmaskedFrames = 5, EndMaxUnmaskedFrames = 2 });
        var events = h.Step((Person, Unmasked()));

        var start = Assert.Single(events);
        Assert.Equal(EventTypes.ViolationStart, start.Type);
        Assert.Equal(5, start.Mask.FramesObserved);
        Assert.Equal(5, start.Mask.FramesUnmasked);
    }

    [Fact]
    public void Reconfigure_ZoneAddedMidRun_FacesOutsideItStopCountingFromTheNextFrame()
    {
        var h = Harness();
        var right = Face(800, 250, 80);
        for (int f = 0; f < 3; f++) h.Step((right, Unmasked()));

        h.Policy.Reconfigure(new ViolationPolicyOptions { Zones = [LeftHalf] });
        for (int f = 0; f < 10; f++) h.Step((right, Unmasked()));

        Assert.Equal(0, h.Starts);
    }

    [Fact]
    public void Reconfigure_InvalidOptions_ThrowsAndKeepsTheOldOnes()
    {
        var policy = new ViolationPolicy(new ViolationPolicyOptions(), "d", "c");

        Assert.Throws<InvalidOptionException>(() => policy.Reconfigure(new ViolationPolicyOptions { WindowFrames = 0 }));
        Assert.Equal(8, policy.Options.WindowFrames);
    }

    [Fact]
    public void Validate_PixelZoneBeyondOne_IsAccepted() =>
        new ViolationPolicyOptions { Zones = [new ZoneOptions { Units = ZoneUnits.Pixels, Points = [new(0, 0), new(900, 0), new(900, 500)] }] }.Validate();
}

public class ViolationHandoverTests
{
    private static readonly FaceTrackerOptions Tracking = new() { ConfirmHits = 1 };
    private static readonly FaceDetection Person = Face(300, 250, 80);

    // The same person found again 0.4 face heights off after three frames unseen: IoU with the prediction 0.43, below
    // the tracker's LostMatchIoU (0.5), so the tracker gives them a new track id.
    private static readonly FaceDetection PersonFoundAgain = Face(332, 250, 80);

    private static PipelineHarness Unseen(PipelineHarness h, FaceDetection again, int frames)
    {
        for (int f = 0; f < 5; f++) h.Step((Person, Unmasked()));
        Assert.Equal(1, h.Starts);
        for (int f = 0; f < 3; f++) h.Step();
        for (int f = 0; f < frames; f++) h.Step((again, Unmasked()));
        return h;
    }

    [Fact]
    public void Evaluate_HandoverOff_TrackFoundAgainUnderANewIdStartsASecondViolation()
    {
        var h = Unseen(new PipelineHarness(Tracking, new ViolationPolicyOptions()), PersonFoundAgain, 8);

        Assert.Equal(2, h.Starts);
        Assert.Equal(2, h.OfType(EventTypes.ViolationStart).Select(e => e.TrackId).Distinct().Count());
    }

    [Fact]
    public void Evaluate_HandoverOn_NewTrackOfTheSamePersonContinuesTheEpisode()
    {
        var h = Unseen(new PipelineHarness(Tracking, new ViolationPolicyOptions { HandoverDistance = 0.5f }), PersonFoundAgain, 8);
        // Long enough for the old track to be removed (MaxAge): its removal must not end the episode the new track carries.
        for (int f = 0; f < 30; f++) h.Step((PersonFoundAgain, Unmasked()));
        h.Flush();

        var start = Assert.Single(h.OfType(EventTypes.ViolationStart));
        var end = Assert.Single(h.OfType(EventTypes.ViolationEnd));
        Assert.Equal(start.Id, end.Id);
        Assert.Equal("shutdown", end.EndReason);
        Assert.NotEqual(start.TrackId, end.TrackId);
        Assert.Equal(1, h.Policy.Counters.Read().ViolationsHandedOver);
        Assert.Equal(0, h.Policy.ActiveViolations);
    }

    [Fact]
    public void Evaluate_HandoverOn_NeighbourAFaceAwayStartsItsOwnViolation()
    {
        // A different person one face height beside where the unseen track was predicted.
        var h = Unseen(new PipelineHarness(Tracking, new ViolationPolicyOptions { HandoverDistance = 0.5f }), Face(380, 250, 80), 8);

        Assert.Equal(2, h.Starts);
        Assert.Equal(0, h.Policy.Counters.Read().ViolationsHandedOver);
    }

    [Fact]
    public void Validate_HandoverDistanceNegative_NamesTheKey()
    {
        var ex = Assert.Throws<InvalidOptionException>(() => new ViolationPolicyOptions { HandoverDistance = -1f }.Validate());
        Assert.Equal("Violation:HandoverDistance", ex.Key);
    }
}

public class ViolationPolicySettledTests
{
    private static readonly FaceDetection Person = Face(300, 250, 80);

    [Fact]
    public void IsSettled_WindowFullOfMaskedFrames_TrueUntilOneFrameDisagrees()
    {
        var h = new PipelineHarness(new FaceTrackerOptions { ConfirmHits = 1 }, new ViolationPolicyOptions());
        for (int f = 0; f < 7; f++) h.Step((Person, Masked()));
        long id = h.Tracker.Tracks[0].Id;
        Assert.False(h.Policy.IsSettled(id));

        h.Step((Person, Masked()));
        Assert.True(h.Policy.IsSettled(id));

        h.Step((Person, Unmasked()));
        Assert.False(h.Policy.IsSettled(id));
    }

    [Fact]
    public void IsSettled_RunningViolationAllStrong_TrueAndAWeakFrameUnsettles()
    {
        var h = new PipelineHarness(new FaceTrackerOptions { ConfirmHits = 1 }, new ViolationPolicyOptions());
        for (int f = 0; f < 8; f++) h.Step((Person, Unmasked()));
        long id = h.Tracker.Tracks[0].Id;
        Assert.Equal(1, h.Starts);
        Assert.True(h.Policy.IsSettled(id));

        // p(violation) 0.6: still in violation, below the start probability: the episode runs, no longer settled.
        h.Step((Person, Unmasked(0.6f)));
        Assert.False(h.Policy.IsSettled(id));
        Assert.False(h.Policy.IsSettled(id + 1000));
    }
}

/// <summary>
/// <see cref="ViolationPolicyOptions.DuplicateCoverage"/>: a box that appears over faces already tracked (bridging two
/// neighbours in a crowd, or a second box beside a face) is not a new person; faces that appear together, a face
/// stepping out from behind another, and a face inside a much larger box are.
/// </summary>
public class ViolationDuplicateBoxTests
{
    private static readonly FaceTrackerOptions Tracking = new() { ConfirmHits = 1 };

    // Two unmasked neighbours side by side, 40 px faces touching at x = 320, and a box bridging them (half on each).
    private static readonly FaceDetection Left = Face(300, 250, 40);
    private static readonly FaceDetection Right = Face(340, 250, 40);
    private static readonly FaceDetection Bridge = Face(320, 250, 40);

    private static PipelineHarness BridgeOverNeighbours(ViolationPolicyOptions policy)
    {
        var h = new PipelineHarness(Tracking, policy);
        for (int f = 0; f < 8; f++) h.Step((Left, Unmasked()), (Right, Unmasked()));
        Assert.Equal(2, h.Starts);
        for (int f = 0; f < 20; f++) h.Step((Left, Unmasked()), (Right, Unmasked()), (Bridge, Unmasked()));
        Assert.Equal(3, h.Tracker.Tracks.Length);
        return h;
    }

    [Fact]
    public void Evaluate_BoxBridgingTwoEarlierFaces_StartsNothing()
    {
        var h = BridgeOverNeighbours(new ViolationPolicyOptions());

        Assert.Equal(2, h.Starts);
    }

    [Fact]
    public void Evaluate_DuplicateCoverageOff_BridgingBoxStartsAThirdViolation()
    {
        var h = BridgeOverNeighbours(new ViolationPolicyOptions { DuplicateCoverage = 0f });

        Assert.Equal(3, h.Starts);
    }

    [Fact]
    public void Evaluate_OverlappingFacesAppearingTogether_BothStart()
    {
        // A scene cut or a pair walking in: 35 of the second face's 60 px lie inside the first box (58 %), but neither
        // face was there before the other.
        var h = new PipelineHarness(Tracking, new ViolationPolicyOptions());
        for (int f = 0; f < 8; f++) h.Step((Face(300, 250, 60), Unmasked()), (Face(325, 250, 60), Unmasked()));

        Assert.Equal(2, h.Starts);
    }

    [Fact]
    public void Evaluate_FaceSteppingOutFromBehindAnEarlierFace_StartsOnceMostlyItsOwn()
    {
        var h = new PipelineHarness(Tracking, new ViolationPolicyOptions());
        var front = Face(300, 250, 60);
        for (int f = 0; f < 8; f++) h.Step((front, Masked()));
        // The second face emerges 10 px to the right of the first (five sixths of its box inside it) and moves 1 px a frame.
        long firstUncovered = -1;
        for (int x = 310; x <= 360; x++)
        {
            h.Step((front, Masked()), (Face(x, 250, 60), Unmasked()));
            // The first box ends at x = 330, the second begins at x − 30: (360 − x) / 60 of it is covered, half at x = 330.
            if (x == 330) firstUncovered = h.Frame;
        }

        MaskEvent start = Assert.Single(h.OfType(EventTypes.ViolationStart));
        Assert.True(start.StartedAt >= At(firstUncovered + 4),
            $"started at {start.StartedAt:HH:mm:ss.fff}, before five frames of the face were mostly its own (from {At(firstUncovered):HH:mm:ss.fff})");
    }

    [Fact]
    public void Evaluate_FaceInsideAMuchLargerEarlierBox_Starts()
    {
        // A 100 px box (a face close to the camera, or a false box on a shirt) seen first; a 30 px face inside it is
        // not that box's duplicate: sizes differ by more than ×1.5.
        var h = new PipelineHarness(Tracking, new ViolationPolicyOptions());
        var large = Face(300, 250, 100);
        for (int f = 0; f < 8; f++) h.Step((large, Masked()));
        for (int f = 0; f < 8; f++) h.Step((large, Masked()), (Face(300, 230, 30), Unmasked()));

        Assert.Equal(1, h.Starts);
    }

    [Fact]
    public void Evaluate_RunningViolationLaterCoveredByAnEarlierFace_KeepsRunning()
    {
        // Once a violation runs, covered frames still count: the question is only whether the person is still unmasked.
        var h = new PipelineHarness(Tracking, new ViolationPolicyOptions());
        var front = Face(300, 250, 60);
        for (int f = 0; f < 8; f++) h.Step((front, Masked()));
        for (int f = 0; f < 8; f++) h.Step((front, Masked()), (Face(400, 250, 60), Unmasked()));
        Assert.Equal(1, h.Starts);
        // The unmasked face moves in front of (behind) the masked one, 5 px a frame, until two thirds are covered.
        for (int x = 395; x >= 340; x -= 5) h.Step((front, Masked()), (Face(x, 250, 60), Unmasked()));
        h.Flush();

        var end = Assert.Single(h.OfType(EventTypes.ViolationEnd));
        Assert.Equal("shutdown", end.EndReason);
    }

    [Fact]
    public void Evaluate_TenBridgingBoxesEveryFrame_AllocatesNothing()
    {
        // Ten pairs of unmasked neighbours, each bridged by a box from frame 10 on: the union is measured for every
        // bridge on every frame (none ever starts), on the stack.
        var tracker = new FaceTracker(new FaceTrackerOptions());
        var policy = new ViolationPolicy(new ViolationPolicyOptions(), "d", "c");
        var faces = new FaceDetection[30];
        var classes = new MaskClassification[30];
        void Frame(int f)
        {
            int n = 0;
            for (int i = 0; i < 10; i++)
            {
                float x = 60 + 90 * i, y = 100 + 200 * (i % 2) + MathF.Sin(f * 0.1f + i) * 3;
                faces[n] = Face(x, y, 40);
                faces[n + 1] = Face(x + 40, y, 40);
                faces[n + 2] = Face(x + 20, y, 40, score: 0.8f);
                classes[n] = classes[n + 1] = classes[n + 2] = Unmasked();
                n += f < 10 ? 2 : 3;
            }
            tracker.Update(faces.AsSpan(0, n), classes.AsSpan(0, n), f, At(f));
            policy.Evaluate(tracker, 960, 540);
        }
        for (int f = 0; f < 50; f++) Frame(f);

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int f = 50; f < 300; f++) Frame(f);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(30, tracker.Tracks.Length);
        Assert.Equal(20, policy.ActiveViolations);
        Assert.Equal(0, allocated);
    }

    [Theory]
    [InlineData(-0.1f)]
    [InlineData(1f)]
    [InlineData(float.NaN)]
    public void Validate_DuplicateCoverageOutOfRange_NamesTheKey(float value)
    {
        var ex = Assert.Throws<InvalidOptionException>(() => new ViolationPolicyOptions { DuplicateCoverage = value }.Validate());
        Assert.Equal("Violation:DuplicateCoverage", ex.Key);
    }
}

/// <summary><see cref="ViolationPolicyOptions.EdgeMargin"/>: half a face at the frame's edge is no evidence until the person is in view.</summary>
public class ViolationFrameEdgeTests
{
    private static readonly FaceTrackerOptions Tracking = new() { ConfirmHits = 1 };

    // 60 px face centred 20 px from the left edge: its box (−10…50) is clipped at x = 0.
    private static readonly FaceDetection CutByTheEdge = Face(20, 250, 60);

    [Fact]
    public void Evaluate_FaceCutByTheFrameEdge_StartsNothing()
    {
        var h = new PipelineHarness(Tracking, new ViolationPolicyOptions());
        for (int f = 0; f < 20; f++) h.Step((CutByTheEdge, Unmasked()));

        Assert.Equal(0, h.Starts);
    }

    [Fact]
    public void Evaluate_FaceWalkingIntoView_StartsOnceWhollyInside()
    {
        var h = new PipelineHarness(Tracking, new ViolationPolicyOptions());
        long firstInside = -1;
        // 3 px a frame from x = 20: the box leaves the edge (x1 > 1 px) at x = 32.
        for (int x = 20; x <= 80; x += 3)
        {
            h.Step((Face(x, 250, 60), Unmasked()));
            if (firstInside < 0 && x - 30 > 1) firstInside = h.Frame;
        }

        MaskEvent start = Assert.Single(h.OfType(EventTypes.ViolationStart));
        Assert.Equal(At(firstInside + 4), start.StartedAt);
    }

    [Fact]
    public void Evaluate_EdgeMarginOff_FaceCutByTheEdgeStarts()
    {
        var h = new PipelineHarness(Tracking, new ViolationPolicyOptions { EdgeMargin = null });
        for (int f = 0; f < 8; f++) h.Step((CutByTheEdge, Unmasked()));

        Assert.Equal(1, h.Starts);
    }

    [Fact]
    public void Evaluate_RunningViolationWalkingOutOfView_EndsOnlyWhenLost()
    {
        var h = new PipelineHarness(Tracking, new ViolationPolicyOptions());
        for (int f = 0; f < 8; f++) h.Step((Face(100, 250, 60), Unmasked()));
        Assert.Equal(1, h.Starts);
        // Out through the left edge, still unmasked: the episode runs on while the face is cut, then is lost.
        for (int x = 97; x >= 10; x -= 3) h.Step((Face(x, 250, 60), Unmasked()));
        Assert.Equal(0, h.Ends);
        for (int f = 0; f < 40; f++) h.Step();

        Assert.Equal("lost", Assert.Single(h.OfType(EventTypes.ViolationEnd)).EndReason);
    }

    [Theory]
    [InlineData(-1f)]
    [InlineData(float.PositiveInfinity)]
    public void Validate_EdgeMarginOutOfRange_NamesTheKey(float value)
    {
        var ex = Assert.Throws<InvalidOptionException>(() => new ViolationPolicyOptions { EdgeMargin = value }.Validate());
        Assert.Equal("Violation:EdgeMargin", ex.Key);
    }
}
