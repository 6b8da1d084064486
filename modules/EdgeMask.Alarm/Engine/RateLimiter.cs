namespace EdgeMask.Alarm.Engine;

/// <summary>At most N activations in any sliding window.</summary>
internal sealed class RateLimiter(RateLimitOptions options)
{
    private readonly Queue<DateTimeOffset> _starts = new();

    /// <summary>Continues the history of <paramref name="previous"/> (a live settings change must not reset the limit).</summary>
    public void TakeHistoryFrom(RateLimiter previous)
    {
        foreach (var start in previous._starts)
            Record(start);
    }

    public bool Allows(DateTimeOffset now)
    {
        if (options.MaxActivations == 0)
            return true;
        Purge(now);
        return _starts.Count < options.MaxActivations;
    }

    public void Record(DateTimeOffset now)
    {
        if (options.MaxActivations > 0)
            _starts.Enqueue(now);
    }

    /// <summary>Moves the remembered activations by a step of the wall clock, so the window keeps its length across it.</summary>
    public void Shift(TimeSpan step)
    {
        int n = _starts.Count;
        for (int i = 0; i < n; i++) _starts.Enqueue(_starts.Dequeue() + step);
    }

    /// <summary>When the oldest activation leaves the window (the earliest a blocked activation can happen).</summary>
    public DateTimeOffset? NextAllowed(DateTimeOffset now)
    {
        if (options.MaxActivations == 0)
            return null;
        Purge(now);
        return _starts.Count < options.MaxActivations ? null : _starts.Peek() + options.Window;
    }

    private void Purge(DateTimeOffset now)
    {
        while (_starts.Count > 0 && _starts.Peek() + options.Window <= now)
            _starts.Dequeue();
    }
}
