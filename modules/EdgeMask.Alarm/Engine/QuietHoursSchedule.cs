namespace EdgeMask.Alarm.Engine;

/// <summary>The daily quiet ranges in a time zone: whether an instant is quiet, and when that can next change.</summary>
internal sealed class QuietHoursSchedule
{
    private readonly IReadOnlyList<QuietHoursRange> _ranges;
    private readonly TimeZoneInfo _zone;

    public QuietHoursSchedule(IReadOnlyList<QuietHoursRange> ranges, TimeZoneInfo zone)
    {
        _ranges = ranges;
        _zone = zone;
    }

    public bool HasRanges => _ranges.Count > 0;

    public bool IsQuiet(DateTimeOffset now)
    {
        if (_ranges.Count == 0)
            return false;
        var local = TimeOnly.FromDateTime(TimeZoneInfo.ConvertTime(now, _zone).DateTime);
        foreach (var r in _ranges)
        {
            bool inside = r.CrossesMidnight
                ? local >= r.Start || local < r.End
                : local >= r.Start && local < r.End;
            if (inside)
                return true;
        }
        return false;
    }

    /// <summary>The next instant after <paramref name="now"/> at which some range starts or ends; null without ranges.</summary>
    public DateTimeOffset? NextBoundary(DateTimeOffset now)
    {
        if (_ranges.Count == 0)
            return null;
        var localNow = TimeZoneInfo.ConvertTime(now, _zone);
        DateTimeOffset? best = null;
        foreach (var r in _ranges)
        {
            foreach (var t in (ReadOnlySpan<TimeOnly>)[r.Start, r.End])
            {
                var candidate = NextOccurrence(localNow, t);
                if (candidate > now && (best is null || candidate < best))
                    best = candidate;
            }
        }
        return best;
    }

    private DateTimeOffset NextOccurrence(DateTimeOffset localNow, TimeOnly t)
    {
        for (int day = 0; day <= 2; day++)
        {
            var local = localNow.Date.AddDays(day) + t.ToTimeSpan();
            // A wall-clock time skipped by a DST jump happens at the first valid minute after the gap.
            int guard = 0;
            while (_zone.IsInvalidTime(local) && guard++ < 24 * 60)
                local = local.AddMinutes(1);
            var instant = new DateTimeOffset(local, _zone.GetUtcOffset(local));
            if (instant > localNow)
                return instant;
        }
        return localNow.AddDays(1);
    }
}
