using System.Collections.Concurrent;
using System.Diagnostics;
using EdgeMask.Core.Events;
using EdgeMask.Messaging.Mqtt;
using EdgeMask.Messaging.Outbox;
using EdgeMask.Messaging.Tests.Support;
using Xunit.Abstractions;

namespace EdgeMask.Messaging.Tests;

/// <summary>A publisher process killed with SIGKILL mid-run, then a new one on the same outbox file.</summary>
public sealed class ProcessKillTests(ITestOutputHelper output) : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly TestLoggerFactory _logs = new(output);

    [Fact]
    public async Task Restart_AfterProcessKilledMidRun_EveryStoredEventArrivesInOrder()
    {
        using var broker = new MosquittoBroker(persistent: true);
        await using var collector = await MqttCollector.StartAsync(broker.Port, "edgemask/dev1/#", persistentSession: true);
        var db = _dir.File("outbox.db");

        // Phase 1: the child publishes while connected; then the broker goes away so a backlog builds up in the file.
        var stored = 0;
        var lines = new BlockingCollection<string>();
        using (var child = ChildPublisher.Start(db, broker.Port))
        {
            child.OutputDataReceived += (_, e) => { if (e.Data is not null) lines.Add(e.Data); };
            child.ErrorDataReceived += (_, e) => { if (e.Data is not null) lines.Add("stderr: " + e.Data); };
            child.BeginOutputReadLine();
            child.BeginErrorReadLine();
            try
            {
                stored = await ReadStoredAsync(lines, until: s => s >= 100);
                await collector.WaitUntilAsync(m => m.Count(r => r.Topic.EndsWith("/events", StringComparison.Ordinal)) >= 50, TestPaths.Patience, "live events");
                broker.Stop();
                // The "stored" lines queued while the collector waited are from before the outage (the child runs ahead of
                // this reader): count from the first line on which the child itself says it is disconnected.
                var storedAtOutage = await ReadStoredAsync(lines, until: _ => true, disconnectedOnly: true);
                stored = await ReadStoredAsync(lines, until: s => s >= storedAtOutage + 100);
            }
            finally
            {
                child.Kill(); // SIGKILL: no dispose, no DISCONNECT, no flush
                await child.WaitForExitAsync();
            }
            output.WriteLine($"child killed after reporting {stored} stored events; exit code {child.ExitCode}");
        }

        // Phase 2: a new process (here: this one) opens the same file; the broker is back.
        broker.Start();
        await using var saf = await StoreAndForward.StartAsync(new StoreAndForwardOptions
        {
            Device = "dev1",
            Outbox = new OutboxOptions { Path = db },
            Mqtt = new MqttPublisherOptions { Device = "dev1", Port = broker.Port, ReconnectMinDelay = TimeSpan.FromMilliseconds(100) },
        }, loggerFactory: _logs);
        Assert.True(saf.Outbox.GetDepth("mqtt") >= 50, $"backlog {saf.Outbox.GetDepth("mqtt")}");
        await saf.WaitUntilDrainedAsync(CancellationToken.None).WaitAsync(TestPaths.Patience);

        var expected = Enumerable.Range(1, stored).Select(i => TestData.Event(i % 2 == 0 ? "cam1" : "cam2", i)).ToList();
        var expectedIds = expected.Select(e => e.Id).ToHashSet();
        await collector.WaitUntilAsync(m => m.Where(r => r.Topic.EndsWith("/events", StringComparison.Ordinal))
            .Select(r => EventJsonContext.DeserializeEvent(r.Payload).Id).ToHashSet().IsSupersetOf(expectedIds), TestPaths.Patience, "every stored event");
        foreach (var camera in new[] { "cam1", "cam2" })
        {
            var firstArrivals = collector.Messages.Where(r => r.Topic == Topics.Events("dev1", camera))
                .Select(r => EventJsonContext.DeserializeEvent(r.Payload).Id).Distinct().ToList();
            var wanted = expected.Where(e => e.Camera == camera).Select(e => e.Id).ToList();
            // Events enqueued after the last "stored" line may or may not have reached the file: they may follow, in order.
            Assert.Equal(wanted, firstArrivals.Take(wanted.Count));
        }
    }

    [Fact]
    public async Task Kill_ConnectedPublisherProcess_BrokerPublishesLastWillOffline()
    {
        using var broker = new MosquittoBroker();
        await using var watcher = await MqttCollector.StartAsync(broker.Port, "edgemask/dev1/status");
        var lines = new BlockingCollection<string>();
        using var child = ChildPublisher.Start(_dir.File("outbox.db"), broker.Port);
        child.OutputDataReceived += (_, e) => { if (e.Data is not null) lines.Add(e.Data); };
        child.BeginOutputReadLine();
        try
        {
            await watcher.WaitUntilAsync(m => m.Any(r => r.Text.Contains("\"online\"", StringComparison.Ordinal)), TestPaths.Patience, "online");
        }
        finally
        {
            child.Kill();
            await child.WaitForExitAsync();
        }
        await watcher.WaitUntilAsync(m => m.Any(r => r.Text.Contains("\"offline\"", StringComparison.Ordinal)), TestPaths.Patience, "the last will");
    }

    /// <summary>Reads "stored N connected B" lines until <paramref name="until"/> holds for N (with
    /// <paramref name="disconnectedOnly"/>, only lines on which the child reports itself disconnected count).</summary>
    private static async Task<int> ReadStoredAsync(BlockingCollection<string> lines, Func<int, bool> until, bool disconnectedOnly = false)
    {
        var deadline = DateTime.UtcNow + TestPaths.Patience;
        var last = 0;
        while (DateTime.UtcNow < deadline)
        {
            if (lines.TryTake(out var line, 100))
            {
                if (line.StartsWith("stored ", StringComparison.Ordinal)
                    && (!disconnectedOnly || line.EndsWith(" connected False", StringComparison.Ordinal)))
                {
                    last = int.Parse(line.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
                    if (until(last)) return last;
                }
            }
            await Task.Yield();
        }
        throw new TimeoutException($"the child reported only {last} stored events");
    }

    public void Dispose() => _dir.Dispose();
}
