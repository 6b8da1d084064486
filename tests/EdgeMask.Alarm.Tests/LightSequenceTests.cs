using EdgeMask.Alarm.Engine;
using static EdgeMask.Alarm.Tests.AlarmFixture;

namespace EdgeMask.Alarm.Tests;

/// <summary>Sequences of violation events under a fake clock give exactly the expected line changes.</summary>
public sealed class LightSequenceTests
{
    [Fact]
    public void Constructor_AnyOptions_EveryLineOpenedOff()
    {
        var f = new AlarmFixture();
        using var alarm = f.Create(With(Light("a", 1), Light("b", 2) with { ActiveLow = true }));

        Assert.Equal([new(f.T0, 1, false), new(f.T0, 2, true)], f.Chip0.Changes);
        Assert.All(alarm.Snapshot().Lines, l => Assert.False(l.On));
    }

    [Fact]
    public void Handle_StartThenEndBeforeMinOn_OnUntilMinOnElapsed()
    {
        var f = new AlarmFixture();
        using var alarm = f.Create(With(Light() with { MinOn = TimeSpan.FromSeconds(3) }));

        alarm.Handle(Begin("v1"));
        f.Advance(alarm, TimeSpan.FromSeconds(1));
        alarm.Handle(End("v1"));
        f.Advance(alarm, TimeSpan.FromSeconds(10));

        Assert.Equal([f.On(0, 5), f.Off(3, 5)], f.ChangesAfterStart());
    }

    [Fact]
    public void Handle_ViolationLongerThanMinOn_OffExactlyAtEnd()
    {
        var f = new AlarmFixture();
        using var alarm = f.Create(With(Light() with { MinOn = TimeSpan.FromSeconds(3) }));

        alarm.Handle(Begin("v1"));
        f.Advance(alarm, TimeSpan.FromSeconds(7));
        alarm.Handle(Update("v1"));
        f.Advance(alarm, TimeSpan.FromSeconds(1));
        alarm.Handle(End("v1"));
        f.Advance(alarm, TimeSpan.FromSeconds(10));

        Assert.Equal([f.On(0, 5), f.Off(8, 5)], f.ChangesAfterStart());
    }

    [Fact]
    public void Handle_OverlappingEpisodes_StaysOnUntilLastEnds()
    {
        var f = new AlarmFixture();
        using var alarm = f.Create(With(Light()));

        alarm.Handle(Begin("v1"));
        f.Advance(alarm, TimeSpan.FromSeconds(2));
        alarm.Handle(Begin("v2", "hall"));
        f.Advance(alarm, TimeSpan.FromSeconds(2));
        alarm.Handle(End("v1"));
        f.Advance(alarm, TimeSpan.FromSeconds(2));
        alarm.Handle(End("v2", "hall"));

        Assert.Equal([f.On(0, 5), f.Off(6, 5)], f.ChangesAfterStart());
    }

    [Fact]
    public void Handle_BlinkPattern_TogglesAtPatternBoundariesFromActivation()
    {
        var f = new AlarmFixture();
        using var alarm = f.Create(With(Light() with { PatternMs = [500, 500], MinOn = TimeSpan.FromSeconds(1) }));

        f.Advance(alarm, TimeSpan.FromSeconds(0.25)); // the pattern is anchored at the activation, not at a tick grid
        alarm.Handle(Begin("v1"));
        f.Advance(alarm, TimeSpan.FromSeconds(2.2));
        alarm.Handle(End("v1"));
        f.Advance(alarm, TimeSpan.FromSeconds(5));

        Assert.Equal(
        [
            f.On(0.25, 5), f.Off(0.75, 5), f.On(1.25, 5), f.Off(1.75, 5), f.On(2.25, 5), f.Off(2.45, 5),
        ], f.ChangesAfterStart());
    }

    [Fact]
    public void Handle_DoubleFlashPattern_RepeatsTheCycle()
    {
        var f = new AlarmFixture();
        using var alarm = f.Create(With(Light() with { PatternMs = [100, 100, 100, 700] }));

        alarm.Handle(Begin("v1"));
        f.Advance(alarm, TimeSpan.FromSeconds(1.5));
        alarm.Handle(End("v1"));

        Assert.Equal(
        [
            f.On(0, 5), f.Off(0.1, 5), f.On(0.2, 5), f.Off(0.3, 5),
            f.On(1.0, 5), f.Off(1.1, 5), f.On(1.2, 5), f.Off(1.3, 5),
        ], f.ChangesAfterStart());
    }

