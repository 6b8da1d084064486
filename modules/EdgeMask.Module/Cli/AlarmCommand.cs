using System.CommandLine;
using System.Text.Json;
using EdgeMask.Alarm;
using EdgeMask.Module.Configuration;

namespace EdgeMask.Module.Cli;

/// <summary><c>edgemask alarm test</c>: drives the configured light/speaker for a few seconds so an installer can see and hear it.</summary>
internal static class AlarmCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var config = new Option<string>("--config", "-c") { Description = "Configuration file with the alarm section.", Required = true };
        var duration = new Option<TimeSpan>("--duration") { Description = "How long to drive the outputs (e.g. 00:00:05).", DefaultValueFactory = _ => TimeSpan.FromSeconds(5) };
        var noAnnounce = new Option<bool>("--no-announce") { Description = "Do not play the announcement." };
        var test = new Command("test", "Switch every configured output on for --duration (ignores quiet hours and rate limits), then off.") { config, duration, noAnnounce };
        test.SetAction(async (r, ct) =>
        {
            try
            {
                var options = ConfigLoader.Load(r.GetValue(config)!);
                if (options.Alarm.Outputs.Count == 0 && !options.Alarm.Announcement.Enabled)
                {
                    stderr.WriteLine("error: the configuration has no alarm outputs and no announcement to test.");
                    return EdgeMaskCommandLine.ExitFatal;
                }
                using var loggers = CliLogging.Create(Microsoft.Extensions.Logging.LogLevel.Information);
                await using var alarm = LocalAlarm.CreateForHardware(options.Alarm with { Enabled = true }, TimeProvider.System, loggers);
                if (!r.GetValue(noAnnounce)) await alarm.PrepareAnnouncementAsync(ct);
                var result = await alarm.TestAsync(r.GetValue(duration), !r.GetValue(noAnnounce), ct);
                await alarm.StopAsync(ct);
                stdout.WriteLine(JsonSerializer.Serialize(result, AlarmJsonContext.Default.AlarmTestResult));
                return EdgeMaskCommandLine.ExitOk;
            }
            catch (Exception ex) when (ex is ConfigurationException or AlarmConfigurationException or GpioLineUnavailableException or AudioPlaybackException)
            {
                stderr.WriteLine($"error: {ex.Message}");
                return EdgeMaskCommandLine.ExitFatal;
            }
        });
        return new Command("alarm", "The local warning light and speaker.") { test };
    }
}
