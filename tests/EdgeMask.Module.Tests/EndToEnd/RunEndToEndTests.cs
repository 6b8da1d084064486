using System.Diagnostics;
using System.Text.Json;
using EdgeMask.Messaging.Schemas;
using EdgeMask.Messaging.Tests.Support;
using EdgeMask.Module.Tests.Cli;
using Xunit.Abstractions;
using Shared = EdgeMask.Tests.Shared.TestPaths;

namespace EdgeMask.Module.Tests.EndToEnd;

/// <summary>
/// <c>edgemask run</c> on the sample video with the real models, publishing to Debian's mosquitto: what a user of the
/// main job sees arrive on the broker.
/// </summary>
[Collection("end-to-end")]
public class RunEndToEndTests(ITestOutputHelper output)
{
    /// <summary>The checkout's models/ (detector installed by models/install.sh, classifier committed).</summary>
    internal static string Models => Path.Combine(Shared.RepoRoot, "models");

    internal static List<JsonElement> Events(MqttCollector c) => c.Messages.Where(m => m.Topic.EndsWith("/events", StringComparison.Ordinal))
        .Select(m => JsonDocument.Parse(m.Payload).RootElement.Clone()).ToList();

    [Fact]
    public async Task Run_SampleVideo_TrackedViolationEventsValidateAndEveryStartEnds()
    {
        using var broker = new MosquittoBroker();
        await using var collector = await MqttCollector.StartAsync(broker.Port, "edgemask/#");
        var dir = Shared.NewTempDirectory();
        var r = await CliRunner.RunAsync("run", "--source", Shared.SampleVideo, "--camera", "platform", "--device", "station",
            "--broker", $"127.0.0.1:{broker.Port}", "--outbox", Path.Combine(dir, "outbox.db"), "--models", Models,
            "--max-frames", "360", "--metrics-port", "0", "--quiet", "--ep", "cpu", "--snapshots", Path.Combine(dir, "snapshots"));
        output.WriteLine(r.Stderr);
        Assert.Equal(0, r.ExitCode);

        await collector.WaitUntilAsync(ms => ms.Any(m => m.Topic == "edgemask/station/platform/stats"), TimeSpan.FromSeconds(30), "stats");
        var events = Events(collector);
        var raw = collector.Messages.Where(m => m.Topic == "edgemask/station/platform/events").ToList();
        Assert.NotEmpty(raw);
        foreach (var m in raw)
        {
            var result = ContractSchemas.ValidateEvent(m.Payload);
            Assert.True(result.IsValid, $"{m.Text}: {result}");
        }
        foreach (var m in collector.Messages.Where(m => m.Topic.EndsWith("/stats", StringComparison.Ordinal)))
            Assert.True(ContractSchemas.ValidateStats(m.Payload).IsValid, m.Text);

        var starts = events.Where(e => e.GetProperty("type").GetString() == "violation.start").ToList();
        var ends = events.Where(e => e.GetProperty("type").GetString() == "violation.end").ToList();
        output.WriteLine($"{events.Count} events: {starts.Count} starts, {ends.Count} ends");
        Assert.NotEmpty(starts);
        // Every start has exactly one end with the same id (lost, masked, or shutdown at the end of the run).
        Assert.Equal(starts.Select(e => e.GetProperty("id").GetString()).Order(), ends.Select(e => e.GetProperty("id").GetString()).Order());

        // Tracking works: 360 frames are 10 scenes of 36 frames; each unmasked person is seen in up to 36 frames, yet
        // raises one start, so starts are far below the frames with an unmasked face.
        var framesWithUnmasked = CountFramesWithUnmaskedFaces(r);
        Assert.True(starts.Count * 5 < framesWithUnmasked, $"{starts.Count} starts for {framesWithUnmasked} frames with an unmasked face");
        // The console printed each event as a line.
        Assert.Equal(events.Count, r.StdoutLines.Count(l => l.Contains(" violation ", StringComparison.OrdinalIgnoreCase) || l.Contains("VIOLATION START")));
    }

    /// <summary>
    /// Frames with an unmasked face: every scene of the sample holds at least one unmasked person (samples/README.md),
    /// so this is the number of frames the run processed, read from its summary line "[camera] done: N frames, …".
    /// </summary>
    private static int CountFramesWithUnmaskedFaces(CliRunner.Result r)
    {
        var line = r.Stderr.Split('\n').First(l => l.Contains("done:"));
        int frames = int.Parse(line.Split("done: ")[1].Split(' ')[0]);
        return frames;
    }
}
