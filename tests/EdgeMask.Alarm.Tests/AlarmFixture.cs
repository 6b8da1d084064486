using EdgeMask.Alarm.Gpio;
using EdgeMask.Core.Events;
using Microsoft.Extensions.Time.Testing;

namespace EdgeMask.Alarm.Tests;

/// <summary>A fake clock, one recording chip (gpiochip0, 16 lines) and builders for options and events.</summary>
internal sealed class AlarmFixture
{
    public static readonly DateTimeOffset Start = new(2026, 3, 2, 12, 0, 0, TimeSpan.Zero);

    public AlarmFixture(DateTimeOffset? start = null, params int[] busyLines)
    {
        Time = new FakeTimeProvider(start ?? Start);
        Time.SetLocalTimeZone(TimeZoneInfo.Utc);
        Chip0 = new RecordingGpioDriver(16, Time, busyLines);
    }

    public FakeTimeProvider Time { get; }
    public RecordingGpioDriver Chip0 { get; }
    public DateTimeOffset T0 => Start;

    public DriverGpioChipProvider Chips => new(new Dictionary<int, System.Device.Gpio.GpioDriver> { [0] = Chip0 });

    public LocalAlarm Create(AlarmOptions options)
    {
        var alarm = new LocalAlarm(options, Chips, player: null, Time);
        OpenWrites = Chip0.Changes.Count;
        return alarm;
    }

    public static AlarmOutputOptions Light(string name = "light", int line = 5) => new()
    {
        Name = name,
        Kind = AlarmOutputKind.Light,
        Chip = 0,
        Line = line,
        MinOn = TimeSpan.Zero,
        MaxOn = TimeSpan.Zero,
        RateLimit = new RateLimitOptions { MaxActivations = 0 },
    };

    public static AlarmOptions With(params AlarmOutputOptions[] outputs) => new() { Enabled = true, Outputs = outputs };

    /// <summary>The line changes after construction (the initial off write is dropped).</summary>
    public IReadOnlyList<RecordingGpioDriver.LineWrite> ChangesAfterStart() => Chip0.Changes.Skip(OpenWrites).ToArray();

    public int OpenWrites { get; set; }

    /// <summary>
    /// Moves the fake clock forward by <paramref name="by"/>, stopping at every wake-up the alarm scheduled, as a
    /// real clock would: <see cref="FakeTimeProvider.Advance"/> alone fires due timers only at the end of the jump,
    /// with the clock already at the target.
    /// </summary>
    public void Advance(LocalAlarm alarm, TimeSpan by)
    {
        var target = Time.GetUtcNow() + by;
        for (int guard = 0; guard < 1_000_000; guard++)
        {
            if (alarm.NextWakeUp is { } next && next > Time.GetUtcNow() && next < target)
                Time.SetUtcNow(next);
            else
                break;
        }
        Time.SetUtcNow(target);
    }

    public RecordingGpioDriver.LineWrite On(double seconds, int line, bool activeLow = false) => new(T0 + TimeSpan.FromMilliseconds(Math.Round(seconds * 1000)), line, !activeLow);

    public RecordingGpioDriver.LineWrite Off(double seconds, int line, bool activeLow = false) => new(T0 + TimeSpan.FromMilliseconds(Math.Round(seconds * 1000)), line, activeLow);

    public static MaskEvent Event(string type, string id, string camera = "door", int sequence = 0)
    {
        var at = DateTimeOffset.UnixEpoch;
        return new MaskEvent
        {
            Id = id,
            Type = type,
            Sequence = sequence,
            Device = "jetson-1",
            Camera = camera,
            TrackId = 1,
            StartedAt = at,
            At = at,
            Frame = new EventFrame(640, 480),
            Face = new EventFace([0, 0, 10, 10], [0, 0, 0.1f, 0.1f], [], 0.9f),
            Mask = new EventMask("no_mask", 0.95f, 10, 8),
            Snapshot = EventSnapshot.None,
        };
    }

    public static MaskEvent Begin(string id, string camera = "door") => Event(EventTypes.ViolationStart, id, camera);

    public static MaskEvent Update(string id, string camera = "door") => Event(EventTypes.ViolationUpdate, id, camera, 1);

    public static MaskEvent End(string id, string camera = "door") => Event(EventTypes.ViolationEnd, id, camera, 2);
}

/// <summary>
/// A fake clock whose wall clock can be set (NTP stepping the system clock) while the monotonic clock and the timers stay
/// those of the <see cref="FakeTimeProvider"/> underneath, as on a real machine.
/// </summary>
internal sealed class SettableWallClock(FakeTimeProvider inner) : TimeProvider
{
    public TimeSpan Offset { get; set; }
    public override DateTimeOffset GetUtcNow() => inner.GetUtcNow() + Offset;
    public override long GetTimestamp() => inner.GetTimestamp();
    public override long TimestampFrequency => inner.TimestampFrequency;
    public override TimeZoneInfo LocalTimeZone => inner.LocalTimeZone;
    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) =>
        inner.CreateTimer(callback, state, dueTime, period);
}
