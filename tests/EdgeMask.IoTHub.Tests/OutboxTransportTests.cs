using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using EdgeMask.Core.Events;
using EdgeMask.IoTHub.Mqtt;
using EdgeMask.IoTHub.Tests.Infrastructure;
using EdgeMask.Messaging;
using EdgeMask.Messaging.Outbox;

namespace EdgeMask.IoTHub.Tests;

/// <summary>Store-and-forward into IoT Hub through the Messaging part's real SQLite outbox and drainer.</summary>
public sealed class OutboxTransportTests : IAsyncLifetime
{
    private static readonly byte[] ModuleKey = RandomNumberGenerator.GetBytes(32);
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "em-iothub-outbox-" + Guid.NewGuid().ToString("N")[..8]);
    private FakeIoTHub _hub = null!;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_folder);
        _hub = await FakeIoTHub.StartAsync("hub.azure-devices.net", "jetson", "edgemask", ModuleKey, TestCertificates.Shared.ServerCertificate);
    }

    public async Task DisposeAsync()
    {
        await _hub.DisposeAsync();
        Directory.Delete(_folder, recursive: true);
    }

    private IoTHubMqttClient NewClient() => IoTHubMqttClient.FromConnectionString(
        $"HostName=hub.azure-devices.net;DeviceId=jetson;ModuleId=edgemask;SharedAccessKey={Convert.ToBase64String(ModuleKey)};GatewayHostName=localhost",
        TestCertificates.Shared.TrustBundle,
        new IoTHubClientOptions { Port = _hub.Port, ReconnectDelayMin = TimeSpan.FromMilliseconds(50), ReconnectDelayMax = TimeSpan.FromMilliseconds(300) });

    private static OutboxEntry EventEntry(int sequence)
    {
        var e = IoTHubMqttClientTests.SampleEvent("door") with { Sequence = sequence, Type = sequence == 0 ? EventTypes.ViolationStart : EventTypes.ViolationUpdate };
        return new OutboxEntry(OutboxKinds.Event, "door", Topics.Events("jetson", "door"), EventJsonContext.Serialize(e), MessageId: $"{e.Id}:{e.Type}:{e.Sequence}");
    }

    [Fact]
    public async Task Drainer_EventsStoredWhileOffline_DeliveredInOrderAfterConnectAndAfterOutage()
    {
        using var outbox = new SqliteOutbox(new OutboxOptions
        {
            Path = Path.Combine(_folder, "outbox.db"),
            Destinations = [new OutboxDestination(IoTHubOutboxTransport.DestinationName, OutboxKinds.Event | OutboxKinds.Stats)],
        });
        await using var client = NewClient();
        var transport = new IoTHubOutboxTransport(client);
        await using var drainer = new OutboxDrainer(outbox, transport, new OutboxDrainerOptions { RetryMinDelay = TimeSpan.FromMilliseconds(20), DisconnectedPollInterval = TimeSpan.FromMilliseconds(20) });
        drainer.Start();

        for (var i = 0; i < 5; i++)
        {
            outbox.Enqueue(EventEntry(i)); // stored while the module is not connected yet
        }

        Assert.False(transport.IsConnected);
        await client.StartAsync();
        await TestPorts.WaitUntilAsync(() => _hub.Telemetry.Count == 5, "the stored events");

        await _hub.DropConnectionAsync();
        for (var i = 5; i < 8; i++)
        {
            outbox.Enqueue(EventEntry(i));
        }

        await TestPorts.WaitUntilAsync(() => outbox.GetDepth("iothub") == 0 && drainer.Published >= 8, "the events after the outage");

        var sequences = _hub.Telemetry
            .Select(t => EventJsonContext.DeserializeEvent(t.Body).Sequence)
            .Distinct() // QoS 1 allows a redelivery around the outage; consumers de-duplicate by $.mid
            .ToArray();
        Assert.Equal(Enumerable.Range(0, 8), sequences);
        var first = _hub.Telemetry.First();
        Assert.Equal("events", first.Properties["$.on"]);
        Assert.Equal("violation.start", first.Properties["type"]);
        Assert.Equal("door", first.Properties["camera"]);
        Assert.Equal(EdgeMask.Core.Events.MaskEvent.SchemaName, first.Properties["schema"]);
        Assert.Equal("ep-1:violation.start:0", first.Properties["$.mid"]);
        Assert.Empty(_hub.Violations);
    }

    /// <summary>An outbox row as the store hands it to a destination's drainer.</summary>
    internal static OutboxMessage Row(OutboxKinds kind, MaskEvent e) =>
        new(1, kind, e.Camera, Topics.Events(e.Device, e.Camera), EventJsonContext.Serialize(e), 1, false, $"{e.Id}:{e.Type}:{e.Sequence}", DateTimeOffset.UnixEpoch);

    internal static OutboxMessage Row(OutboxKinds kind, CameraStats s) =>
        new(1, kind, s.Camera, $"edgemask/{s.Device}/{s.Camera}/stats", EventJsonContext.Serialize(s), 1, false, null, DateTimeOffset.UnixEpoch);

    [Fact]
    public async Task PublishAsync_EventAndStats_CarryOutputContentTypeAndRoutingProperties()
    {
        await using var client = NewClient();
        var transport = new IoTHubOutboxTransport(client);
        await client.StartAsync();
        await client.WaitUntilConnectedAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));
        var maskEvent = IoTHubMqttClientTests.SampleEvent("door 1/east");

        await transport.PublishAsync(Row(OutboxKinds.Event, maskEvent), CancellationToken.None);
        await transport.PublishAsync(Row(OutboxKinds.Stats, IoTHubMqttClientTests.SampleStats("door 1/east")), CancellationToken.None);

        var telemetry = _hub.Telemetry.ToArray();
        Assert.Equal(2, telemetry.Length);
        var events = telemetry[0];
        Assert.StartsWith("devices/jetson/modules/edgemask/messages/events/", events.Topic);
        Assert.EndsWith("/", events.Topic);
        Assert.Equal("events", events.Properties["$.on"]);
        Assert.Equal("application/json", events.Properties["$.ct"]);
        Assert.Equal("utf-8", events.Properties["$.ce"]);
        Assert.Equal("violation.start", events.Properties["type"]);
        Assert.Equal("door 1/east", events.Properties["camera"]);
        Assert.Equal(MaskEvent.SchemaName, events.Properties["schema"]);
        Assert.Equal("ep-1:violation.start:0", events.Properties["$.mid"]);
        Assert.Equal(MQTTnet.Protocol.MqttQualityOfServiceLevel.AtLeastOnce, events.Qos);
        Assert.Equal(maskEvent.Id, EventJsonContext.DeserializeEvent(events.Body).Id);
        var stats = telemetry[1];
        Assert.Equal("stats", stats.Properties["$.on"]);
        Assert.Equal("stats", stats.Properties["type"]);
        Assert.Equal(CameraStats.SchemaName, stats.Properties["schema"]);
        Assert.Empty(_hub.Dropped);
        Assert.Empty(_hub.Violations);
    }

    [Fact]
    public void ToTelemetry_Stats_MapsToStatsOutput()
    {
        var stats = EventJsonContext.Serialize(IoTHubMqttClientTests.SampleStats("lobby"));
        var message = new OutboxMessage(1, OutboxKinds.Stats, "lobby", "edgemask/jetson/lobby/stats", stats, 1, false, null, DateTimeOffset.UnixEpoch);

        var telemetry = IoTHubOutboxTransport.ToTelemetry(message, "iothub");

        Assert.Equal("stats", telemetry.OutputName);
        Assert.Equal("stats", telemetry.Properties!["type"]);
        Assert.Equal(EdgeMask.Core.Events.CameraStats.SchemaName, telemetry.Properties["schema"]);
    }

    [Fact]
    public void ToTelemetry_Snapshot_RejectedForGood()
    {
        var message = new OutboxMessage(1, OutboxKinds.Snapshot, "door", "edgemask/jetson/door/snapshot", new byte[] { 0xFF, 0xD8 }, 1, false, null, DateTimeOffset.UnixEpoch);

        Assert.Throws<OutboxMessageRejectedException>(() => IoTHubOutboxTransport.ToTelemetry(message, "iothub"));
    }

    [Fact]
    public async Task PublishAsync_NotConnected_ThrowsUnavailableSoTheDrainerRetries()
    {
        await using var client = NewClient();
        var transport = new IoTHubOutboxTransport(client);
        var message = new OutboxMessage(1, OutboxKinds.Event, "door", "t", Encoding.UTF8.GetBytes("{\"type\":\"violation.start\"}"), 1, false, "m", DateTimeOffset.UnixEpoch);

        await Assert.ThrowsAsync<OutboxTransportUnavailableException>(() => transport.PublishAsync(message, CancellationToken.None));
    }
}
