using System.Text;
using Microsoft.Extensions.Configuration;

namespace EdgeMask.Alarm.Tests;

/// <summary>The options bind from configuration the way the module host binds them.</summary>
public sealed class OptionsBindingTests
{
    // The example of the README, kept identical so the documentation cannot drift from what binds and validates.
    private const string ReadmeExample = """
        {
        "Alarm": {
          "Enabled": true,
          "Outputs": [
            { "Name": "light",  "Chip": 0, "Line": 144, "ActiveLow": true, "PatternMs": [ 500, 500 ], "MinOn": "00:00:05", "MaxOn": "00:03:00" },
            { "Name": "buzzer", "Kind": "Sound", "Chip": 0, "Line": 85, "PatternMs": [ 150, 150, 150, 1550 ], "MinOn": "00:00:02", "MaxOn": "00:00:10" },
            { "Name": "amp",    "Kind": "Sound", "Chip": 0, "Line": 105, "MinOn": "00:00:00", "MaxOn": "00:00:00" }
          ],
          "Cameras": [ { "Camera": "entrance", "Outputs": [ "light", "buzzer" ] } ],
          "QuietHours": { "TimeZone": "Europe/Berlin", "Ranges": [ { "Start": "22:00", "End": "06:00", "CrossesMidnight": true } ] },
          "Announcement": { "Enabled": true, "Text": "Please wear a mask.", "Voice": "en", "EnableOutputs": [ "amp" ] }
        }
        }
        """;

    private static AlarmOptions Bind(string json, params (string Key, string Value)[] overrides)
    {
        var config = new ConfigurationBuilder()
            .AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(json)))
            .AddInMemoryCollection(overrides.Select(o => new KeyValuePair<string, string?>(o.Key, o.Value)))
            .Build();
        return config.GetSection(AlarmOptions.Section).Get<AlarmOptions>() ?? new AlarmOptions();
    }

    [Fact]
    public void Bind_ReadmeExample_BindsEveryValueAndValidates()
    {
        var options = Bind(ReadmeExample);

        AlarmOptionsValidator.Validate(options);
        Assert.True(options.Enabled);
        Assert.Equal(["light", "buzzer", "amp"], options.Outputs.Select(o => o.Name));
        var light = options.Outputs[0];
        Assert.Equal((0, 144, true), (light.Chip, light.Line, light.ActiveLow));
        Assert.Equal([500, 500], light.PatternMs);
        Assert.Equal((TimeSpan.FromSeconds(5), TimeSpan.FromMinutes(3)), (light.MinOn, light.MaxOn));
        Assert.Equal(new RateLimitOptions(), light.RateLimit);
        Assert.Equal(AlarmOutputKind.Sound, options.Outputs[1].Kind);
        Assert.Equal(["light", "buzzer"], Assert.Single(options.Cameras).Outputs);
        Assert.True(options.Cameras[0].Announce);
        var range = Assert.Single(options.QuietHours.Ranges);
        Assert.Equal((new TimeOnly(22, 0), new TimeOnly(6, 0), true), (range.Start, range.End, range.CrossesMidnight));
        Assert.Equal("Europe/Berlin", options.QuietHours.TimeZone);
        Assert.Equal(["amp"], options.Announcement.EnableOutputs);
        Assert.Equal(TimeSpan.FromSeconds(20), options.Announcement.MinInterval);
        Assert.Equal(TimeSpan.FromSeconds(10), options.WatchdogTimeout);
    }

    [Fact]
    public void Bind_EnvironmentStyleOverride_ReplacesTheLine()
    {
        var options = Bind(ReadmeExample, ("Alarm:Outputs:0:Line", "7"), ("Alarm:Gpio:Driver", "Sysfs"), ("Alarm:Gpio:SysfsChipBase:0", "348"));

        Assert.Equal(7, options.Outputs[0].Line);
        Assert.Equal(GpioDriverKind.Sysfs, options.Gpio.Driver);
        Assert.Equal(348, options.Gpio.SysfsChipBase["0"]);
    }

    [Fact]
    public void Bind_NoSection_DisabledDefaultsValidate()
    {
        var options = Bind("{}");

        AlarmOptionsValidator.Validate(options);
        Assert.False(options.Enabled);
        Assert.Empty(options.Outputs);
    }

    [Fact]
    public void Bind_CameraMappingAsADictionary_RefusedNamingTheMapping()
    {
        // A natural mistake: { "door": ["light"] } instead of a list of { Camera, Outputs }.
        var options = Bind("""
            { "Alarm": { "Enabled": true, "Outputs": [ { "Name": "light", "Line": 3 } ], "Cameras": { "door": [ "light" ] } } }
            """);

        var e = Assert.Throws<AlarmConfigurationException>(() => AlarmOptionsValidator.Validate(options));

        Assert.Equal("Alarm:Cameras:0:Camera", e.Key);
        Assert.Contains("list of { Camera, Outputs, Announce }", e.Message);
    }
}
