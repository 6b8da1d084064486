using System.Diagnostics;
using System.Text.Json;
using EdgeMask.Messaging.Tests.Support;
using EdgeMask.Module.Tests.Cli;
using Xunit.Abstractions;
using Shared = EdgeMask.Tests.Shared.TestPaths;

namespace EdgeMask.Module.Tests.EndToEnd;

/// <summary>Nothing is lost: a broker outage in the middle of a run, and a process killed with events still in its outbox.</summary>
[Collection("end-to-end")]
public class RunResilienceTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task Run_BrokerStopped30sMidRun_EveryEventArrivesOncePerIdInOrder()
    {
        using var broker = new MosquittoBroker(persistent: true);
        await using var collector = await MqttCollector.StartAsync(broker.Port, "edgemask/+/+/events", persistentSession: true);
        var dir = Shared.NewTempDirectory();
        // Paced like a camera (15 frames/s) so the run is still producing while the broker is down.
        var run = CliRunner.RunAsync("run", "--source", Shared.SampleVideo, "--camera", "gate", "--device", "outage",
            "--broker", $"127.0.0.1:{broker.Port}", "--outbox", Path.Combine(dir, "outbox.db"), "--models", RunEndToEndTests.Models,
            "--realtime", "--max-frames", "660", "--metrics-port", "0", "--quiet", "--ep", "cpu", "--snapshots", Path.Combine(dir, "snapshots"),
            // The publisher's reconnect backoff reaches 30 s during a 30 s outage: give it time to deliver before exiting.
            "--drain-timeout", "00:01:30");

        await Task.Delay(TimeSpan.FromSeconds(6));
        broker.Stop();
        await Task.Delay(TimeSpan.FromSeconds(30));
        broker.Start();
        var r = await run;
        output.WriteLine(r.Stderr);
        Assert.Equal(0, r.ExitCode);

        int produced = r.StdoutLines.Count(IsEventLine);
        Assert.True(produced > 0, "the run produced events");
        await collector.WaitUntilAsync(ms => Distinct(ms).Count >= produced, Patience, $"{produced} distinct events");
        var received = collector.Messages.Select(m => JsonDocument.Parse(m.Payload).RootElement.Clone()).ToList();
        var distinct = Distinct(collector.Messages.ToList());
        Assert.Equal(produced, distinct.Count);

        // QoS 1 may redeliver; a redelivery is the same (id, sequence) with the same bytes.
        foreach (var group in received.GroupBy(Key))
            Assert.All(group, e => Assert.Equal(group.First().GetRawText(), e.GetRawText()));

        // In order per camera: first arrivals keep the order the pipeline produced them in.
        var firstArrivals = received.DistinctBy(Key).ToList();
        var times = firstArrivals.Select(e => e.GetProperty("at").GetDateTimeOffset()).ToList();
        Assert.Equal(times.Order(), times);
        foreach (var episode in firstArrivals.GroupBy(e => e.GetProperty("id").GetString()))
        {
            var seqs = episode.Select(e => e.GetProperty("sequence").GetInt32()).ToList();
            Assert.Equal(Enumerable.Range(0, seqs.Count), seqs);
        }
    }

    [Fact]
    public async Task Run_ProcessKilledWithEventsInOutbox_DeliveredAfterRestart()
    {
        var dir = Shared.NewTempDirectory();
        string outbox = Path.Combine(dir, "outbox.db");
        using var broker = new MosquittoBroker(persistent: true);
        await using var collector = await MqttCollector.StartAsync(broker.Port, "edgemask/+/+/events", persistentSession: true);
        broker.Stop();

        var lines = new List<string>();
        using (var first = StartEdgemask(dir, outbox, broker.Port, lines))
        {
            var deadline = DateTime.UtcNow + Patience;
            while (Count(lines) < 3 && !first.HasExited && DateTime.UtcNow < deadline) await Task.Delay(200);
            Assert.False(first.HasExited, "the first run is still going when it is killed");
            // Give the outbox writer a moment: an event is on disk soon after the pipeline emits it, not at the same instant.
            await Task.Delay(TimeSpan.FromSeconds(3));
            first.Kill(entireProcessTree: true);
            await first.WaitForExitAsync();
        }
        int beforeKill = Count(lines);
        output.WriteLine($"{beforeKill} events printed before the kill");

        broker.Start();
        var secondLines = new List<string>();
        using (var second = StartEdgemask(dir, outbox, broker.Port, secondLines, maxFrames: 1))
        {
            await second.WaitForExitAsync().WaitAsync(Patience);
            Assert.Equal(0, second.ExitCode);
        }
        await collector.WaitUntilAsync(ms => Distinct(ms).Count >= beforeKill, Patience, $"{beforeKill} events from the killed run");
        Assert.True(Distinct(collector.Messages.ToList()).Count >= beforeKill);
    }

    private static Process StartEdgemask(string dir, string outbox, int port, List<string> lines, int? maxFrames = null)
    {
        var psi = new ProcessStartInfo(Path.Combine(AppContext.BaseDirectory, "edgemask"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { "run", "--source", Shared.SampleVideo, "--camera", "gate", "--device", "killed", "--broker", $"127.0.0.1:{port}",
                     "--outbox", outbox, "--models", RunEndToEndTests.Models, "--metrics-port", "0", "--quiet", "--ep", "cpu",
                     "--snapshots", Path.Combine(dir, "snapshots") })
            psi.ArgumentList.Add(a);
        if (maxFrames is int m) { psi.ArgumentList.Add("--max-frames"); psi.ArgumentList.Add(m.ToString()); }
        var p = new Process { StartInfo = psi };
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (lines) lines.Add(e.Data); };
        p.ErrorDataReceived += (_, _) => { };
        p.Start();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return p;
    }

    private static int Count(List<string> lines) { lock (lines) return lines.Count(IsEventLine); }

    private static bool IsEventLine(string l) => l.Contains("VIOLATION START", StringComparison.Ordinal) || l.Contains(" violation ", StringComparison.Ordinal);

    private static (string?, int) Key(JsonElement e) => (e.GetProperty("id").GetString(), e.GetProperty("sequence").GetInt32());

    private static HashSet<(string?, int)> Distinct(IEnumerable<Received> messages) =>
        messages.Select(m => Key(JsonDocument.Parse(m.Payload).RootElement)).ToHashSet();
}

[CollectionDefinition("end-to-end", DisableParallelization = true)]
public sealed class EndToEndCollection;
