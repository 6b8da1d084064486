namespace EdgeMask.Core.Resilience;

/// <summary>
/// Sees the wall clock step: between two readings, the wall clock's progress is compared with the monotonic clock's
/// (<see cref="TimeProvider.GetTimestamp"/>), which NTP does not move. A Jetson often boots with a wrong clock that NTP
/// then sets, by minutes or hours; whatever remembers wall-clock instants to measure durations (on-times, track ages,
/// cooldowns) must move them by the step, or the step becomes part of every duration. One reader per instance.
/// </summary>
public sealed class ClockStepDetector(TimeProvider time)
{
    /// <summary>Differences up to this are jitter between the two readings (NTP slews small errors anyway), not a step.</summary>
    public static readonly TimeSpan Tolerance = TimeSpan.FromSeconds(2);

    private DateTimeOffset _lastWall;
    private long _lastTimestamp;
    private bool _seen;

    /// <summary>
    /// Takes a reading — <paramref name="wall"/> and <paramref name="timestamp"/> of the same instant, from the clock this
    /// detector was made with — and returns by how much the wall clock stepped since the previous one: zero for the first
    /// reading and within <see cref="Tolerance"/>.
    /// </summary>
    public TimeSpan Observe(DateTimeOffset wall, long timestamp)
    {
        TimeSpan step = TimeSpan.Zero;
        if (_seen)
        {
            TimeSpan difference = wall - _lastWall - time.GetElapsedTime(_lastTimestamp, timestamp);
            if (difference > Tolerance || difference < -Tolerance) step = difference;
        }
        _lastWall = wall;
        _lastTimestamp = timestamp;
        _seen = true;
        return step;
    }
}
