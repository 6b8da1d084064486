using System.Device.Gpio;

namespace EdgeMask.Alarm.Gpio;

/// <summary>
/// One opened gpiochip: the <see cref="GpioController"/> over its driver, how many lines it has, and how a line
/// offset maps to the driver's pin number (the same for libgpiod; base + offset for sysfs).
/// </summary>
public sealed class GpioChipHandle : IDisposable
{
    private readonly bool _shouldDispose;
    private readonly int _pinOffset;

    /// <param name="lineCount">Lines of the chip, or null when the driver cannot tell (then the range is not checked).</param>
    /// <param name="pinOffset">Added to a line offset to get the driver's pin number (the sysfs chip base; 0 otherwise).</param>
    /// <param name="shouldDispose">Whether disposing this handle disposes the controller (and with it its driver).</param>
    public GpioChipHandle(int chip, GpioController controller, int? lineCount, string driverName, int pinOffset = 0, bool shouldDispose = true)
    {
        ArgumentNullException.ThrowIfNull(controller);
        Chip = chip;
        Controller = controller;
        LineCount = lineCount;
        DriverName = driverName;
        _pinOffset = pinOffset;
        _shouldDispose = shouldDispose;
    }

    public int Chip { get; }
    public GpioController Controller { get; }
    public int? LineCount { get; }
    public string DriverName { get; }

    public int PinFor(int line) => _pinOffset + line;

    public void Dispose()
    {
        if (_shouldDispose)
            Controller.Dispose();
    }
}

/// <summary>Opens gpiochips by number; the real one is <see cref="LinuxGpioChipProvider"/>, tests give drivers.</summary>
public interface IGpioChipProvider
{
    /// <summary>
    /// Opens chip <paramref name="chip"/>. Throws <see cref="AlarmConfigurationException"/> naming
    /// <paramref name="key"/> when the chip does not exist, <see cref="GpioLineUnavailableException"/> when it cannot be used.
    /// </summary>
    GpioChipHandle Open(int chip, string key);
}

/// <summary>Chips backed by drivers the caller built (tests, or a board-specific driver). The alarm owns the drivers.</summary>
public sealed class DriverGpioChipProvider : IGpioChipProvider
{
    private readonly Func<int, GpioDriver?> _driverForChip;

    /// <param name="driverForChip">The driver of a chip number, or null when that chip does not exist.</param>
    public DriverGpioChipProvider(Func<int, GpioDriver?> driverForChip) => _driverForChip = driverForChip;

    /// <summary>One driver per chip number; other chip numbers do not exist.</summary>
    public DriverGpioChipProvider(IReadOnlyDictionary<int, GpioDriver> drivers)
        : this(chip => drivers.TryGetValue(chip, out var d) ? d : null)
    {
    }

    public GpioChipHandle Open(int chip, string key)
    {
        var driver = _driverForChip(chip)
            ?? throw new AlarmConfigurationException(key, $"gpiochip{chip} does not exist");
        // GpioController disposes its driver: the handle (and so the alarm) becomes the driver's single owner.
        var controller = new GpioController(driver);
        return new GpioChipHandle(chip, controller, controller.PinCount, driver.GetType().Name);
    }
}