    [Fact]
    public void Handle_ViolationOutlastsMaxOn_OffUntilANewViolation()
    {
        var f = new AlarmFixture();
        using var alarm = f.Create(With(Light() with { MaxOn = TimeSpan.FromSeconds(5) }));

        alarm.Handle(Begin("v1"));
        for (int i = 0; i < 20; i++)
        {
            f.Advance(alarm, TimeSpan.FromSeconds(1));
            alarm.Handle(Update("v1"));
        }
        Assert.Equal(AlarmOutputReason.MaxOnReached, alarm.Snapshot().Lines[0].Reason);
        alarm.Handle(Begin("v2"));
        f.Advance(alarm, TimeSpan.FromSeconds(2));
        alarm.Handle(End("v2"));
        // v1 is still active, but it already had its maximum: it does not hold the light.
        f.Advance(alarm, TimeSpan.FromSeconds(1));

        Assert.Equal([f.On(0, 5), f.Off(5, 5), f.On(20, 5), f.Off(22, 5)], f.ChangesAfterStart());
    }

    [Fact]
    public void Handle_UpdateWithoutStart_TreatedAsANewViolation()
    {
        var f = new AlarmFixture();
        using var alarm = f.Create(With(Light()));

        alarm.Handle(Update("began-before-the-alarm"));
        f.Advance(alarm, TimeSpan.FromSeconds(1));
        alarm.Handle(End("began-before-the-alarm"));
        alarm.Handle(End("never-seen"));

        Assert.Equal([f.On(0, 5), f.Off(1, 5)], f.ChangesAfterStart());
    }

    [Fact]
    public void Handle_RateLimitUsedUp_ActivatesWhenTheWindowFrees()
    {
        var f = new AlarmFixture();
        using var alarm = f.Create(With(Light() with
        {
            MinOn = TimeSpan.FromSeconds(1),
            RateLimit = new RateLimitOptions { MaxActivations = 2, Window = TimeSpan.FromSeconds(60) },
        }));

        alarm.Handle(Begin("v1"));
        f.Advance(alarm, TimeSpan.FromSeconds(2));
        alarm.Handle(End("v1"));
        f.Advance(alarm, TimeSpan.FromSeconds(3)); // t = 5
        alarm.Handle(Begin("v2"));
        f.Advance(alarm, TimeSpan.FromSeconds(2));
        alarm.Handle(End("v2"));
        f.Advance(alarm, TimeSpan.FromSeconds(3)); // t = 10
        alarm.Handle(Begin("v3"));
        var limited = alarm.Snapshot().Lines[0];
        f.Advance(alarm, TimeSpan.FromSeconds(55)); // t = 65

        Assert.Equal(AlarmOutputReason.RateLimited, limited.Reason);
        Assert.Equal(1, limited.RateLimited);
        // v3 is still active when the first activation (t = 0) leaves the window at t = 60.
        Assert.Equal([f.On(0, 5), f.Off(2, 5), f.On(5, 5), f.Off(7, 5), f.On(60, 5)], f.ChangesAfterStart());
    }

    [Fact]
    public void Handle_RateLimitedViolationEndsBeforeTheWindowFrees_NeverActivates()
    {
        var f = new AlarmFixture();
        using var alarm = f.Create(With(Light() with { RateLimit = new RateLimitOptions { MaxActivations = 1, Window = TimeSpan.FromSeconds(30) } }));

        alarm.Handle(Begin("v1"));
        f.Advance(alarm, TimeSpan.FromSeconds(1));
        alarm.Handle(End("v1"));
        alarm.Handle(Begin("v2"));
        f.Advance(alarm, TimeSpan.FromSeconds(5));
        alarm.Handle(End("v2"));
        f.Advance(alarm, TimeSpan.FromSeconds(60));

        Assert.Equal([f.On(0, 5), f.Off(1, 5)], f.ChangesAfterStart());
    }

