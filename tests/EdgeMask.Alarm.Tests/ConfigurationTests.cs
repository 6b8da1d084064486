using EdgeMask.Alarm.Gpio;
using static EdgeMask.Alarm.Tests.AlarmFixture;

namespace EdgeMask.Alarm.Tests;

/// <summary>Misconfiguration is refused at start with an error that names the key to fix.</summary>
public sealed class ConfigurationTests
{
    private static AlarmConfigurationException Refused(AlarmOptions options) =>
        Assert.Throws<AlarmConfigurationException>(() => AlarmOptionsValidator.Validate(options));

    [Fact]
    public void Constructor_UnknownChip_NamesTheChipKey()
    {
        var f = new AlarmFixture();

        var e = Assert.Throws<AlarmConfigurationException>(() => f.Create(With(Light("a", 1), Light("b", 2) with { Chip = 3 })));

        Assert.Equal("Alarm:Outputs:1:Chip", e.Key);
        Assert.Contains("gpiochip3", e.Message);
        // The line opened before the failure is released at its off level.
        Assert.Equal([1], f.Chip0.Closed);
        Assert.False(f.Chip0.LevelHigh(1));
    }

    [Fact]
    public void Constructor_LineBeyondTheChip_NamesTheLineKey()
    {
        var f = new AlarmFixture();

        var e = Assert.Throws<AlarmConfigurationException>(() => f.Create(With(Light("a", 16))));

        Assert.Equal("Alarm:Outputs:0:Line", e.Key);
        Assert.Contains("16 lines", e.Message);
    }

    [Fact]
    public void Constructor_BusyLine_ThrowsLineUnavailableNamingKey()
    {
        var f = new AlarmFixture(busyLines: 7);

        var e = Assert.Throws<GpioLineUnavailableException>(() => f.Create(With(Light("a", 1), Light("b", 7))));

        Assert.Equal("Alarm:Outputs:1:Line", e.Key);
        Assert.Equal(7, e.Line);
        Assert.Contains("busy", e.Message);
        Assert.IsType<IOException>(e.InnerException);
        Assert.Equal([1], f.Chip0.Closed);
        Assert.True(f.Chip0.Disposed);
    }

    [Fact]
    public void Validate_SameLineTwice_NamesTheSecondUse()
    {
        var e = Refused(With(Light("a", 4), Light("b", 4)));

        Assert.Equal("Alarm:Outputs:1:Line", e.Key);
        Assert.Contains("already used by Alarm:Outputs:0", e.Message);
    }

    [Fact]
    public void Validate_SameLineNumberOnAnotherChip_Accepted()
    {
        AlarmOptionsValidator.Validate(With(Light("a", 4), Light("b", 4) with { Chip = 1 }));
    }

    [Fact]
    public void Validate_DuplicateOutputName_NamesTheName()
    {
        Assert.Equal("Alarm:Outputs:1:Name", Refused(With(Light("a", 1), Light("a", 2))).Key);
    }

    [Fact]
    public void Validate_IncorrectWavFileMissing_NamesTheKey()
    {
        var e = Refused(With(Light()) with
        {
            Announcement = new AnnouncementOptions { Enabled = true, IncorrectWavFile = "/no/such/cover-your-nose.wav" },
        });

        Assert.Equal("Alarm:Announcement:IncorrectWavFile", e.Key);
        Assert.Contains("/no/such/cover-your-nose.wav", e.Message);
    }

    [Fact]
    public void Validate_LineMissing_NamesTheLine()
    {
        var e = Refused(With(new AlarmOutputOptions { Name = "a" }));

        Assert.Equal("Alarm:Outputs:0:Line", e.Key);
        Assert.Contains("gpioinfo", e.Message);
    }

    [Fact]
    public void Validate_InvertedQuietHoursRange_NamesTheRange()
    {
        var e = Refused(With(Light()) with
        {
            QuietHours = new QuietHoursOptions { Ranges = [new QuietHoursRange { Start = new TimeOnly(18, 0), End = new TimeOnly(8, 0) }] },
        });

        Assert.Equal("Alarm:QuietHours:Ranges:0", e.Key);
        Assert.Contains("inverted", e.Message);
        Assert.Contains("CrossesMidnight", e.Message);
    }

