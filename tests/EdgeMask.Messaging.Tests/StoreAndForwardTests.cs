using EdgeMask.Core.Events;
using EdgeMask.Messaging.Broker;
using EdgeMask.Messaging.Mqtt;
using EdgeMask.Messaging.Outbox;
using EdgeMask.Messaging.Tests.Support;
using Xunit.Abstractions;

namespace EdgeMask.Messaging.Tests;

/// <summary>Outbox + drainer + MQTT publisher end to end, against real brokers.</summary>
public sealed class StoreAndForwardTests(ITestOutputHelper output) : IDisposable
{
    private readonly TestLoggerFactory _logs = new(output);
    private readonly TempDir _dir = new();

    private StoreAndForwardOptions Options(int port, string db = "outbox.db") => new()
    {
        Device = "dev1",
        Outbox = new OutboxOptions { Path = _dir.File(db), BusyTimeout = TimeSpan.FromMilliseconds(500) },
        Drain = new OutboxDrainerOptions { RetryMinDelay = TimeSpan.FromMilliseconds(50), RetryMaxDelay = TimeSpan.FromMilliseconds(500) },
        Mqtt = new MqttPublisherOptions
        {
            Device = "dev1",
            Port = port,
            ReconnectMinDelay = TimeSpan.FromMilliseconds(100),
            ReconnectMaxDelay = TimeSpan.FromSeconds(1),
            KeepAlive = TimeSpan.FromSeconds(5),
            PublishTimeout = TimeSpan.FromSeconds(5),
        },
    };

    private static string EventId(Received r) => EventJsonContext.DeserializeEvent(r.Payload).Id;

    /// <summary>Every produced id arrived; per camera the first arrival of each id is in production order.</summary>
    private void AssertExactlyOncePerIdInOrder(IReadOnlyList<Received> received, IReadOnlyList<MaskEvent> produced)
    {
        var ids = received.Select(EventId).ToList();
        Assert.Equal(produced.Select(e => e.Id).ToHashSet(), ids.ToHashSet());
        var duplicates = ids.Count - ids.Distinct().Count();
        output.WriteLine($"produced {produced.Count}, received {ids.Count}, duplicates (QoS 1 redelivery, detectable by id) {duplicates}");
        foreach (var camera in produced.Select(e => e.Camera).Distinct())
        {
            var expected = produced.Where(e => e.Camera == camera).Select(e => e.Id).ToList();
            var firstArrivals = received.Where(r => r.Topic == Topics.Events("dev1", camera)).Select(EventId).Distinct().ToList();
            Assert.Equal(expected, firstArrivals);
        }
    }

    [Fact]
    public async Task Publisher_EventsStatsAndSnapshot_ArriveOnContractTopicsInOrder()
    {
        using var broker = new MosquittoBroker();
        await using var collector = await MqttCollector.StartAsync(broker.Port, "edgemask/dev1/#");
        await using var saf = await StoreAndForward.StartAsync(Options(broker.Port), loggerFactory: _logs);

        var produced = new List<MaskEvent>();
        for (var i = 1; i <= 100; i++)
        {
            var e = TestData.Event(i % 2 == 0 ? "cam1" : "cam2", i);
            produced.Add(e);
            Assert.True(saf.Publisher.Enqueue(e));
        }
        saf.Publisher.Enqueue(TestData.Stats("cam1"));
        var jpeg = new byte[] { 0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3, 0xFF, 0xD9 };
        saf.Publisher.EnqueueSnapshot("cam1", "snap-cam1-2", jpeg);

        await saf.WaitUntilDrainedAsync(CancellationToken.None).WaitAsync(TestPaths.Patience);
        await collector.WaitUntilAsync(m => m.Count(r => r.Topic.EndsWith("/events", StringComparison.Ordinal)) >= 100
                                            && m.Any(r => r.Topic.EndsWith("/snapshot", StringComparison.Ordinal)), TestPaths.Patience, "all messages");

        var all = collector.Messages.ToList();
        AssertExactlyOncePerIdInOrder(all.Where(r => r.Topic.EndsWith("/events", StringComparison.Ordinal)).ToList(), produced);
        var stats = Assert.Single(all, r => r.Topic == Topics.Stats("dev1", "cam1"));
        Assert.Equal(CameraStats.SchemaName, System.Text.Json.JsonDocument.Parse(stats.Payload).RootElement.GetProperty("schema").GetString());
        var snap = Assert.Single(all, r => r.Topic == Topics.Snapshot("dev1", "cam1"));
        Assert.Equal(jpeg, snap.Payload);
        Assert.Equal("image/jpeg", snap.ContentType);
        Assert.Equal("snap-cam1-2", snap.UserProperties["id"]);

        var metrics = saf.GetMetrics();
        var mqtt = Assert.Single(metrics.Destinations);
        Assert.True(mqtt.Connected);
        Assert.Equal(0, mqtt.Depth);
        Assert.Equal(102, mqtt.Published);
        Assert.Equal(102, metrics.Accepted);
        Assert.Equal(0, metrics.LostBeforeOutbox);
    }