    [Fact]
    public void Handle_ActiveLowLine_OnWritesLowOffWritesHigh()
    {
        var f = new AlarmFixture();
        var alarm = f.Create(With(Light() with { ActiveLow = true, PatternMs = [1000, 1000] }));

        alarm.Handle(Begin("v1"));
        f.Advance(alarm, TimeSpan.FromSeconds(1.5));
        var mid = alarm.Snapshot().Lines[0];
        f.Advance(alarm, TimeSpan.FromSeconds(1));
        alarm.Dispose();

        Assert.Equal([f.On(0, 5, activeLow: true), f.Off(1, 5, activeLow: true), f.On(2, 5, activeLow: true), f.Off(2.5, 5, activeLow: true)],
            f.ChangesAfterStart());
        Assert.False(mid.On);
        Assert.True(mid.LevelHigh);
        Assert.True(mid.Active);
        Assert.True(f.Chip0.LevelHigh(5));
    }

    [Fact]
    public void Handle_PerCameraMapping_DrivesOnlyTheMappedOutputs()
    {
        var f = new AlarmFixture();
        var options = With(Light("doorLight", 1), Light("hallLight", 2), Light("buzzer", 3) with { Kind = AlarmOutputKind.Sound }) with
        {
            Cameras =
            [
                new CameraMapping { Camera = "door", Outputs = ["doorLight", "buzzer"] },
                new CameraMapping { Camera = "hall", Outputs = ["hallLight"] },
            ],
        };
        using var alarm = f.Create(options);

        alarm.Handle(Begin("d1", "door"));
        f.Advance(alarm, TimeSpan.FromSeconds(1));
        alarm.Handle(Begin("h1", "hall"));
        f.Advance(alarm, TimeSpan.FromSeconds(1));
        alarm.Handle(End("d1", "door"));
        alarm.Handle(Begin("y1", "yard")); // not mapped, no '*' entry: drives nothing
        f.Advance(alarm, TimeSpan.FromSeconds(1));
        alarm.Handle(End("h1", "hall"));

        Assert.Equal([f.On(0, 1), f.On(0, 3), f.On(1, 2), f.Off(2, 1), f.Off(2, 3), f.Off(3, 2)], f.ChangesAfterStart());
    }

    [Fact]
    public void Handle_WildcardMapping_AppliesToUnlistedCameras()
    {
        var f = new AlarmFixture();
        var options = With(Light("a", 1), Light("b", 2)) with
        {
            Cameras = [new CameraMapping { Camera = "door", Outputs = ["a"] }, new CameraMapping { Camera = "*", Outputs = ["b"] }],
        };
        using var alarm = f.Create(options);

        alarm.Handle(Begin("y1", "yard"));

        Assert.Equal([f.On(0, 2)], f.ChangesAfterStart());
    }

    [Fact]
    public void Handle_QuietHoursAcrossMidnight_SilencesSoundButNotLight()
    {
        var f = new AlarmFixture(new DateTimeOffset(2026, 3, 2, 21, 59, 0, TimeSpan.Zero));
        var options = With(Light("light", 1), Light("buzzer", 2) with { Kind = AlarmOutputKind.Sound }) with
        {
            QuietHours = new QuietHoursOptions
            {
                Ranges = [new QuietHoursRange { Start = new TimeOnly(22, 0), End = new TimeOnly(6, 0), CrossesMidnight = true }],
            },
        };
        using var alarm = f.Create(options);
        var t0 = f.Time.GetUtcNow();

        alarm.Handle(Begin("v1"));
        f.Advance(alarm, TimeSpan.FromMinutes(30)); // 22:29
        alarm.Handle(Begin("v2"));
        var quiet = alarm.Snapshot();
        f.Advance(alarm, TimeSpan.FromHours(8)); // 06:29: both still active, the buzzer sounds again from 06:00

        Assert.True(quiet.QuietHours);
        Assert.Equal(AlarmOutputReason.QuietHours, quiet.Lines[1].Reason);
        Assert.Equal(
        [
            new(t0, 1, true), new(t0, 2, true),
            new(t0.AddMinutes(1), 2, false),
            new(t0.AddHours(8).AddMinutes(1), 2, true),
        ], f.ChangesAfterStart());
    }

