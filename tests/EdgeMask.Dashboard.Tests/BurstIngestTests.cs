using System.Diagnostics;
using EdgeMask.Core.Events;
using EdgeMask.Dashboard.Storage;
using EdgeMask.Dashboard.Tests.Support;
using MQTTnet;
using MQTTnet.Protocol;
using static EdgeMask.Dashboard.Tests.Support.Samples;

namespace EdgeMask.Dashboard.Tests;

/// <summary>
/// No burst lost upstream: a fleet's burst through Debian's mosquitto, configured with the mosquitto.conf we ship,
/// into the dashboard on PostgreSQL. With mosquitto's defaults (1,000 queued messages per client) such a burst lost
/// two thirds of its events. These tests assert completeness, not speed: on a heavily loaded machine Debian's
/// mosquitto 2.0.11 sometimes delivered the tail of a burst tens of seconds late (it logged sending it; the client
/// had not received it), hence the long deadlines.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class BurstIngestTests
{
    private const int Cameras = 8;
    private const int EventsPerCamera = 625;

    [Fact]
    public async Task Burst_FiveThousandEventsFromEightCamerasAtQos1_AllStored()
    {
        using var database = new PostgresDatabase();
        var users = new Dictionary<string, string> { ["edgemask-dashboard"] = "dashboard-secret", ["station-01"] = "station-secret" };
        await using var broker = await Mosquitto.StartAsync(users);
        await using var host = await DashboardHost.StartAsync(broker.Port,
            $"--Dashboard:Store:ConnectionString={database.ConnectionString}",
            "--Dashboard:Mqtt:Username=edgemask-dashboard", "--Dashboard:Mqtt:Password=dashboard-secret");
        await host.WaitForMqttAsync();

        var publishers = await Task.WhenAll(Enumerable.Range(0, Cameras).Select(async camera =>
        {
            var client = new MqttClientFactory().CreateMqttClient();
            await client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", broker.Port)
                .WithClientId($"station-01-cam{camera}").WithCredentials("station-01", "station-secret").Build());
            return client;
        }));
        var clock = Stopwatch.StartNew();
        // Every camera publishes all its events at once, as a station's outbox does after an outage.
        await Task.WhenAll(publishers.Select((client, camera) => Task.WhenAll(Enumerable.Range(0, EventsPerCamera).Select(i =>
            client.PublishAsync(new MqttApplicationMessageBuilder()
                .WithTopic(Topics.Events("station-01", $"cam{camera}"))
                .WithPayload(EventJsonContext.Serialize(Event($"burst-{camera}-{i}", EventTypes.ViolationStart, 0, "station-01", $"cam{camera}",
                    T0.AddMilliseconds(i))))
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build())))));
        var published = clock.Elapsed;

        var mqtt = host.Services.GetRequiredService<Ingest.MqttIngestService>();
        var counts = await Eventually.UntilAsync(() => host.Store.CountAsync(default), c => c.Events >= Cameras * EventsPerCamera,
            "all 5,000 events stored", TimeSpan.FromSeconds(180),
            () => $"ingest {host.Pipeline.Counters}, {mqtt.Connections} connections, {mqtt.Pending} received and not stored, {mqtt.Acknowledged} acknowledged; broker log: {string.Join(" | ", broker.Log.TakeLast(6))}");
        var stored = clock.Elapsed;

        Assert.Equal(Cameras * EventsPerCamera, counts.Events);
        Assert.Equal(Cameras, (await host.Store.GetCamerasAsync(default)).Count);
        Assert.DoesNotContain(broker.Log, line => line.Contains("dropped", StringComparison.OrdinalIgnoreCase));
        Assert.Equal(0, host.Pipeline.Counters.Malformed);
        Console.WriteLine($"burst: published {Cameras * EventsPerCamera} events in {published.TotalSeconds:0.00} s, all stored after {stored.TotalSeconds:0.00} s");
        foreach (var client in publishers)
        {
            client.Dispose();
        }
    }

    [Fact]
    public async Task DashboardRestart_EventsPublishedWhileItIsDown_AreQueuedByTheBrokerAndStored()
    {
        using var database = new PostgresDatabase();
        var users = new Dictionary<string, string> { ["edgemask-dashboard"] = "dashboard-secret", ["station-01"] = "station-secret" };
        await using var broker = await Mosquitto.StartAsync(users);
        // The fixed client id of a dashboard: its session (subscriptions and queue) outlives the process.
        string[] args = [$"--Dashboard:Store:ConnectionString={database.ConnectionString}", "--Dashboard:Mqtt:ClientId=edgemask-dashboard",
            "--Dashboard:Mqtt:Username=edgemask-dashboard", "--Dashboard:Mqtt:Password=dashboard-secret"];
        await using (var first = await DashboardHost.StartAsync(broker.Port, args))
        {
            await first.WaitForMqttAsync();
        }

        // More than mosquitto's default per-client queue (1,000) while nobody reads.
        using var station = new MqttClientFactory().CreateMqttClient();
        await station.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", broker.Port)
            .WithClientId("station-01").WithCredentials("station-01", "station-secret").Build());
        await Task.WhenAll(Enumerable.Range(0, 1500).Select(i => station.PublishAsync(new MqttApplicationMessageBuilder()
            .WithTopic(Topics.Events("station-01", "door"))
            .WithPayload(EventJsonContext.Serialize(Event($"queued-{i}", EventTypes.ViolationStart, 0, "station-01", "door", T0.AddMilliseconds(i))))
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build())));

        await using var second = await DashboardHost.StartAsync(broker.Port, args);
        var counts = await Eventually.UntilAsync(() => second.Store.CountAsync(default), c => c.Events >= 1500, "the queued events stored",
            TimeSpan.FromSeconds(180));
        Assert.Equal(1500, counts.Events);
        Assert.DoesNotContain(broker.Log, line => line.Contains("dropped", StringComparison.OrdinalIgnoreCase));
    }
}