    [Fact]
    public void Validate_EmptyQuietHoursRange_NamesTheRange()
    {
        var e = Refused(With(Light()) with
        {
            QuietHours = new QuietHoursOptions
            {
                Ranges =
                [
                    new QuietHoursRange { Start = new TimeOnly(1, 0), End = new TimeOnly(2, 0) },
                    new QuietHoursRange { Start = new TimeOnly(22, 0), End = new TimeOnly(22, 0), CrossesMidnight = true },
                ],
            },
        });

        Assert.Equal("Alarm:QuietHours:Ranges:1", e.Key);
        Assert.Contains("empty", e.Message);
    }

    [Fact]
    public void Validate_CrossesMidnightOnASameDayRange_NamesTheFlag()
    {
        var e = Refused(With(Light()) with
        {
            QuietHours = new QuietHoursOptions { Ranges = [new QuietHoursRange { Start = new TimeOnly(8, 0), End = new TimeOnly(9, 0), CrossesMidnight = true }] },
        });

        Assert.Equal("Alarm:QuietHours:Ranges:0:CrossesMidnight", e.Key);
    }

    [Fact]
    public void Validate_UnknownTimeZone_NamesTheKey()
    {
        Assert.Equal("Alarm:QuietHours:TimeZone", Refused(With(Light()) with { QuietHours = new QuietHoursOptions { TimeZone = "Mars/Olympus" } }).Key);
    }

    [Theory]
    [InlineData("MinOn")]
    [InlineData("MaxOn")]
    [InlineData("RateLimit:Window")]
    public void Validate_NegativeDuration_NamesTheKey(string which)
    {
        var negative = TimeSpan.FromSeconds(-1);
        var light = which switch
        {
            "MinOn" => Light() with { MinOn = negative },
            "MaxOn" => Light() with { MaxOn = negative },
            _ => Light() with { RateLimit = new RateLimitOptions { MaxActivations = 1, Window = negative } },
        };

        var e = Refused(With(light));

        Assert.Equal($"Alarm:Outputs:0:{which}", e.Key);
        Assert.Contains("negative", e.Message);
    }

    [Fact]
    public void Validate_NegativeWatchdogTimeout_NamesTheKey()
    {
        Assert.Equal("Alarm:WatchdogTimeout", Refused(With(Light()) with { WatchdogTimeout = TimeSpan.FromSeconds(-5) }).Key);
    }

    [Fact]
    public void Validate_MaxOnShorterThanMinOn_NamesMaxOn()
    {
        Assert.Equal("Alarm:Outputs:0:MaxOn",
            Refused(With(Light() with { MinOn = TimeSpan.FromSeconds(10), MaxOn = TimeSpan.FromSeconds(5) })).Key);
    }

    [Fact]
    public void Validate_OddPattern_NamesThePattern()
    {
        Assert.Equal("Alarm:Outputs:0:PatternMs", Refused(With(Light() with { PatternMs = [500, 500, 200] })).Key);
    }

    [Fact]
    public void Validate_ZeroPatternStep_NamesTheStep()
    {
        Assert.Equal("Alarm:Outputs:0:PatternMs:1", Refused(With(Light() with { PatternMs = [500, 0] })).Key);
    }

    [Fact]
    public void Validate_MappingToUnknownOutput_NamesTheEntry()
    {
        var e = Refused(With(Light("light")) with
        {
            Cameras = [new CameraMapping { Camera = "door", Outputs = ["light", "siren"] }],
        });

        Assert.Equal("Alarm:Cameras:0:Outputs:1", e.Key);
        Assert.Contains("siren", e.Message);
    }

    [Fact]
    public void Validate_MappingWithoutCamera_NamesTheCameraKey()
    {
        Assert.Equal("Alarm:Cameras:0:Camera", Refused(With(Light()) with { Cameras = [new CameraMapping { Outputs = ["light"] }] }).Key);
    }

    [Fact]
    public void Validate_CameraMappedTwice_NamesTheSecond()
    {
        Assert.Equal("Alarm:Cameras:1:Camera", Refused(With(Light()) with
        {
            Cameras = [new CameraMapping { Camera = "door" }, new CameraMapping { Camera = "door" }],
        }).Key);
    }

