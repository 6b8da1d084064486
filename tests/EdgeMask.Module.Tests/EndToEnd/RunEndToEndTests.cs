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
        // raises one start. A perfect run starts one violation per unmasked person ≥ 20 px of each scene
        // (samples/*.scenes.json: 72 in these 10 scenes); the detector missing people may give fewer, tracks that
        // break and restart more — at most a quarter more is allowed here.
        var framesWithUnmasked = CountFramesWithUnmaskedFaces(r);
        int expected = ExpectedStarts(framesWithUnmasked);
        output.WriteLine($"{starts.Count} starts; a perfect run starts {expected}");
        Assert.True(starts.Count * 4 <= expected * 5, $"{starts.Count} starts for {expected} unmasked people in {framesWithUnmasked} frames");
        // The console printed each event as a line.
        Assert.Equal(events.Count, r.StdoutLines.Count(l => l.Contains(" violation ", StringComparison.OrdinalIgnoreCase) || l.Contains("VIOLATION START")));
    }

    /// <summary>The violation starts of a perfect run over the first <paramref name="frames"/> frames: the scenes wholly inside them.</summary>
    private static int ExpectedStarts(int frames)
    {
        using var scenes = JsonDocument.Parse(File.ReadAllText(Path.ChangeExtension(Shared.SampleVideo, ".scenes.json")));
        return scenes.RootElement.EnumerateArray()
            .Where(s => s.GetProperty("start_frame").GetInt32() + s.GetProperty("frames").GetInt32() <= frames)
            .Sum(s => s.GetProperty("unmasked_ge20px").GetInt32());
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
