using System.Text.Json;
using EdgeMask.Core.Events;
using EdgeMask.Messaging.Mqtt;
using EdgeMask.Messaging.Outbox;
using EdgeMask.Messaging.Tests.Support;
using Xunit.Abstractions;

namespace EdgeMask.Messaging.Tests;

/// <summary>The MQTT transport against Debian's mosquitto.</summary>
public sealed class MqttPublisherTests(ITestOutputHelper output) : IDisposable
{
    private readonly TestLoggerFactory _logs = new(output);
    private readonly TempDir _dir = new();

    private static MqttPublisherOptions Options(int port, string device = "dev1") => new()
    {
        Device = device,
        Port = port,
        ReconnectMinDelay = TimeSpan.FromMilliseconds(100),
        ReconnectMaxDelay = TimeSpan.FromMilliseconds(800),
        KeepAlive = TimeSpan.FromSeconds(5),
    };

    private static DeviceStatus ParseStatus(Received r) =>
        JsonSerializer.Deserialize(r.Payload, EventJsonContext.Default.DeviceStatus)!;

    [Fact]
    public async Task Connect_BrokerUp_PublishesRetainedOnlineStatusSeenByLateSubscriber()
    {
        using var broker = new MosquittoBroker();
        await using var publisher = new MqttPublisher(Options(broker.Port), logger: _logs.CreateLogger<MqttPublisher>());
        publisher.Start();
        await publisher.WaitUntilConnectedAsync(CancellationToken.None).WaitAsync(TestPaths.Patience);

        await using var late = await MqttCollector.StartAsync(broker.Port, "edgemask/dev1/status");
        await late.WaitUntilAsync(m => m.Count >= 1, TestPaths.Patience, "the retained status");
        var msg = late.Messages.First();
        Assert.True(msg.Retain);
        Assert.Equal("application/json", msg.ContentType);
        var status = ParseStatus(msg);
        Assert.Equal("online", status.State);
        Assert.Equal("dev1", status.Device);
        Assert.Equal(DeviceStatus.SchemaName, status.Schema);
    }

    [Fact]
    public async Task Abandon_ClientDiesWithoutDisconnect_SubscriberSeesLastWillOfflineRetained()
    {
        using var broker = new MosquittoBroker();
        await using var watcher = await MqttCollector.StartAsync(broker.Port, "edgemask/dev1/status");
        var publisher = new MqttPublisher(Options(broker.Port), logger: _logs.CreateLogger<MqttPublisher>());
        publisher.Start();
        await publisher.WaitUntilConnectedAsync(CancellationToken.None).WaitAsync(TestPaths.Patience);
        await watcher.WaitUntilAsync(m => m.Any(r => ParseStatus(r).State == "online"), TestPaths.Patience, "online");

        await publisher.AbandonAsync();

        await watcher.WaitUntilAsync(m => m.Any(r => ParseStatus(r).State == "offline"), TestPaths.Patience, "the last will");
        await using var late = await MqttCollector.StartAsync(broker.Port, "edgemask/dev1/status");
        await late.WaitUntilAsync(m => m.Count >= 1, TestPaths.Patience, "the retained will");
        Assert.Equal("offline", ParseStatus(late.Messages.First()).State);
        Assert.True(late.Messages.First().Retain);
    }

    [Fact]
    public async Task Abandon_StatusFactoryIgnoringState_WillStillSaysOfflineForThisDevice()
    {
        using var broker = new MosquittoBroker();
        await using var watcher = await MqttCollector.StartAsync(broker.Port, "edgemask/dev1/status");
        // A factory that misreads its argument as the device id and always says online.
        var publisher = new MqttPublisher(Options(broker.Port), statusFactory: arg => new DeviceStatus
        {
            Device = arg, State = "online", At = TestData.T0, ExecutionProvider = "TensorRT",
        });
        publisher.Start();
        await publisher.WaitUntilConnectedAsync(CancellationToken.None).WaitAsync(TestPaths.Patience);
        await publisher.AbandonAsync();

        await watcher.WaitUntilAsync(m => m.Count >= 2, TestPaths.Patience, "online and the will");
        var statuses = watcher.Messages.Select(ParseStatus).ToList();
        Assert.Equal(["online", "offline"], statuses.Select(s => s.State));
        Assert.All(statuses, s => Assert.Equal("dev1", s.Device));
        Assert.All(statuses, s => Assert.Equal("TensorRT", s.ExecutionProvider));
    }

    [Fact]
    public async Task Dispose_Clean_PublishesRetainedOffline()
    {
        using var broker = new MosquittoBroker();
        await using var watcher = await MqttCollector.StartAsync(broker.Port, "edgemask/dev1/status");
        var publisher = new MqttPublisher(Options(broker.Port));
        publisher.Start();
        await publisher.WaitUntilConnectedAsync(CancellationToken.None).WaitAsync(TestPaths.Patience);
        await publisher.DisposeAsync();

        await watcher.WaitUntilAsync(m => m.Select(ParseStatus).Select(s => s.State).SequenceEqual(["online", "offline"]), TestPaths.Patience, "online then offline");
        Assert.False(publisher.IsConnected);
    }