    [Fact]
    public void Validate_EnabledWithoutOutputsOrAnnouncement_NamesOutputs()
    {
        Assert.Equal("Alarm:Outputs", Refused(new AlarmOptions { Enabled = true }).Key);
    }

    [Fact]
    public void Validate_AnnouncementEnablesUnknownOutput_NamesTheEntry()
    {
        Assert.Equal("Alarm:Announcement:EnableOutputs:0",
            Refused(With(Light()) with { Announcement = new AnnouncementOptions { EnableOutputs = ["amp"] } }).Key);
    }

    [Fact]
    public void Validate_AnnouncementWavMissing_NamesWavFile()
    {
        Assert.Equal("Alarm:Announcement:WavFile", Refused(With(Light()) with
        {
            Announcement = new AnnouncementOptions { Enabled = true, WavFile = "/nonexistent/please-wear-a-mask.wav" },
        }).Key);
    }

    [Fact]
    public void CreateForHardware_NoGpioChipOnThisMachine_NamesTheChipKey()
    {
        // This machine has no /dev/gpiochip99: the real provider must refuse it by key, whatever driver is installed.
        var options = With(Light() with { Chip = 99 });

        var e = Assert.Throws<AlarmConfigurationException>(() => LocalAlarm.CreateForHardware(options));

        Assert.Equal("Alarm:Outputs:0:Chip", e.Key);
        Assert.Contains("gpiochip99", e.Message);
    }

    [Fact]
    public void FindSysfsChip_ParentDeviceHoldsTheCharacterDevice_ReturnsBaseAndLineCount()
    {
        string root = Directory.CreateTempSubdirectory("edgemask-sysfs-").FullName;
        try
        {
            // The layout of /sys/class/gpio on a Jetson: gpiochipBASE/{base,ngpio,device/gpiochipN}.
            foreach (var (chipBase, ngpio, chip) in new[] { (316, 24, 1), (348, 164, 0) })
            {
                string dir = Path.Combine(root, $"gpiochip{chipBase}");
                Directory.CreateDirectory(Path.Combine(dir, "device", $"gpiochip{chip}"));
                File.WriteAllText(Path.Combine(dir, "base"), $"{chipBase}\n");
                File.WriteAllText(Path.Combine(dir, "ngpio"), $"{ngpio}\n");
            }
            var provider = new LinuxGpioChipProvider(new GpioOptions { Driver = GpioDriverKind.Sysfs }, null, "/dev", root);

            Assert.Equal((348, 164), provider.FindSysfsChip(0, "k"));
            Assert.Equal((316, 24), provider.FindSysfsChip(1, "k"));
            Assert.Equal("k", Assert.Throws<AlarmConfigurationException>(() => provider.FindSysfsChip(2, "k")).Key);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Theory]
    [InlineData(GpioDriverKind.Auto)]
    [InlineData(GpioDriverKind.Libgpiod)]
    [InlineData(GpioDriverKind.LibgpiodV2)]
    public void Open_ChipPresentButNoUsableDriver_ThrowsLineUnavailableNamingKey(GpioDriverKind kind)
    {
        // A /dev/gpiochip0 stand-in and no sysfs: on a machine without libgpiod (this one, CI) every route fails,
        // and the error must say which key and what to install rather than surface a DllNotFoundException.
        if (File.Exists("/dev/gpiochip0"))
            return; // a machine with real GPIO (a Jetson) may well have a usable driver: the premise does not hold
        string root = Directory.CreateTempSubdirectory("edgemask-dev-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(root, "gpiochip0"), "");
            var provider = new LinuxGpioChipProvider(new GpioOptions { Driver = kind }, null, root, Path.Combine(root, "no-sysfs"));

            var e = Assert.Throws<GpioLineUnavailableException>(() => provider.Open(0, "Alarm:Outputs:0:Chip"));

            Assert.Equal("Alarm:Outputs:0:Chip", e.Key);
            Assert.Equal(0, e.Chip);
            Assert.Contains("libgpiod", e.Message);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }
}
