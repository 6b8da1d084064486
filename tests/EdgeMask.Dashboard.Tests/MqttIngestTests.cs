using EdgeMask.Core.Events;
using EdgeMask.Dashboard.Ingest;
using EdgeMask.Dashboard.Storage;
using EdgeMask.Dashboard.Tests.Support;
using static EdgeMask.Dashboard.Tests.Support.Samples;

namespace EdgeMask.Dashboard.Tests;

/// <summary>The MQTT ingest of the running dashboard against a real broker (MQTTnet.Server on a free loopback port).</summary>
public sealed class MqttIngestTests
{
    [Fact]
    public async Task MqttIngestService_ContractTopics_StoresEventsStatsStatusAndSnapshots()
    {
        await using var broker = await MqttBroker.StartAsync();
        await using var host = await DashboardHost.StartAsync(broker.Port);
        await host.WaitForMqttAsync();

        await broker.PublishAsync(Topics.Status("dev1"), EventJsonContext.Serialize(Status("dev1", "online", T0)), retain: true);
        await broker.PublishAsync(Topics.Stats("dev1", "cam1"), EventJsonContext.Serialize(Stats("dev1", "cam1", T0, 9, 3)));
        await broker.PublishAsync(Topics.Snapshot("dev1", "cam1"), Jpeg, new Dictionary<string, string> { ["snapshotId"] = "m-snap" });
        await broker.PublishAsync(Topics.Events("dev1", "cam1"),
            EventJsonContext.Serialize(Event("m-1", EventTypes.ViolationStart, 0, "dev1", "cam1", T0, snapshotId: "m-snap")));

        var counts = await Eventually.UntilAsync(() => host.Store.CountAsync(default), c => c.Events == 1 && c.Stats == 1 && c.Snapshots == 1,
            "all four messages stored");
        Assert.Equal(1, counts.Devices);
        Assert.Equal("online", Assert.Single(await host.Store.GetDevicesAsync(default)).State);
        Assert.Equal("m-snap", Assert.Single((await host.Store.QueryEventsAsync(new EventQuery(), default)).Items).SnapshotId);
    }

    [Fact]
    public async Task MqttIngestService_RedeliveredEvent_StoredOnce()
    {
        await using var broker = await MqttBroker.StartAsync();
        await using var host = await DashboardHost.StartAsync(broker.Port);
        await host.WaitForMqttAsync();
        var payload = EventJsonContext.Serialize(Event("dup-1", EventTypes.ViolationStart, 0, "dev1", "cam1", T0));

        // The same event three times, as a QoS 1 redelivery after a lost PUBACK would look, then a marker event.
        for (var i = 0; i < 3; i++)
        {
            await broker.PublishAsync(Topics.Events("dev1", "cam1"), payload);
        }
        await broker.PublishAsync(Topics.Events("dev1", "cam1"), EventJsonContext.Serialize(Event("marker", EventTypes.ViolationStart, 0, "dev1", "cam1", T0.AddSeconds(1))));

        await Eventually.UntilAsync(() => Task.FromResult(host.Pipeline.Counters), c => c.Stored + c.Duplicates == 4, "four deliveries processed");
        Assert.Equal(new IngestCounters(2, 2, 0), host.Pipeline.Counters);
        var page = await host.Store.QueryEventsAsync(new EventQuery(), default);
        Assert.Equal(["marker", "dup-1"], page.Items.Select(e => e.Id));
    }

    [Fact]
    public async Task MqttIngestService_MalformedMessage_SkippedAndIngestContinues()
    {
        await using var broker = await MqttBroker.StartAsync();
        await using var host = await DashboardHost.StartAsync(broker.Port);
        await host.WaitForMqttAsync();

        await broker.PublishAsync(Topics.Events("dev1", "cam1"), "{ this is not json"u8.ToArray());
        await broker.PublishAsync(Topics.Stats("dev1", "cam1"), new byte[] { 0, 1, 2 });
        await broker.PublishAsync(Topics.Events("dev1", "cam1"), EventJsonContext.Serialize(Event("after", EventTypes.ViolationStart, 0, "dev1", "cam1", T0)));

        await Eventually.UntilAsync(() => host.Store.CountAsync(default), c => c.Events == 1, "the valid event after the malformed ones");
        Assert.Equal(2, host.Pipeline.Counters.Malformed);
        Assert.Equal("after", Assert.Single((await host.Store.QueryEventsAsync(new EventQuery(), default)).Items).Id);
    }

    [Fact]
    public async Task MqttIngestService_BrokerRestarts_ReconnectsAndKeepsIngesting()
    {
        await using var broker = await MqttBroker.StartAsync();
        await using var host = await DashboardHost.StartAsync(broker.Port);
        await host.WaitForMqttAsync();
        var mqtt = host.Services.GetRequiredService<MqttIngestService>();
        Assert.Equal(1, mqtt.Connections);

        await broker.RestartAsync();
        await Eventually.UntilAsync(() => Task.FromResult(mqtt.Connections), c => c >= 2 && mqtt.IsConnected, "a reconnect");
        await broker.PublishAsync(Topics.Events("dev1", "cam1"), EventJsonContext.Serialize(Event("after-restart", EventTypes.ViolationStart, 0, "dev1", "cam1", T0)));

        await Eventually.UntilAsync(() => host.Store.CountAsync(default), c => c.Events == 1, "the event published after the restart");
    }

    [Fact]
    public async Task MqttIngestService_StoreFailsTwice_RetriesWithoutAcknowledgingAndStoresEverything()
    {
        await using var broker = await MqttBroker.StartAsync();
        FlakyStore? flaky = null;
        await using var host = await DashboardHost.StartAsync(broker.Port, services =>
        {
            var registered = services.Single(s => s.ServiceType == typeof(IDashboardStore));
            services.Remove(registered);
            services.AddSingleton<IDashboardStore>(sp => flaky = new FlakyStore((IDashboardStore)registered.ImplementationFactory!(sp), failures: 2));
        });
        await host.WaitForMqttAsync();

        for (var i = 0; i < 20; i++)
        {
            await broker.PublishAsync(Topics.Events("dev1", "cam1"), EventJsonContext.Serialize(Event($"outage-{i}", EventTypes.ViolationStart, 0, "dev1", "cam1", T0.AddSeconds(i))));
        }

        await Eventually.UntilAsync(() => host.Store.CountAsync(default), c => c.Events == 20, "all 20 events stored after the outage");
        Assert.Equal(2, flaky!.FailedWrites);
        Assert.Equal(new IngestCounters(20, 0, 0), host.Pipeline.Counters);
    }
}