    [Fact]
    public void Handle_QuietHoursWithMuteLights_LightDarkToo()
    {
        var f = new AlarmFixture(new DateTimeOffset(2026, 3, 2, 7, 0, 0, TimeSpan.Zero));
        var options = With(Light()) with
        {
            QuietHours = new QuietHoursOptions
            {
                MuteLights = true,
                Ranges = [new QuietHoursRange { Start = new TimeOnly(7, 0), End = new TimeOnly(7, 5) }],
            },
        };
        using var alarm = f.Create(options);
        var t0 = f.Time.GetUtcNow();

        alarm.Handle(Begin("v1"));
        f.Advance(alarm, TimeSpan.FromMinutes(10));

        Assert.Equal([new(t0.AddMinutes(5), 5, true)], f.ChangesAfterStart());
    }

    [Fact]
    public void Handle_QuietHoursInConfiguredTimeZone_UsesThatZonesWallClock()
    {
        // 20:30 UTC is 21:30 in Berlin (CET, UTC+1 in early March): quiet from 22:00 Berlin = 21:00 UTC.
        var f = new AlarmFixture(new DateTimeOffset(2026, 3, 2, 20, 30, 0, TimeSpan.Zero));
        var options = With(Light("buzzer", 2) with { Kind = AlarmOutputKind.Sound }) with
        {
            QuietHours = new QuietHoursOptions
            {
                TimeZone = "Europe/Berlin",
                Ranges = [new QuietHoursRange { Start = new TimeOnly(22, 0), End = new TimeOnly(6, 0), CrossesMidnight = true }],
            },
        };
        using var alarm = f.Create(options);
        var t0 = f.Time.GetUtcNow();

        alarm.Handle(Begin("v1"));
        f.Advance(alarm, TimeSpan.FromHours(1));

        Assert.Equal([new(t0, 2, true), new(t0.AddMinutes(30), 2, false)], f.ChangesAfterStart());
    }

    [Fact]
    public void Dispose_WhileOn_LineOffAndClosed()
    {
        var f = new AlarmFixture();
        var alarm = f.Create(With(Light("a", 1), Light("b", 2) with { ActiveLow = true }));
        alarm.Handle(Begin("v1"));
        f.Advance(alarm, TimeSpan.FromSeconds(1));

        alarm.Dispose();

        Assert.False(f.Chip0.LevelHigh(1));
        Assert.True(f.Chip0.LevelHigh(2));
        Assert.Equal([1, 2], f.Chip0.Closed.Order());
        Assert.True(f.Chip0.Disposed);
    }

    [Fact]
    public async Task StopAsync_WhileOn_LinesOffAndLaterEventsIgnored()
    {
        var f = new AlarmFixture();
        await using var alarm = f.Create(With(Light() with { PatternMs = [200, 200] }));
        alarm.Handle(Begin("v1"));
        f.Advance(alarm, TimeSpan.FromSeconds(0.1));

        await alarm.StopAsync();
        alarm.Handle(Begin("v2"));
        f.Advance(alarm, TimeSpan.FromSeconds(5));

        Assert.Equal([f.On(0, 5), f.Off(0.1, 5)], f.ChangesAfterStart());
        var snapshot = alarm.Snapshot();
        Assert.True(snapshot.Stopped);
        Assert.Equal(AlarmOutputReason.Stopped, snapshot.Lines[0].Reason);
    }

    [Fact]
    public void Heartbeat_StopsWhileViolationActive_WatchdogTurnsLinesOff()
    {
        var f = new AlarmFixture();
        using var alarm = f.Create(With(Light()) with { WatchdogTimeout = TimeSpan.FromSeconds(10) });

        alarm.Heartbeat("door");
        alarm.Handle(Begin("v1"));
        for (int i = 0; i < 5; i++)
        {
            f.Advance(alarm, TimeSpan.FromSeconds(2));
            alarm.Heartbeat("door");
        }
        // The pipeline hangs at t = 10: no heartbeat, no end event.
        f.Advance(alarm, TimeSpan.FromSeconds(30));
        var snapshot = alarm.Snapshot();

        Assert.Equal([f.On(0, 5), f.Off(20, 5)], f.ChangesAfterStart());
        Assert.True(Assert.Single(snapshot.Cameras).WatchdogTripped);
        Assert.Equal(0, snapshot.ActiveViolations);
    }