    [Fact]
    public async Task Publisher_BrokerDownForAWhileMidRun_EveryEventArrivesOncePerIdInOrderPerCamera()
    {
        using var broker = new MosquittoBroker(persistent: true);
        await using var collector = await MqttCollector.StartAsync(broker.Port, "edgemask/dev1/+/events", persistentSession: true);
        await using var saf = await StoreAndForward.StartAsync(Options(broker.Port), loggerFactory: _logs);
        await saf.Mqtt!.WaitUntilConnectedAsync(CancellationToken.None).WaitAsync(TestPaths.Patience);

        var produced = new List<MaskEvent>();
        var n = 0;
        async Task ProduceFor(TimeSpan span)
        {
            var until = DateTime.UtcNow + span;
            while (DateTime.UtcNow < until)
            {
                n++;
                var e = TestData.Event(n % 3 == 0 ? "cam2" : "cam1", n);
                produced.Add(e);
                saf.Publisher.Enqueue(e);
                await Task.Delay(15); // pacing of the producer, not synchronization
            }
        }

        await ProduceFor(TimeSpan.FromSeconds(1));
        broker.Stop();
        var duringOutageStart = n;
        await ProduceFor(TestPaths.Outage);
        var producedDuringOutage = n - duringOutageStart;
        Assert.False(saf.Mqtt.IsConnected);
        Assert.True(saf.Outbox.GetDepth("mqtt") > 0);
        broker.Start();
        await ProduceFor(TimeSpan.FromSeconds(1));

        await saf.WaitUntilDrainedAsync(CancellationToken.None).WaitAsync(TestPaths.Patience);
        var expected = produced.Select(e => e.Id).ToHashSet();
        await collector.WaitUntilAsync(m => m.Select(EventId).ToHashSet().IsSupersetOf(expected), TestPaths.Patience, "every produced event");

        output.WriteLine($"outage {TestPaths.Outage.TotalSeconds} s, {producedDuringOutage} events produced during the outage, reconnects {saf.Mqtt.Connects}");
        Assert.True(producedDuringOutage > 10);
        Assert.True(saf.Mqtt.Connects >= 2);
        AssertExactlyOncePerIdInOrder(collector.Messages.ToList(), produced);
        Assert.Contains(_logs.Entries, e => e.Template?.StartsWith("Disconnected from MQTT broker", StringComparison.Ordinal) == true);
    }

    [Fact]
    public async Task Start_SecondInstanceAfterFirstStoppedWithBacklog_DeliversBacklogInOrder()
    {
        using var broker = new MosquittoBroker();
        broker.Stop(); // the first process never reaches the broker
        var produced = Enumerable.Range(1, 40).Select(i => TestData.Event(i % 2 == 0 ? "cam1" : "cam2", i)).ToList();
        var first = await StoreAndForward.StartAsync(Options(broker.Port), loggerFactory: _logs);
        foreach (var e in produced) first.Publisher.Enqueue(e);
        await first.Publisher.FlushAsync(CancellationToken.None).WaitAsync(TestPaths.Patience);
        Assert.Equal(40, first.Outbox.GetDepth("mqtt"));
        await first.DisposeAsync(); // "killed": nothing was delivered, nothing drained

        broker.Start();
        await using var collector = await MqttCollector.StartAsync(broker.Port, "edgemask/dev1/+/events");
        await using var second = await StoreAndForward.StartAsync(Options(broker.Port), loggerFactory: _logs);
        Assert.Equal(40, second.Outbox.GetDepth("mqtt"));
        await second.WaitUntilDrainedAsync(CancellationToken.None).WaitAsync(TestPaths.Patience);
        await collector.WaitUntilAsync(m => m.Count >= 40, TestPaths.Patience, "the backlog");
        AssertExactlyOncePerIdInOrder(collector.Messages.ToList(), produced);
    }

