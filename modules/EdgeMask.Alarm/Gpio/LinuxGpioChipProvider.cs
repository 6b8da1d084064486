using System.Device.Gpio;
using System.Device.Gpio.Drivers;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMask.Alarm.Gpio;

/// <summary>
/// The real chips: <c>/dev/gpiochipN</c> through libgpiod (System.Device.Gpio <c>LibGpiodDriver</c>), or the sysfs
/// interface when libgpiod is not installed (<see cref="GpioDriverKind.Auto"/>) or when asked for.
/// </summary>
public sealed partial class LinuxGpioChipProvider : IGpioChipProvider
{
    private readonly GpioOptions _options;
    private readonly ILogger _logger;
    private readonly string _devRoot;
    private readonly string _sysfsRoot;

    public LinuxGpioChipProvider(GpioOptions options, ILogger<LinuxGpioChipProvider>? logger = null)
        : this(options, logger, "/dev", "/sys/class/gpio")
    {
    }

    // The roots are parameters so the sysfs base lookup can be pointed at a fake tree.
    internal LinuxGpioChipProvider(GpioOptions options, ILogger? logger, string devRoot, string sysfsRoot)
    {
        _options = options;
        _logger = logger ?? NullLogger.Instance;
        _devRoot = devRoot;
        _sysfsRoot = sysfsRoot;
    }

    public GpioChipHandle Open(int chip, string key)
    {
        switch (_options.Driver)
        {
            case GpioDriverKind.Sysfs:
                return OpenSysfs(chip, key);
            case GpioDriverKind.Libgpiod:
            case GpioDriverKind.LibgpiodV2:
                return OpenLibgpiod(chip, key, _options.Driver == GpioDriverKind.LibgpiodV2)
                    ?? throw new GpioLineUnavailableException(key, chip, -1,
                        "libgpiod cannot be loaded; install it in the image (Debian/Ubuntu: libgpiod2) or set Alarm:Gpio:Driver to Sysfs");
            default:
                // JetPack ships the libgpiod v1 library; newer distributions only the v2 one; old kernels only sysfs.
                if (OpenLibgpiod(chip, key, v2: false) is { } v1)
                    return v1;
                if (OpenLibgpiod(chip, key, v2: true) is { } v2)
                    return v2;
                if (!Directory.Exists(_sysfsRoot))
                {
                    throw new GpioLineUnavailableException(key, chip, -1,
                        "libgpiod cannot be loaded (install libgpiod2 in the image) and this kernel has no sysfs GPIO interface");
                }
                LogFallingBackToSysfs(_logger, chip);
                return OpenSysfs(chip, key);
        }
    }

    /// <returns>Null when the libgpiod library itself cannot be loaded (the caller may fall back).</returns>
    private GpioChipHandle? OpenLibgpiod(int chip, string key, bool v2)
    {
        string device = Path.Combine(_devRoot, $"gpiochip{chip}");
        if (!File.Exists(device))
        {
            throw new AlarmConfigurationException(key,
                $"{device} does not exist; 'gpiodetect' lists the chips, and the container needs the device mapped (createOptions HostConfig.Devices)");
        }
        GpioDriver driver;
        try
        {
            driver = v2 ? new LibGpiodV2Driver(chip) : new LibGpiodDriver(chip);
        }
        catch (PlatformNotSupportedException e)
        {
            // LibGpiodDriver's way of saying libgpiod.so is not installed.
            LogLibgpiodMissing(_logger, e.Message);
            return null;
        }
        catch (GpiodException e) when (e.InnerException is DllNotFoundException or EntryPointNotFoundException)
        {
            LogLibgpiodMissing(_logger, e.Message);
            return null;
        }
        catch (Exception e) when (e is GpiodException or IOException or UnauthorizedAccessException)
        {
            throw new GpioLineUnavailableException(key, chip, -1,
                $"libgpiod cannot open {device} ({e.Message}); check the device permissions (group gpio) and that the container maps it", e);
        }
        var controller = new GpioController(driver);
        return new GpioChipHandle(chip, controller, controller.PinCount, driver.GetType().Name);
    }

    private GpioChipHandle OpenSysfs(int chip, string key)
    {
        if (!Directory.Exists(_sysfsRoot))
            throw new GpioLineUnavailableException(key, chip, -1, $"{_sysfsRoot} does not exist: this kernel has no sysfs GPIO interface; use libgpiod");
        var (chipBase, lineCount) = FindSysfsChip(chip, key);
        var controller = new GpioController(new SysFsDriver());
        return new GpioChipHandle(chip, controller, lineCount, nameof(SysFsDriver), chipBase);
    }

    /// <summary>
    /// sysfs numbers GPIOs globally: line L of chip N is <c>base + L</c>, where <c>base</c> belongs to the
    /// <c>/sys/class/gpio/gpiochipBASE</c> whose parent device also holds the character device <c>gpiochipN</c>.
    /// </summary>
    internal (int Base, int? LineCount) FindSysfsChip(int chip, string key)
    {
        if (_options.SysfsChipBase.TryGetValue(chip.ToString(CultureInfo.InvariantCulture), out int configured))
            return (configured, null);
        foreach (string dir in Directory.EnumerateDirectories(_sysfsRoot, "gpiochip*"))
        {
            if (Directory.Exists(Path.Combine(dir, "device", $"gpiochip{chip}")))
            {
                int chipBase = ReadInt(Path.Combine(dir, "base"));
                int ngpio = ReadInt(Path.Combine(dir, "ngpio"));
                return (chipBase, ngpio);
            }
        }
        throw new AlarmConfigurationException(key,
            $"no sysfs gpiochip in {_sysfsRoot} belongs to gpiochip{chip}; set Alarm:Gpio:SysfsChipBase:{chip} to its base");
    }

    private static int ReadInt(string path) =>
        int.Parse(File.ReadAllText(path).Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture);

    [LoggerMessage(Level = LogLevel.Warning, Message = "libgpiod is not available ({Reason})")]
    private static partial void LogLibgpiodMissing(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Using the sysfs GPIO interface for gpiochip{Chip} because libgpiod is not available")]
    private static partial void LogFallingBackToSysfs(ILogger logger, int chip);
}