    [Fact]
    public void Heartbeat_ResumesAfterTrip_NewViolationsDriveTheLineAgain()
    {
        var f = new AlarmFixture();
        using var alarm = f.Create(With(Light()) with { WatchdogTimeout = TimeSpan.FromSeconds(5) });
        alarm.Heartbeat("door");
        alarm.Handle(Begin("v1"));
        f.Advance(alarm, TimeSpan.FromSeconds(6));

        alarm.Heartbeat("door");
        alarm.Handle(Begin("v2"));
        f.Advance(alarm, TimeSpan.FromSeconds(1));

        Assert.Equal([f.On(0, 5), f.Off(5, 5), f.On(6, 5)], f.ChangesAfterStart());
        Assert.False(Assert.Single(alarm.Snapshot().Cameras).WatchdogTripped);
    }

    [Fact]
    public void Handle_CameraWithoutHeartbeats_WatchdogNeverArmed()
    {
        var f = new AlarmFixture();
        using var alarm = f.Create(With(Light()) with { WatchdogTimeout = TimeSpan.FromSeconds(5) });

        alarm.Handle(Begin("v1"));
        f.Advance(alarm, TimeSpan.FromMinutes(1));

        Assert.Equal([f.On(0, 5)], f.ChangesAfterStart());
    }

    [Fact]
    public void PipelineStopped_WithActiveViolations_LinesOffAtOnce()
    {
        var f = new AlarmFixture();
        using var alarm = f.Create(With(Light("a", 1), Light("b", 2)) with
        {
            Cameras = [new CameraMapping { Camera = "door", Outputs = ["a"] }, new CameraMapping { Camera = "hall", Outputs = ["b"] }],
        });
        alarm.Handle(Begin("d1", "door"));
        alarm.Handle(Begin("h1", "hall"));
        f.Advance(alarm, TimeSpan.FromSeconds(1));

        alarm.PipelineStopped("door");

        Assert.Equal([f.On(0, 1), f.On(0, 2), f.Off(1, 1)], f.ChangesAfterStart());
    }

    [Fact]
    public async Task RunAsync_EventStreamThrows_LinesOffInFinally()
    {
        var f = new AlarmFixture();
        using var alarm = f.Create(With(Light()));

        async IAsyncEnumerable<Core.Events.MaskEvent> Crashing()
        {
            yield return Begin("v1");
            await Task.Yield();
            throw new InvalidOperationException("pipeline crashed");
        }

        await Assert.ThrowsAsync<InvalidOperationException>(() => alarm.RunAsync(Crashing(), CancellationToken.None));

        Assert.Equal([f.On(0, 5), f.Off(0, 5)], f.ChangesAfterStart());
    }

    [Fact]
    public async Task TestAsync_DuringQuietHours_RunsEveryPatternForTheDuration()
    {
        var f = new AlarmFixture(new DateTimeOffset(2026, 3, 2, 23, 0, 0, TimeSpan.Zero));
        using var alarm = f.Create(With(Light("light", 1), Light("buzzer", 2) with { Kind = AlarmOutputKind.Sound, PatternMs = [250, 250] }) with
        {
            QuietHours = new QuietHoursOptions { Ranges = [new QuietHoursRange { Start = new TimeOnly(22, 0), End = new TimeOnly(6, 0), CrossesMidnight = true }] },
        });
        var t0 = f.Time.GetUtcNow();

        var test = alarm.TestAsync(TimeSpan.FromSeconds(1), announce: false);
        Assert.True(alarm.Snapshot().TestActive);
        f.Advance(alarm, TimeSpan.FromSeconds(1));
        var result = await test.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(["light", "buzzer"], result.Outputs);
        Assert.Equal(
        [
            new(t0, 1, true), new(t0, 2, true),
            new(t0.AddSeconds(0.25), 2, false), new(t0.AddSeconds(0.5), 2, true), new(t0.AddSeconds(0.75), 2, false),
            new(t0.AddSeconds(1), 1, false),
        ], f.ChangesAfterStart());
        Assert.False(alarm.Snapshot().TestActive);
    }

