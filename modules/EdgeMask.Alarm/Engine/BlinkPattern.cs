namespace EdgeMask.Alarm.Engine;

/// <summary>
/// An on/off cycle measured from the moment an output was switched on. The phase is a pure function of the
/// elapsed time, so a late timer never accumulates drift and a jump in time lands in the right phase.
/// </summary>
internal sealed class BlinkPattern
{
    private readonly long[] _phaseTicks;
    private readonly long _cycleTicks;

    public BlinkPattern(IReadOnlyList<int> patternMs)
    {
        _phaseTicks = patternMs.Select(ms => TimeSpan.FromMilliseconds(ms).Ticks).ToArray();
        _cycleTicks = _phaseTicks.Sum();
    }

    public bool IsSteady => _phaseTicks.Length == 0;

    /// <summary>Whether the line is energized <paramref name="elapsed"/> after the start, and how long until that changes (null: never).</summary>
    public bool IsOn(TimeSpan elapsed, out TimeSpan? untilChange)
    {
        if (IsSteady)
        {
            untilChange = null;
            return true;
        }
        long pos = Math.Max(0, elapsed.Ticks) % _cycleTicks;
        for (int i = 0; i < _phaseTicks.Length; i++)
        {
            if (pos < _phaseTicks[i])
            {
                untilChange = TimeSpan.FromTicks(_phaseTicks[i] - pos);
                return i % 2 == 0;
            }
            pos -= _phaseTicks[i];
        }
        // Unreachable: pos < cycle; kept so the compiler sees every path return.
        untilChange = TimeSpan.FromTicks(_phaseTicks[0]);
        return true;
    }
}
