using System.Device.Gpio;
using System.Device.Gpio.Drivers;
using Microsoft.Extensions.Logging;

namespace EdgeMask.Alarm.Gpio;

/// <summary>
/// Owns the opened chips and output lines of the alarm, translates logical on/off into levels (active-low), and
/// remembers each line's state for the snapshot. Not thread-safe: <see cref="LocalAlarm"/> serializes access.
/// </summary>
internal sealed partial class GpioLineBank : IDisposable
{
    private readonly LineSlot[] _lines;
    private readonly List<GpioChipHandle> _chips = [];
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private bool _disposed;

    internal sealed class LineSlot(AlarmOutputOptions options, GpioChipHandle chip, int pin)
    {
        public AlarmOutputOptions Options { get; } = options;
        public GpioChipHandle Chip { get; } = chip;
        public int Pin { get; } = pin;
        public bool On { get; set; }
        public bool Open { get; set; }
        public DateTimeOffset? ChangedAt { get; set; }
        public long Changes { get; set; }
        public string? Fault { get; set; }
    }

    /// <summary>Opens every line as an output at its off level; on any failure closes what it opened and throws.</summary>
    public GpioLineBank(IReadOnlyList<AlarmOutputOptions> outputs, IGpioChipProvider provider, TimeProvider time, ILogger logger)
    {
        _logger = logger;
        _time = time;
        _lines = new LineSlot[outputs.Count];
        var chips = new Dictionary<int, GpioChipHandle>();
        bool complete = false;
        try
        {
            for (int i = 0; i < outputs.Count; i++)
            {
                var o = outputs[i];
                string key = $"{AlarmOptions.Section}:Outputs:{i}";
                if (!chips.TryGetValue(o.Chip, out var chip))
                {
                    chip = provider.Open(o.Chip, $"{key}:Chip");
                    chips.Add(o.Chip, chip);
                    _chips.Add(chip);
                }
                if (chip.LineCount is int count && o.Line >= count)
                {
                    throw new AlarmConfigurationException($"{key}:Line",
                        $"gpiochip{o.Chip} has {count} lines (0..{count - 1}), there is no line {o.Line}; 'gpioinfo gpiochip{o.Chip}' lists them");
                }
                var slot = new LineSlot(o, chip, chip.PinFor(o.Line));
                OpenAtOffLevel(slot, $"{key}:Line");
                _lines[i] = slot;
                LogLineOpened(_logger, o.Name, o.Chip, o.Line, o.ActiveLow, chip.DriverName);
            }
            complete = true;
        }
        finally
        {
            // Leave nothing half-open: the lines opened so far go back off and are released before the error surfaces.
            if (!complete)
                Dispose();
        }
    }

    public int Count => _lines.Length;

    public LineSlot this[int index] => _lines[index];

    private void OpenAtOffLevel(LineSlot slot, string key)
    {
        var o = slot.Options;
        try
        {
            // Opening with the initial value avoids a glitch: a line opened as output and then written would
            // briefly drive the default level, which is "on" for an active-low relay.
            slot.Chip.Controller.OpenPin(slot.Pin, PinMode.Output, Level(o, on: false));
            slot.Open = true;
            slot.ChangedAt = _time.GetUtcNow();
        }
        catch (Exception e) when (e is IOException or GpiodException or UnauthorizedAccessException or InvalidOperationException)
        {
            throw new GpioLineUnavailableException(key, o.Chip, o.Line,
                $"cannot be opened as an output ({e.Message}); it may be busy (another process or a kernel driver holds it: " +
                $"'gpioinfo gpiochip{o.Chip}' shows its consumer) or not exist on this board", e);
        }
    }

    /// <summary>Drives the line of output <paramref name="index"/>; returns whether the level changed.</summary>
    public bool Set(int index, bool on)
    {
        var slot = _lines[index];
        if (slot is null || !slot.Open || slot.On == on)
            return false;
        try
        {
            slot.Chip.Controller.Write(slot.Pin, Level(slot.Options, on));
            slot.On = on;
            slot.Changes++;
            slot.ChangedAt = _time.GetUtcNow();
            if (slot.Fault is not null)
            {
                slot.Fault = null;
                LogLineRecovered(_logger, slot.Options.Name);
            }
            return true;
        }
        catch (Exception e) when (e is IOException or GpiodException or InvalidOperationException)
        {
            // Keep driving the other lines; the fault is visible in the snapshot and logged once per episode.
            if (slot.Fault is null)
                LogWriteFailed(_logger, e, slot.Options.Name, slot.Options.Chip, slot.Options.Line);
            slot.Fault = e.Message;
            return false;
        }
    }

    /// <summary>Every line to its off level, regardless of what the bank believes the level is.</summary>
    public void AllOff()
    {
        foreach (var slot in _lines)
        {
            if (slot is null || !slot.Open)
                continue;
            try
            {
                slot.Chip.Controller.Write(slot.Pin, Level(slot.Options, on: false));
                if (slot.On)
                {
                    slot.Changes++;
                    slot.ChangedAt = _time.GetUtcNow();
                }
                slot.On = false;
            }
            catch (Exception e) when (e is IOException or GpiodException or InvalidOperationException)
            {
                slot.Fault = e.Message;
                LogWriteFailed(_logger, e, slot.Options.Name, slot.Options.Chip, slot.Options.Line);
            }
        }
    }

    public static PinValue Level(AlarmOutputOptions o, bool on) => on ^ o.ActiveLow ? PinValue.High : PinValue.Low;

    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        AllOff();
        foreach (var slot in _lines)
        {
            if (slot is null || !slot.Open)
                continue;
            try
            {
                slot.Chip.Controller.ClosePin(slot.Pin);
            }
            catch (Exception e) when (e is IOException or GpiodException or InvalidOperationException)
            {
                LogCloseFailed(_logger, e, slot.Options.Name);
            }
            slot.Open = false;
        }
        foreach (var chip in _chips)
            chip.Dispose();
        _chips.Clear();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Alarm output {Output} on gpiochip{Chip} line {Line} (active-low {ActiveLow}) opened off through {Driver}")]
    private static partial void LogLineOpened(ILogger logger, string output, int chip, int line, bool activeLow, string driver);

    [LoggerMessage(Level = LogLevel.Error, Message = "Writing alarm output {Output} (gpiochip{Chip} line {Line}) failed")]
    private static partial void LogWriteFailed(ILogger logger, Exception e, string output, int chip, int line);

    [LoggerMessage(Level = LogLevel.Information, Message = "Alarm output {Output} writes again")]
    private static partial void LogLineRecovered(ILogger logger, string output);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Closing alarm output {Output} failed")]
    private static partial void LogCloseFailed(ILogger logger, Exception e, string output);
}