    [Fact]
    public async Task TestAsync_WhileViolationActive_ReturnsToTheViolationState()
    {
        var f = new AlarmFixture();
        using var alarm = f.Create(With(Light("light", 1), Light("other", 2)) with
        {
            Cameras = [new CameraMapping { Camera = "door", Outputs = ["light"] }],
        });
        alarm.Handle(Begin("v1"));

        var test = alarm.TestAsync(TimeSpan.FromSeconds(2), announce: false);
        f.Advance(alarm, TimeSpan.FromSeconds(2));
        await test.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal([f.On(0, 1), f.On(0, 2), f.Off(2, 2)], f.ChangesAfterStart());
    }

    [Fact]
    public void Snapshot_AfterActivity_SerializesLineStatesAsCamelCaseJson()
    {
        var f = new AlarmFixture();
        using var alarm = f.Create(With(Light() with { MinOn = TimeSpan.FromSeconds(2) }));
        alarm.Handle(Begin("v1"));
        alarm.Handle(End("v1"));
        f.Advance(alarm, TimeSpan.FromSeconds(1));

        var snapshot = alarm.Snapshot();
        string json = System.Text.Json.JsonSerializer.Serialize(snapshot, AlarmJsonContext.Default.AlarmSnapshot);

        var line = Assert.Single(snapshot.Lines);
        Assert.True(line.On);
        Assert.Equal(AlarmOutputReason.MinOnHold, line.Reason);
        Assert.Equal(1, line.Activations);
        Assert.Contains("\"reason\":\"MinOnHold\"", json);
        Assert.Contains("\"levelHigh\":true", json);
    }

    [Fact]
    public void ToReported_DuringBlink_SameJsonInOnAndOffPhases()
    {
        var f = new AlarmFixture();
        using var alarm = f.Create(With(Light() with { PatternMs = [500, 500] }));
        alarm.Handle(Begin("v1"));

        string Reported() => System.Text.Json.JsonSerializer.Serialize(alarm.Snapshot().ToReported(), AlarmJsonContext.Default.AlarmReportedState);
        string onPhase = Reported();
        f.Advance(alarm, TimeSpan.FromSeconds(0.6));
        string offPhase = Reported();
        alarm.Handle(End("v1"));
        f.Advance(alarm, TimeSpan.FromSeconds(5));

        Assert.Equal(onPhase, offPhase);
        Assert.Contains("\"active\":true", onPhase);
        Assert.Contains("\"reason\":\"Violation\"", onPhase);
        Assert.Contains("\"reason\":\"Idle\"", Reported());
    }

    [Fact]
    public async Task Handle_RealClock_LightGoesOffAfterMinOn()
    {
        // The same schedule on the system clock: the timer must really fire (no fake clock steps it).
        var driver = new RecordingGpioDriver(16, TimeProvider.System);
        using var alarm = new LocalAlarm(With(Light() with { MinOn = TimeSpan.FromMilliseconds(100) }),
            new Gpio.DriverGpioChipProvider(new Dictionary<int, System.Device.Gpio.GpioDriver> { [0] = driver }));

        // One cycle first, so the measured one is not stretched at its start by first-call costs (JIT, pin set-up)
        // between the engine's "on" and the recorded write.
        alarm.Handle(Begin("v0"));
        alarm.Handle(End("v0"));
        await WaitUntilOffAsync(driver);
        int before = driver.Changes.Count;

        alarm.Handle(Begin("v1"));
        alarm.Handle(End("v1"));
        bool wasOn = driver.LevelHigh(5) == true;
        await WaitUntilOffAsync(driver);

        Assert.True(wasOn);
        Assert.False(driver.LevelHigh(5));
        var changes = driver.Changes.Skip(before).ToArray();
        Assert.Equal(2, changes.Length);
        // The minimum on-time runs from the engine's decision, a moment before the "on" write is recorded; on a loaded
        // machine that moment can reach milliseconds (this failed twice on 2026-12-08 with the 100 ms bound while other
        // test runs loaded both cores), so the bound allows 10.
        var onFor = changes[1].At - changes[0].At;
        Assert.True(onFor >= TimeSpan.FromMilliseconds(90), $"on for {onFor.TotalMilliseconds} ms, MinOn 100 ms");
    }

