using System.Device.Gpio;

namespace EdgeMask.Alarm.Tests;

/// <summary>
/// A GPIO chip without hardware: records every write with the injected clock's time, so tests assert the exact
/// sequence of line changes the real <see cref="GpioController"/> passes down. Lines in <c>busyLines</c> refuse to open
/// the way libgpiod does when another consumer holds them.
/// </summary>
internal sealed class RecordingGpioDriver : GpioDriver
{
    private readonly int _pinCount;
    private readonly TimeProvider _time;
    private readonly HashSet<int> _busy;
    private readonly Lock _gate = new();
    private readonly Dictionary<int, PinMode> _modes = [];
    private readonly Dictionary<int, PinValue> _levels = [];
    private readonly List<LineWrite> _writes = [];
    private readonly List<int> _closed = [];

    public sealed record LineWrite(DateTimeOffset At, int Line, bool High);

    public RecordingGpioDriver(int pinCount, TimeProvider time, params int[] busyLines)
    {
        _pinCount = pinCount;
        _time = time;
        _busy = [.. busyLines];
    }

    public bool Disposed { get; private set; }

    public IReadOnlyList<LineWrite> Writes
    {
        get
        {
            lock (_gate)
                return _writes.ToArray();
        }
    }

    /// <summary>Writes that changed a line's level (a repeated write of the same level is not a change).</summary>
    public IReadOnlyList<LineWrite> Changes
    {
        get
        {
            lock (_gate)
            {
                var last = new Dictionary<int, bool>();
                var changes = new List<LineWrite>();
                foreach (var w in _writes)
                {
                    if (!last.TryGetValue(w.Line, out bool prev) || prev != w.High)
                        changes.Add(w);
                    last[w.Line] = w.High;
                }
                return changes;
            }
        }
    }

    public IReadOnlyList<int> Closed
    {
        get
        {
            lock (_gate)
                return _closed.ToArray();
        }
    }

    public bool IsOpen(int line)
    {
        lock (_gate)
            return _modes.ContainsKey(line);
    }

    public bool? LevelHigh(int line)
    {
        lock (_gate)
            return _levels.TryGetValue(line, out var v) ? v == PinValue.High : null;
    }

    protected override int PinCount => _pinCount;

    protected override void OpenPin(int pinNumber)
    {
        lock (_gate)
        {
            if (_busy.Contains(pinNumber))
                throw new IOException($"Error while opening pin {pinNumber}: Device or resource busy");
            _modes[pinNumber] = PinMode.Input;
        }
    }

    protected override void ClosePin(int pinNumber)
    {
        lock (_gate)
        {
            _modes.Remove(pinNumber);
            _closed.Add(pinNumber);
        }
    }

    protected override void SetPinMode(int pinNumber, PinMode mode)
    {
        lock (_gate)
            _modes[pinNumber] = mode;
    }

    protected override PinMode GetPinMode(int pinNumber)
    {
        lock (_gate)
            return _modes[pinNumber];
    }

    protected override bool IsPinModeSupported(int pinNumber, PinMode mode) => mode is PinMode.Input or PinMode.Output;

    protected override PinValue Read(int pinNumber)
    {
        lock (_gate)
            return _levels.GetValueOrDefault(pinNumber, PinValue.Low);
    }

    protected override void Write(int pinNumber, PinValue value)
    {
        lock (_gate)
        {
            if (!_modes.TryGetValue(pinNumber, out var mode) || mode != PinMode.Output)
                throw new InvalidOperationException($"line {pinNumber} is not an open output");
            _levels[pinNumber] = value;
            _writes.Add(new LineWrite(_time.GetUtcNow(), pinNumber, value == PinValue.High));
        }
    }

    protected override WaitForEventResult WaitForEvent(int pinNumber, PinEventTypes eventTypes, CancellationToken cancellationToken) =>
        throw new NotSupportedException("the alarm only drives outputs");

    protected override void AddCallbackForPinValueChangedEvent(int pinNumber, PinEventTypes eventTypes, PinChangeEventHandler callback) =>
        throw new NotSupportedException("the alarm only drives outputs");

    protected override void RemoveCallbackForPinValueChangedEvent(int pinNumber, PinChangeEventHandler callback) =>
        throw new NotSupportedException("the alarm only drives outputs");

    protected override void Dispose(bool disposing)
    {
        Disposed = true;
        base.Dispose(disposing);
    }
}