    [Fact]
    public async Task Start_FirstInstanceStillHoldsOutbox_SecondFailsWithLockedError()
    {
        await using var first = await StoreAndForward.StartAsync(Options(TestPaths.FreePort()), loggerFactory: _logs);
        var ex = await Assert.ThrowsAsync<OutboxLockedException>(() => StoreAndForward.StartAsync(Options(TestPaths.FreePort())));
        Assert.Contains("outbox.db", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Publisher_OutboxBoundDuringOutage_DropsOldestCountsAndDeliversTheRest()
    {
        using var broker = new MosquittoBroker();
        broker.Stop();
        var o = Options(broker.Port);
        o = o with { Outbox = o.Outbox with { MaxMessages = 20 } };
        await using var saf = await StoreAndForward.StartAsync(o, loggerFactory: _logs);
        var produced = Enumerable.Range(1, 50).Select(i => TestData.Event("cam1", i)).ToList();
        foreach (var e in produced) saf.Publisher.Enqueue(e);
        await saf.Publisher.FlushAsync(CancellationToken.None).WaitAsync(TestPaths.Patience);
        Assert.Equal(30, saf.GetMetrics().DroppedByBound);
        Assert.Equal(30, saf.GetMetrics().Destinations[0].Dropped);

        broker.Start();
        await using var collector = await MqttCollector.StartAsync(broker.Port, "edgemask/dev1/+/events");
        await saf.WaitUntilDrainedAsync(CancellationToken.None).WaitAsync(TestPaths.Patience);
        await collector.WaitUntilAsync(m => m.Count >= 20, TestPaths.Patience, "the 20 newest");
        AssertExactlyOncePerIdInOrder(collector.Messages.ToList(), produced.Skip(30).ToList());
    }

    [Fact]
    public async Task Drainer_BrokerRefusesTopic_RejectsThatMessageAndDeliversTheNext()
    {
        // mosquitto answers PUBACK "not authorized" (MQTT 5) for topics the ACL does not allow.
        var acl = _dir.File("acl");
        File.WriteAllText(acl, "topic readwrite edgemask/dev1/cam1/#\ntopic readwrite edgemask/dev1/status\n");
        using var broker = new MosquittoBroker(extraConfig: $"acl_file {acl}");
        await using var collector = await MqttCollector.StartAsync(broker.Port, "edgemask/dev1/+/events");
        await using var saf = await StoreAndForward.StartAsync(Options(broker.Port), loggerFactory: _logs);

        saf.Publisher.Enqueue(TestData.Event("cam1", 1));
        saf.Publisher.Enqueue(TestData.Event("forbidden", 2));
        saf.Publisher.Enqueue(TestData.Event("cam1", 3));
        await saf.WaitUntilDrainedAsync(CancellationToken.None).WaitAsync(TestPaths.Patience);
        await collector.WaitUntilAsync(m => m.Count >= 2, TestPaths.Patience, "the two allowed events");

        Assert.Equal(["cam1-ep00001", "cam1-ep00003"], collector.Messages.Select(EventId));
        var d = saf.GetMetrics().Destinations[0];
        Assert.Equal(1, d.Rejected);
        Assert.Equal(2, d.Published);
        Assert.Contains(_logs.Entries, e => e.Template?.Contains("rejected message {Sequence}", StringComparison.Ordinal) == true);
    }

    [Fact]
    public async Task Publisher_TwoDestinationsOneDown_OtherKeepsDeliveringAndBacklogFollowsLater()
    {
        // Two independent destinations on the same outbox: "mqtt" (broker A) and "backup" (broker B, e.g. what IoT Hub is
        // to the module), each drained by its own drainer.
        using var brokerA = new MosquittoBroker();
        using var brokerB = new MosquittoBroker();
        brokerB.Stop();
        await using var collectorA = await MqttCollector.StartAsync(brokerA.Port, "edgemask/dev1/+/events");
        var backupOptions = Options(brokerB.Port).Mqtt! with { Destination = "backup", ClientId = "edgemask-dev1-backup" };
        await using var backup = new MqttPublisher(backupOptions, logger: _logs.CreateLogger<MqttPublisher>());
        backup.Start();
        var o = Options(brokerA.Port);
        o = o with { Outbox = o.Outbox with { Destinations = [new OutboxDestination("mqtt"), new OutboxDestination("backup", OutboxKinds.Event)] } };
        await using var saf = await StoreAndForward.StartAsync(o, [backup], _logs);

        var produced = Enumerable.Range(1, 30).Select(i => TestData.Event(i % 2 == 0 ? "cam1" : "cam2", i)).ToList();
        foreach (var e in produced) saf.Publisher.Enqueue(e);
        saf.Publisher.Enqueue(TestData.Stats("cam1")); // not routed to "backup"
        await collectorA.WaitUntilAsync(m => m.Count >= 30, TestPaths.Patience, "events on broker A");
        await saf.Drainers.Single(d => d.Destination == "mqtt").WaitUntilDrainedAsync(CancellationToken.None).WaitAsync(TestPaths.Patience);
        Assert.Equal(30, saf.Outbox.GetDepth("backup"));
        Assert.Equal(30, saf.Outbox.GetStatistics().StoredMessages); // kept for "backup" only

        brokerB.Start();
        await using var collectorB = await MqttCollector.StartAsync(brokerB.Port, "edgemask/dev1/#");
        await saf.WaitUntilDrainedAsync(CancellationToken.None).WaitAsync(TestPaths.Patience);
        await collectorB.WaitUntilAsync(m => m.Count(r => r.Topic.EndsWith("/events", StringComparison.Ordinal)) >= 30, TestPaths.Patience, "backlog on broker B");
        AssertExactlyOncePerIdInOrder(collectorA.Messages.ToList(), produced);
        AssertExactlyOncePerIdInOrder(collectorB.Messages.Where(r => r.Topic.EndsWith("/events", StringComparison.Ordinal)).ToList(), produced);
        Assert.DoesNotContain(collectorB.Messages, r => r.Topic.EndsWith("/stats", StringComparison.Ordinal));
        Assert.Equal(0, saf.Outbox.GetStatistics().StoredMessages);
    }

    [Fact]
    public async Task Start_AdditionalTransportNotListed_TakesEventsAndStatsOnly()
    {
        var port = TestPaths.FreePort(); // nobody listens: nothing is delivered, only routing is checked
        await using var other = new MqttPublisher(Options(port).Mqtt! with { Destination = "iothub", ClientId = "other" });
        other.Start();
        await using var saf = await StoreAndForward.StartAsync(Options(port), [other], _logs);

        Assert.Equal([new OutboxDestination("mqtt", OutboxKinds.All), new OutboxDestination("iothub", OutboxKinds.Event | OutboxKinds.Stats)], saf.Outbox.Destinations);
        saf.Publisher.Enqueue(TestData.Event("cam1", 1));
        saf.Publisher.Enqueue(TestData.Stats("cam1"));
        saf.Publisher.Enqueue(TestData.Status("online"));
        saf.Publisher.EnqueueSnapshot("cam1", "s1", new byte[] { 0xFF, 0xD8, 0xFF, 0xD9 });
        await saf.Publisher.FlushAsync(CancellationToken.None).WaitAsync(TestPaths.Patience);
        Assert.Equal(4, saf.Outbox.GetDepth("mqtt"));
        Assert.Equal(2, saf.Outbox.GetDepth("iothub"));
    }

    [Fact]
    public async Task Start_ConfiguredDestinationWithoutTransport_ThrowsNamingTheKey()
    {
        var o = Options(TestPaths.FreePort());
        o = o with { Outbox = o.Outbox with { Destinations = [new OutboxDestination("mqtt"), new OutboxDestination("iothub")] } };
        var ex = await Assert.ThrowsAsync<MessagingOptionsException>(() => StoreAndForward.StartAsync(o, loggerFactory: _logs));
        Assert.Equal("Outbox:Destinations:1:Name", ex.Key);
    }

    [Fact]
    public async Task Start_NoBrokerConfigured_StartsEmbeddedBrokerAndPublishesThere()
    {
        var port = TestPaths.FreePort();
        var o = Options(port) with { Mqtt = null, EmbeddedBroker = new EmbeddedBrokerOptions { Port = port } };
        await using (var saf = await StoreAndForward.StartAsync(o, loggerFactory: _logs))
        {
            Assert.NotNull(saf.Broker);
            await using var collector = await MqttCollector.StartAsync(port, "edgemask/dev1/#");
            await saf.Mqtt!.WaitUntilConnectedAsync(CancellationToken.None).WaitAsync(TestPaths.Patience);
            saf.Publisher.Enqueue(TestData.Event("cam1", 1));
            await collector.WaitUntilAsync(m => m.Any(r => r.Topic == Topics.Events("dev1", "cam1")), TestPaths.Patience, "the event");
        }
        // Stopped cleanly: the port can be bound again.
        using var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, port);
        l.Start();
    }

    public void Dispose() => _dir.Dispose();
}