    [Fact]
    public async Task PublishAsync_Qos1Messages_ArriveInOrderWithContentTypeAndId()
    {
        using var broker = new MosquittoBroker();
        await using var collector = await MqttCollector.StartAsync(broker.Port, "edgemask/dev1/cam1/events");
        await using var publisher = new MqttPublisher(Options(broker.Port));
        publisher.Start();
        await publisher.WaitUntilConnectedAsync(CancellationToken.None).WaitAsync(TestPaths.Patience);

        for (var i = 1; i <= 50; i++)
        {
            var payload = EventJsonContext.Serialize(TestData.Event("cam1", i));
            await publisher.PublishAsync(new OutboxMessage(i, OutboxKinds.Event, "cam1", Topics.Events("dev1", "cam1"), payload, 1, false, $"id{i}", TestData.T0),
                CancellationToken.None);
        }

        await collector.WaitUntilAsync(m => m.Count >= 50, TestPaths.Patience, "50 events");
        Assert.Equal(Enumerable.Range(1, 50).Select(i => $"id{i}"), collector.Messages.Select(m => m.UserProperties["id"]));
        Assert.All(collector.Messages, m => Assert.Equal("application/json", m.ContentType));
        Assert.Equal(TestData.Event("cam1", 7).Id, EventJsonContext.DeserializeEvent(collector.Messages.ElementAt(6).Payload).Id);
    }

    [Fact]
    public async Task PublishAsync_NotConnected_ThrowsTransportUnavailable()
    {
        var port = TestPaths.FreePort(); // nobody listens here
        await using var publisher = new MqttPublisher(Options(port), logger: _logs.CreateLogger<MqttPublisher>());
        publisher.Start();
        Assert.False(publisher.IsConnected);
        var m = new OutboxMessage(1, OutboxKinds.Event, "cam1", "edgemask/dev1/cam1/events", new byte[] { 1 }, 1, false, null, TestData.T0);
        await Assert.ThrowsAsync<OutboxTransportUnavailableException>(() => publisher.PublishAsync(m, CancellationToken.None));
    }

    [Fact]
    public async Task Connect_BrokerStartsLate_ReconnectLoopConnects()
    {
        using var broker = new MosquittoBroker();
        broker.Stop();
        await using var publisher = new MqttPublisher(Options(broker.Port), logger: _logs.CreateLogger<MqttPublisher>());
        publisher.Start();
        // Wait until the loop has failed at least twice, so the backoff path really ran.
        var deadline = DateTime.UtcNow + TestPaths.Patience;
        while (publisher.FailedConnectAttempts < 2 && DateTime.UtcNow < deadline) await Task.Delay(20);
        Assert.True(publisher.FailedConnectAttempts >= 2);
        broker.Start();
        await publisher.WaitUntilConnectedAsync(CancellationToken.None).WaitAsync(TestPaths.Patience);
        Assert.Equal(1, publisher.Connects);
        Assert.Single(_logs.Entries, e => e.Template?.StartsWith("Cannot connect to MQTT broker", StringComparison.Ordinal) == true);
    }

    [Fact]
    public void Validate_MissingCaFile_ThrowsNamingTheKey()
    {
        var o = Options(1883) with { Tls = new MqttTlsOptions { CaFile = _dir.File("no-such-ca.pem") } };
        var ex = Assert.Throws<MessagingOptionsException>(() => new MqttPublisher(o));
        Assert.Equal("Mqtt:Tls:CaFile", ex.Key);
        Assert.Contains("no-such-ca.pem", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_CaFileNotACertificate_ThrowsNamingTheKey()
    {
        File.WriteAllText(_dir.File("ca.pem"), "this is not a certificate");
        var o = Options(1883) with { Tls = new MqttTlsOptions { CaFile = _dir.File("ca.pem") } };
        var ex = Assert.Throws<MessagingOptionsException>(() => new MqttPublisher(o));
        Assert.Equal("Mqtt:Tls:CaFile", ex.Key);
    }

    [Theory]
    [InlineData("Device", "dev/1")]
    [InlineData("Port", "0")]
    [InlineData("Username", null)]
    public void Validate_BadValue_ThrowsNamingTheKey(string key, string? value)
    {
        var o = key switch
        {
            "Device" => Options(1883, value!),
            "Port" => Options(0),
            _ => Options(1883) with { Password = "secret" },
        };
        Assert.Equal($"Mqtt:{key}", Assert.Throws<MessagingOptionsException>(() => o.Validate()).Key);
    }

    public void Dispose() => _dir.Dispose();
}
