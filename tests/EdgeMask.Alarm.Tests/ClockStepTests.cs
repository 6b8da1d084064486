using static EdgeMask.Alarm.Tests.AlarmFixture;

namespace EdgeMask.Alarm.Tests;

/// <summary>
/// The system clock set while the alarm runs (NTP correcting a Jetson's clock after boot): durations keep their lengths,
/// the lines are timed by how much time really passed.
/// </summary>
public sealed class ClockStepTests
{
    private static (AlarmFixture Fixture, SettableWallClock Clock, LocalAlarm Alarm) Start(AlarmOutputOptions light)
    {
        var f = new AlarmFixture();
        var clock = new SettableWallClock(f.Time);
        var alarm = new LocalAlarm(With(light), f.Chips, player: null, clock);
        f.OpenWrites = f.Chip0.Changes.Count;
        return (f, clock, alarm);
    }

    /// <summary>Real time passes in 100 ms steps, firing the alarm's timers as they fall due.</summary>
    private static void Pass(AlarmFixture f, TimeSpan by)
    {
        for (var t = TimeSpan.Zero; t < by; t += TimeSpan.FromMilliseconds(100)) f.Time.Advance(TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public void Handle_ClockSetBackAnHourWhileOn_OffWhenMinOnHasReallyPassed()
    {
        var (f, clock, alarm) = Start(Light() with { MinOn = TimeSpan.FromSeconds(3) });
        using var _ = alarm;

        alarm.Handle(Begin("v1"));
        Pass(f, TimeSpan.FromSeconds(1));
        clock.Offset = TimeSpan.FromHours(-1);
        alarm.Handle(End("v1"));
        Pass(f, TimeSpan.FromSeconds(10));

        // Before: held on for the hour the clock went back (the minimum on-time measured on the wall clock).
        Assert.Equal([f.On(0, 5), f.Off(3, 5)], f.ChangesAfterStart());
    }

    [Fact]
    public void Handle_ClockSetForwardAnHourWhileOn_MaxOnStillItsLength()
    {
        var (f, clock, alarm) = Start(Light() with { MaxOn = TimeSpan.FromSeconds(5) });
        using var _ = alarm;

        alarm.Handle(Begin("v1"));
        Pass(f, TimeSpan.FromSeconds(1));
        clock.Offset = TimeSpan.FromHours(1);
        alarm.Handle(Update("v1"));
        Pass(f, TimeSpan.FromSeconds(10));

        // Before: off at once, the hour counted as on-time.
        Assert.Equal([f.On(0, 5), f.Off(5, 5)], f.ChangesAfterStart());
    }

    [Fact]
    public void Handle_ClockSetForwardPastTheWatchdog_NoCameraTripped()
    {
        var (f, clock, alarm) = Start(Light());
        using var _ = alarm;
        alarm.Heartbeat("door");
        alarm.Heartbeat("hall");
        alarm.Handle(Begin("v1"));
        Pass(f, TimeSpan.FromSeconds(1));
        alarm.Heartbeat("door");
        alarm.Heartbeat("hall");

        clock.Offset = TimeSpan.FromHours(1);
        // The hall's event comes before the door's next heartbeat (an event is a sign of life of its own camera only).
        alarm.Handle(Begin("v2", "hall"));

        // Before: the hour looked like the door's camera silent past its watchdog, and its violation was dropped.
        Assert.DoesNotContain(alarm.Snapshot().Cameras, c => c.WatchdogTripped);
    }
}
