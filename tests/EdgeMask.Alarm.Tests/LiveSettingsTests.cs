using static EdgeMask.Alarm.Tests.AlarmFixture;

namespace EdgeMask.Alarm.Tests;

/// <summary>Alarm settings changed while it runs: the lines stay open, a light that is on stays on, the new rules decide from then on.</summary>
public sealed class LiveSettingsTests
{
    [Fact]
    public void Reconfigure_PatternSetWhileLightOn_StaysOnThenBlinksWithTheNewPatternNoLineReopened()
    {
        var f = new AlarmFixture();
        using var alarm = f.Create(With(Light()));
        alarm.Handle(Begin("v1"));
        f.Advance(alarm, TimeSpan.FromSeconds(2));

        alarm.Reconfigure(With(Light() with { PatternMs = [500, 500] }));
        f.Advance(alarm, TimeSpan.FromSeconds(2));

        // On since 0 s, so the pattern's phase counts from 0: off at 2.5, on at 3, off at 3.5, on at 4.
        Assert.Equal([f.On(0, 5), f.Off(2.5, 5), f.On(3, 5), f.Off(3.5, 5), f.On(4, 5)], f.ChangesAfterStart());
        Assert.Empty(f.Chip0.Closed);
        Assert.Equal(1, alarm.Snapshot().ActiveViolations);
        Assert.Equal([500, 500], alarm.Options.Outputs[0].PatternMs);
    }

    [Fact]
    public void Reconfigure_CameraUnmapped_ItsRunningViolationNoLongerHoldsTheLight()
    {
        var f = new AlarmFixture();
        using var alarm = f.Create(With(Light()));
        alarm.Handle(Begin("v1", camera: "door"));
        f.Advance(alarm, TimeSpan.FromSeconds(1));

        alarm.Reconfigure(With(Light()) with { Cameras = [new CameraMapping { Camera = "hall", Outputs = ["light"] }] });
        f.Advance(alarm, TimeSpan.FromSeconds(1));

        Assert.Equal([f.On(0, 5), f.Off(1, 5)], f.ChangesAfterStart());
        // A violation of the camera still mapped switches it on again.
        alarm.Handle(Begin("v2", camera: "hall"));
        Assert.Equal(f.On(2, 5), f.ChangesAfterStart()[^1]);
    }

    [Fact]
    public void Reconfigure_RateLimitTightened_HistoryBeforeTheChangeCounts()
    {
        var f = new AlarmFixture();
        using var alarm = f.Create(With(Light() with { RateLimit = new RateLimitOptions { MaxActivations = 5, Window = TimeSpan.FromMinutes(1) } }));
        alarm.Handle(Begin("v1"));
        alarm.Handle(End("v1"));
        f.Advance(alarm, TimeSpan.FromSeconds(1));

        alarm.Reconfigure(With(Light() with { RateLimit = new RateLimitOptions { MaxActivations = 1, Window = TimeSpan.FromMinutes(1) } }));
        alarm.Handle(Begin("v2"));

        Assert.Equal([f.On(0, 5), f.Off(0, 5)], f.ChangesAfterStart());
        Assert.Equal(Engine.AlarmOutputReason.RateLimited, alarm.Snapshot().Lines[0].Reason);
    }

    [Theory]
    [InlineData("line")]
    [InlineData("activeLow")]
    [InlineData("name")]
    [InlineData("announcement")]
    [InlineData("disabled")]
    public void CanReconfigure_LinesOrAnnouncementChanged_FalseAndReconfigureRefuses(string change)
    {
        var f = new AlarmFixture();
        var options = With(Light());
        using var alarm = f.Create(options);
        var next = change switch
        {
            "line" => With(Light(line: 6)),
            "activeLow" => With(Light() with { ActiveLow = true }),
            "name" => With(Light("beacon")),
            "announcement" => options with { Announcement = new AnnouncementOptions { Enabled = true, Text = "Masks, please." } },
            _ => options with { Enabled = false },
        };

        Assert.False(alarm.CanReconfigure(next));
        Assert.Throws<InvalidOperationException>(() => alarm.Reconfigure(next));
        Assert.Same(options, alarm.Options);
    }

    [Fact]
    public void CanReconfigure_SameLinesFromAnotherDocument_True()
    {
        var f = new AlarmFixture();
        using var alarm = f.Create(With(Light()) with { Gpio = new GpioOptions { SysfsChipBase = new Dictionary<string, int> { ["0"] = 512 } } });

        Assert.True(alarm.CanReconfigure(With(Light() with { MinOn = TimeSpan.FromSeconds(9) })
            with { Gpio = new GpioOptions { SysfsChipBase = new Dictionary<string, int> { ["0"] = 512 } } }));
    }
}
