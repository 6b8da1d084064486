namespace EdgeMask.Module.Pipeline;

/// <summary>The last N per-frame latencies, for the percentiles of the stats message. Fixed buffers: no allocation per frame.</summary>
public sealed class LatencyWindow(int capacity = 2048)
{
    private readonly double[] _values = new double[capacity];
    private readonly double[] _sorted = new double[capacity];
    private int _count, _next;

    public void Add(double milliseconds)
    {
        _values[_next] = milliseconds;
        _next = (_next + 1) % _values.Length;
        if (_count < _values.Length) _count++;
    }

    /// <summary>p50, p95 and max of the window, then clears it (each stats interval stands on its own).</summary>
    public (double P50, double P95, double Max) TakePercentiles()
    {
        if (_count == 0) return (0, 0, 0);
        Array.Copy(_values, _sorted, _count);
        Array.Sort(_sorted, 0, _count);
        var result = (At(0.50), At(0.95), _sorted[_count - 1]);
        _count = 0;
        _next = 0;
        return result;
    }

    /// <summary>Nearest-rank percentile: the ⌈q·n⌉-th smallest value.</summary>
    private double At(double q) => _sorted[Math.Clamp((int)Math.Ceiling(q * _count) - 1, 0, _count - 1)];
}