    private static async Task WaitUntilOffAsync(RecordingGpioDriver driver)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (driver.LevelHigh(5) == true && DateTime.UtcNow < deadline)
            await Task.Delay(20);
    }

    [Fact]
    public void Handle_LightAndBuzzer_EachFollowsItsOwnPatternAndTimings()
    {
        var f = new AlarmFixture();
        using var alarm = f.Create(With(
            Light("light", 1) with { MinOn = TimeSpan.FromSeconds(2) },
            Light("buzzer", 2) with { Kind = AlarmOutputKind.Sound, PatternMs = [200, 800], MaxOn = TimeSpan.FromSeconds(2.1) }));

        alarm.Handle(Begin("v1"));
        f.Advance(alarm, TimeSpan.FromSeconds(4));
        alarm.Handle(End("v1"));
        f.Advance(alarm, TimeSpan.FromSeconds(5));

        Assert.Equal(
        [
            f.On(0, 1), f.On(0, 2), f.Off(0.2, 2), f.On(1, 2), f.Off(1.2, 2), f.On(2, 2), f.Off(2.1, 2), // MaxOn cuts the third beep short
            f.Off(4, 1),
        ], f.ChangesAfterStart());
    }

    [Fact]
    public void Heartbeat_OneOfTwoCamerasStops_OnlyItsViolationIsDropped()
    {
        var f = new AlarmFixture();
        using var alarm = f.Create(With(Light()) with { WatchdogTimeout = TimeSpan.FromSeconds(5) });
        alarm.Heartbeat("door");
        alarm.Heartbeat("hall");
        alarm.Handle(Begin("d1", "door"));
        alarm.Handle(Begin("h1", "hall"));

        for (int i = 0; i < 10; i++)
        {
            f.Advance(alarm, TimeSpan.FromSeconds(1));
            alarm.Heartbeat("hall"); // the door pipeline is silent
        }
        var mid = alarm.Snapshot();
        alarm.Handle(End("h1", "hall"));

        Assert.Equal(1, mid.ActiveViolations);
        Assert.True(mid.Lines[0].On);
        Assert.Equal([("door", true), ("hall", false)], mid.Cameras.Select(c => (c.Camera, c.WatchdogTripped)));
        Assert.Equal([f.On(0, 5), f.Off(10, 5)], f.ChangesAfterStart());
    }

    [Fact]
    public void DriveSafeState_ProcessDyingWhileOn_EveryLineOffAndEventsIgnored()
    {
        var f = new AlarmFixture();
        using var alarm = f.Create(With(Light("a", 1), Light("b", 2) with { ActiveLow = true }));
        alarm.Handle(Begin("v1"));

        alarm.DriveSafeState();
        alarm.Handle(Begin("v2"));
        f.Advance(alarm, TimeSpan.FromSeconds(10));

        Assert.False(f.Chip0.LevelHigh(1));
        Assert.True(f.Chip0.LevelHigh(2));
        Assert.True(alarm.Snapshot().Stopped);
    }

    [Fact]
    public async Task TestAsync_SecondTestWhileFirstRuns_FirstEndingDoesNotCutTheSecond()
    {
        var f = new AlarmFixture();
        using var alarm = f.Create(With(Light()));

        var first = alarm.TestAsync(TimeSpan.FromSeconds(2), announce: false);
        f.Advance(alarm, TimeSpan.FromSeconds(1));
        var second = alarm.TestAsync(TimeSpan.FromSeconds(2), announce: false);
        f.Advance(alarm, TimeSpan.FromSeconds(1));
        await first.WaitAsync(TimeSpan.FromSeconds(30));
        bool onAfterFirst = f.Chip0.LevelHigh(5) == true;
        f.Advance(alarm, TimeSpan.FromSeconds(1));
        await second.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.True(onAfterFirst);
        Assert.Equal([f.On(0, 5), f.Off(3, 5)], f.ChangesAfterStart());
    }
}
