using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using EdgeMask.Core.Events;
using EdgeMask.IoTHub.Authentication;
using EdgeMask.IoTHub.Methods;
using EdgeMask.IoTHub.Mqtt;
using EdgeMask.IoTHub.Tests.Infrastructure;
using EdgeMask.IoTHub.Twin;
using Microsoft.Extensions.Time.Testing;
using MQTTnet;
using MQTTnet.Formatter;

namespace EdgeMask.IoTHub.Tests;

/// <summary>
/// The client against <see cref="FakeIoTHub"/>, a broker that plays IoT Hub/edgeHub as documented, over TLS on a
/// random loopback port: the module connects through a "gateway" (localhost) while naming the hub, as on a device.
/// </summary>
public sealed class IoTHubMqttClientTests : IAsyncLifetime
{
    private const string Hub = "contoso-hub.azure-devices.net";
    private const string Device = "Jetson-01";
    private const string Module = "edgemask";

    private static readonly byte[] ModuleKey = RandomNumberGenerator.GetBytes(32);
    private FakeIoTHub _hub = null!;

    public async Task InitializeAsync()
    {
        var desired = new JsonObject { ["detection"] = new JsonObject { ["minFaceScore"] = 0.7 } };
        _hub = await FakeIoTHub.StartAsync(Hub, Device, Module, ModuleKey, TestCertificates.Shared.ServerCertificate, desired);
    }

    public async Task DisposeAsync() => await _hub.DisposeAsync();

    private string ConnectionString(byte[]? key = null) =>
        $"HostName={Hub};DeviceId={Device};ModuleId={Module};SharedAccessKey={Convert.ToBase64String(key ?? ModuleKey)};GatewayHostName=localhost";

    private IoTHubClientOptions Options => new()
    {
        Port = _hub.Port,
        ReconnectDelayMin = TimeSpan.FromMilliseconds(50),
        ReconnectDelayMax = TimeSpan.FromMilliseconds(500),
    };

    private IoTHubMqttClient NewClient(byte[]? key = null, bool trust = true, TimeProvider? time = null, IoTHubClientOptions? options = null) =>
        IoTHubMqttClient.FromConnectionString(ConnectionString(key), trust ? TestCertificates.Shared.TrustBundle : null,
            options ?? Options, timeProvider: time);

    /// <summary>Every desired-properties update the client hands on, in order (lock the list to read it).</summary>
    internal static List<DesiredPropertiesUpdate> RecordDesired(IoTHubMqttClient client)
    {
        var updates = new List<DesiredPropertiesUpdate>();
        client.OnDesiredPropertiesChanged((u, _) =>
        {
            lock (updates) updates.Add(u);
            return Task.CompletedTask;
        });
        return updates;
    }

    private static async Task<T> Within<T>(Task<T> task) => await task.WaitAsync(TimeSpan.FromSeconds(30));

    private static async Task Within(Task task) => await task.WaitAsync(TimeSpan.FromSeconds(30));

    [Fact]
    public async Task StartAsync_ModuleConnectionStringViaGateway_PresentsDocumentedIdentityAndReadsFullTwin()
    {
        await using var client = NewClient();
        var updates = IoTHubMqttClientTests.RecordDesired(client);

        await client.StartAsync();
        await Within(client.WaitUntilConnectedAsync(CancellationToken.None));
        await TestPorts.WaitUntilAsync(() => { lock (updates) return updates.Count > 0; }, "the full twin");

        var connection = Assert.Single(_hub.Connections);
        Assert.Equal($"{Device}/{Module}", connection.ClientId);
        Assert.Equal($"{Hub}/{Device}/{Module}/?api-version=2021-04-12", connection.UserName);
        Assert.True(connection.Secure);
        Assert.InRange(connection.TokenExpiry, DateTimeOffset.UtcNow.AddMinutes(55), DateTimeOffset.UtcNow.AddMinutes(61));
        Assert.Equal(["$iothub/twin/res/#", "$iothub/twin/PATCH/properties/desired/#", "$iothub/methods/POST/#"], _hub.Subscriptions.ToArray());
        Assert.Equal(1, _hub.TwinGetCount);
        var update = updates[0];
        Assert.True(update.FromFullTwin);
        Assert.Equal(_hub.DesiredVersion, update.Version);
        Assert.Equal(0.7, update.Desired.GetProperty("detection").GetProperty("minFaceScore").GetDouble());
        Assert.False(update.Desired.TryGetProperty("$version", out _));
        Assert.Empty(_hub.Violations);
    }

    [Fact]
    public async Task StartAsync_WrongKey_RefusedByHubAndRetriedWithBackoff()
    {
        await using var client = NewClient(key: RandomNumberGenerator.GetBytes(32));

        await client.StartAsync();
        await TestPorts.WaitUntilAsync(() => _hub.RejectedConnections.Count >= 2, "two refused attempts");

        Assert.False(client.IsConnected);
        Assert.Contains("signature does not match", _hub.RejectedConnections.First());
        Assert.IsType<IoTHubConnectionException>(client.LastConnectionError);
        Assert.Empty(_hub.Connections);
    }

    [Fact]
    public async Task StartAsync_GatewayAcceptsButNeverAnswers_TimeoutRetriedAndTheLoopLives()
    {
        // A gateway that takes the TCP connection and then says nothing (edgeHub still starting): every attempt times out.
        using var silent = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        silent.Start();
        var held = new System.Collections.Concurrent.ConcurrentBag<System.Net.Sockets.TcpClient>();
        using var stop = new CancellationTokenSource();
        _ = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                held.Add(await silent.AcceptTcpClientAsync(stop.Token));
            }
        });
        var port = ((System.Net.IPEndPoint)silent.LocalEndpoint).Port;
        await using var client = NewClient(options: Options with { Port = port, ConnectTimeout = TimeSpan.FromMilliseconds(300) });

        await client.StartAsync();
        await TestPorts.WaitUntilAsync(() => held.Count >= 3, "three timed-out attempts");

        Assert.False(client.IsConnected);
        Assert.IsType<IoTHubConnectionException>(client.LastConnectionError);
        await stop.CancelAsync();
        foreach (var c in held) c.Dispose();
    }

    [Fact]
    public async Task StartAsync_NoTrustBundleForEdgeCertificate_TlsValidationFails()
    {
        // Without the edge CA the server certificate must be judged by the system roots, which do not know it.
        await using var client = NewClient(trust: false);

        await client.StartAsync();
        await TestPorts.WaitUntilAsync(() => client.LastConnectionError is not null, "a failed attempt");

        Assert.False(client.IsConnected);
        Assert.Empty(_hub.Connections);
    }

    [Fact]
    public async Task UpdateReportedPropertiesAsync_Patch_Answered204WithNewVersion()
    {
        await using var client = NewClient();
        await client.StartAsync();
        await Within(client.WaitUntilConnectedAsync(CancellationToken.None));

        var v1 = await Within(client.UpdateReportedPropertiesAsync(new JsonObject { ["executionProvider"] = "cpu", ["fps"] = 12.5 }, CancellationToken.None));
        var v2 = await Within(client.UpdateReportedPropertiesAsync(new JsonObject { ["fps"] = null }, CancellationToken.None));

        Assert.Equal(v1 + 1, v2);
        var reported = _hub.ReportedSnapshot;
        Assert.Equal("cpu", reported["executionProvider"]!.GetValue<string>());
        Assert.False(reported.ContainsKey("fps"));
        var twin = await Within(client.GetTwinAsync(CancellationToken.None));
        Assert.Equal(v2, twin.ReportedVersion);
        Assert.Empty(_hub.Violations);
    }

    [Fact]
    public async Task DesiredPatch_WhileConnected_DeliveredMergedWithItsVersion()
    {
        await using var client = NewClient();
        var updates = IoTHubMqttClientTests.RecordDesired(client);
        await client.StartAsync();
        await TestPorts.WaitUntilAsync(() => { lock (updates) return updates.Count == 1; }, "the full twin");

        var version = _hub.UpdateDesired(new JsonObject { ["alarm"] = new JsonObject { ["enabled"] = false } });
        await TestPorts.WaitUntilAsync(() => { lock (updates) return updates.Count == 2; }, "the patch");

        var patch = updates[1];
        Assert.False(patch.FromFullTwin);
        Assert.Equal(version, patch.Version);
        Assert.False(patch.Desired.GetProperty("alarm").GetProperty("enabled").GetBoolean());
        Assert.Equal(0.7, patch.Desired.GetProperty("detection").GetProperty("minFaceScore").GetDouble()); // merged, not replaced
    }

    [Fact]
    public async Task DirectMethods_EachOutcome_AnsweredOnDocumentedTopicWithStatus()
    {
        await using var client = NewClient();
        client.RegisterMethod("getStatus", (_, _) => Task.FromResult(MethodResponse.Ok(new JsonObject { ["state"] = "running" })));
        client.RegisterMethod("testAlarm", (payload, _) =>
        {
            var seconds = payload.ValueKind == JsonValueKind.Object && payload.TryGetProperty("seconds", out var s) && s.TryGetInt32(out var n) ? n : -1;
            if (seconds is < 1 or > 30)
            {
                throw new DirectMethodArgumentException("seconds must be 1..30", new Dictionary<string, string> { ["seconds"] = "out of range" });
            }

            return Task.FromResult(MethodResponse.Ok(new JsonObject { ["ranFor"] = seconds }));
        });
        client.RegisterMethod("explode", (_, _) => throw new InvalidOperationException("boom"));
        await client.StartAsync();
        await Within(client.WaitUntilConnectedAsync(CancellationToken.None));

        var ok = await _hub.InvokeMethodAsync("getStatus", "");
        var alarm = await _hub.InvokeMethodAsync("testAlarm", """{"seconds":3}""");
        var invalid = await _hub.InvokeMethodAsync("testAlarm", """{"seconds":300}""");
        var malformed = await _hub.InvokeMethodAsync("testAlarm", """{"seconds":""");
        var unknown = await _hub.InvokeMethodAsync("reboot", "{}");
        var failing = await _hub.InvokeMethodAsync("explode", "{}");

        Assert.Equal(200, ok.Status);
        Assert.Equal("running", ok.Body!["state"]!.GetValue<string>());
        Assert.Equal(200, alarm.Status);
        Assert.Equal(3, alarm.Body!["ranFor"]!.GetValue<int>());
        Assert.Equal(400, invalid.Status);
        Assert.Equal("out of range", invalid.Body!["details"]!["seconds"]!.GetValue<string>());
        Assert.Equal(400, malformed.Status);
        Assert.Equal(404, unknown.Status);
        Assert.Equal(500, failing.Status);
        Assert.Empty(_hub.Violations);
    }

    [Fact]
    public async Task DirectMethods_HundredSeededRandomCallsOverMqtt_OnlyAnswers200_400_404()
    {
        await using var client = NewClient();
        var reference = DirectMethodTests.CreateDispatcher();
        foreach (var name in new[] { "getStatus", "setThresholds", "captureSnapshot" })
        {
            client.RegisterMethod(name, (payload, ct) => reference.DispatchAsync(name, Encoding.UTF8.GetBytes(payload.GetRawText()), ct));
        }

        await client.StartAsync();
        await Within(client.WaitUntilConnectedAsync(CancellationToken.None));
        var random = new Random(5);
        for (var i = 0; i < 100; i++)
        {
            var (name, payload) = DirectMethodTests.RandomCall(random);
            // A method name is a topic segment: the hub never sends wildcards, separators or NUL in it.
            name = new string(name.Where(c => char.IsAsciiLetterOrDigit(c) || c == '_').ToArray());
            if (name.Length == 0)
            {
                name = "unknown";
            }

            var answer = await _hub.InvokeMethodAsync(name, payload);
            Assert.True(answer.Status is 200 or 400 or 404, $"call {i} {name} answered {answer.Status}");
        }

        Assert.True(client.IsConnected);
        Assert.Empty(_hub.Violations);
    }

    [Fact]
    public async Task SendTelemetryAsync_BodyOverLimit_RejectedBeforeSending()
    {
        await using var client = NewClient();
        await client.StartAsync();
        await Within(client.WaitUntilConnectedAsync(CancellationToken.None));

        await Assert.ThrowsAsync<TelemetryRejectedException>(() =>
            client.SendTelemetryAsync(new TelemetryMessage("events", new byte[300 * 1024]), CancellationToken.None));
        Assert.Empty(_hub.Telemetry);
    }

    [Fact]
    public async Task SendTelemetryAsync_NotConnected_ThrowsConnectionErrorForRetry()
    {
        await using var client = NewClient();

        await Assert.ThrowsAsync<IoTHubConnectionException>(() =>
            client.SendTelemetryAsync(new TelemetryMessage("events", "{}"u8.ToArray()), CancellationToken.None));
    }

    [Fact]
    public async Task Reconnect_AfterConnectionDropped_ReReadsFullTwinIncludingChangesMissedWhileAway()
    {
        await using var client = NewClient();
        var updates = IoTHubMqttClientTests.RecordDesired(client);
        await client.StartAsync();
        await TestPorts.WaitUntilAsync(() => { lock (updates) return updates.Count == 1; }, "the first full twin");

        _hub.Outage = true;
        await _hub.DropConnectionAsync();
        await TestPorts.WaitUntilAsync(() => !client.IsConnected, "the drop to be seen");
        // Changed while the module is away: IoT Hub does not keep desired notifications for disconnected devices.
        var missed = _hub.UpdateDesired(new JsonObject { ["detection"] = new JsonObject { ["cooldownSeconds"] = 90 } }, notify: false);
        _hub.Outage = false;
        await TestPorts.WaitUntilAsync(() => { lock (updates) return updates.Any(u => u.Version == missed); }, "the re-read twin");

        Assert.True(client.ConnectCount >= 2);
        Assert.True(_hub.TwinGetCount >= 2);
        var latest = updates.Last();
        Assert.True(latest.FromFullTwin);
        Assert.Equal(90, latest.Desired.GetProperty("detection").GetProperty("cooldownSeconds").GetInt32());
        Assert.Equal(0.7, latest.Desired.GetProperty("detection").GetProperty("minFaceScore").GetDouble());
        Assert.Equal(2, _hub.Connections.Count);
        Assert.Empty(_hub.Violations);
    }

    [Fact]
    public async Task TokenRenewal_BeforeExpiry_ReconnectsWithFreshTokenAndReReadsTwin()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var client = NewClient(time: time);
        var fullTwins = 0;
        client.OnDesiredPropertiesChanged((u, _) =>
        {
            if (u.FromFullTwin) Interlocked.Increment(ref fullTwins);
            return Task.CompletedTask;
        });
        await client.StartAsync();
        // Advance the clock only once the twin answer is in: moving it while the GET is pending would time that out.
        await TestPorts.WaitUntilAsync(() => Volatile.Read(ref fullTwins) == 1, "the first twin read");
        var firstExpiry = _hub.Connections.Single().TokenExpiry;

        time.Advance(TimeSpan.FromMinutes(50)); // before 85 % of the hour: no renewal yet
        await Task.Yield();
        Assert.Single(_hub.Connections);
        time.Advance(TimeSpan.FromMinutes(2)); // past 51 minutes: renew
        await TestPorts.WaitUntilAsync(() => _hub.Connections.Count == 2 && Volatile.Read(ref fullTwins) == 2, "the renewed connection");

        var second = _hub.Connections.Last();
        Assert.True(second.TokenExpiry > firstExpiry.AddMinutes(50), $"{second.TokenExpiry} vs {firstExpiry}");
        Assert.Empty(_hub.RejectedConnections);
    }

    [Fact]
    public async Task UseTwinConfiguration_GoodThenBadThenFixedPatches_ReportsPerKeyAndKeepsPreviousConfig()
    {
        await using var client = NewClient();
        var applier = new TwinConfigurationApplier<SampleOptions>(SampleOptions.Default, SampleOptions.Validate);
        client.UseTwinConfiguration(applier, () => new Dictionary<string, JsonNode?> { ["executionProvider"] = "cpu" });
        await client.StartAsync();
        await TestPorts.WaitUntilAsync(() => Reported("status") == "applied", "the first configuration report");
        Assert.Equal(0.7, applier.Current.MinFaceScore);
        Assert.Equal("cpu", _hub.ReportedSnapshot["executionProvider"]!.GetValue<string>());

        var bad = _hub.UpdateDesired(new JsonObject
        {
            ["detection"] = new JsonObject { ["minFaceScore"] = "high", ["cooldownSeconds"] = 99999 },
            ["colour"] = "blue",
            ["cameras"] = new JsonObject { ["door"] = new JsonObject { ["url"] = new string('x', 100 * 1024) } },
        });
        await TestPorts.WaitUntilAsync(() => Reported("status") == "rejected" && ReportedVersion("desiredVersion") == bad, "the rejection report");

        var errors = _hub.ReportedSnapshot["configuration"]!["errors"]!.AsObject();
        Assert.Equal(["cameras/door/url", "colour", "detection/cooldownSeconds", "detection/minFaceScore", "document"],
            errors.Where(p => p.Value is not null).Select(p => p.Key).Order().ToArray());
        Assert.Equal(0.7, applier.Current.MinFaceScore);
        Assert.True(client.IsConnected);

        // Fix every bad key (null deletes a desired member): the next document is applied and the errors cleared.
        var good = _hub.UpdateDesired(new JsonObject
        {
            ["detection"] = new JsonObject { ["minFaceScore"] = 0.9, ["cooldownSeconds"] = 10 },
            ["colour"] = null,
            ["cameras"] = new JsonObject { ["door"] = new JsonObject { ["url"] = "rtsp://10.0.0.9/live" } },
        });
        await TestPorts.WaitUntilAsync(() => Reported("status") == "applied" && ReportedVersion("appliedVersion") == good, "the fixed report");

        Assert.Equal(0.9, applier.Current.MinFaceScore);
        Assert.Equal("rtsp://10.0.0.9/live", applier.Current.CameraUrls["door"]);
        Assert.False(_hub.ReportedSnapshot["configuration"]!.AsObject().ContainsKey("errors"));
        Assert.Empty(_hub.Violations);
    }

    [Fact]
    public async Task DesiredPatch_NotNewerThanFullTwin_IgnoredAsDocumented()
    {
        await using var client = NewClient();
        var updates = IoTHubMqttClientTests.RecordDesired(client);
        await client.StartAsync();
        await TestPorts.WaitUntilAsync(() => { lock (updates) return updates.Count == 1; }, "the full twin");
        var current = _hub.DesiredVersion;

        // "The device app can ignore all notifications with $version less or equal than the version of the full document."
        _hub.SendDesiredNotification(new JsonObject { ["detection"] = new JsonObject { ["minFaceScore"] = 0.1 }, ["$version"] = current }, current);
        var newer = _hub.UpdateDesired(new JsonObject { ["alarm"] = new JsonObject { ["enabled"] = true } });
        await TestPorts.WaitUntilAsync(() => { lock (updates) return updates.Any(u => u.Version == newer); }, "the newer patch");

        Assert.Equal(2, updates.Count);
        Assert.Equal(0.7, updates[1].Desired.GetProperty("detection").GetProperty("minFaceScore").GetDouble());
    }

    [Fact]
    public async Task DirectMethod_SlowHandler_DoesNotHoldUpTwinAnswersOrOtherCalls()
    {
        await using var client = NewClient();
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        client.RegisterMethod("testAlarm", async (_, ct) =>
        {
            await release.Task.WaitAsync(ct);
            return MethodResponse.Ok(new JsonObject { ["done"] = true });
        });
        client.RegisterMethod("getStatus", (_, _) => Task.FromResult(MethodResponse.Ok()));
        await client.StartAsync();
        await Within(client.WaitUntilConnectedAsync(CancellationToken.None));

        var slow = _hub.InvokeMethodAsync("testAlarm", "{}");
        var version = await Within(client.UpdateReportedPropertiesAsync(new JsonObject { ["alarm"] = "testing" }, CancellationToken.None));
        var quick = await _hub.InvokeMethodAsync("getStatus", "{}");
        Assert.False(slow.IsCompleted);
        release.SetResult();
        var answer = await slow;

        Assert.True(version > 0);
        Assert.Equal(200, quick.Status);
        Assert.Equal(200, answer.Status);
    }

    [Fact]
    public async Task StartAsync_GatewayNameNotInServerCertificate_TlsRefused()
    {
        // The edge CA is trusted, but the certificate is for "localhost", not "127.0.0.1": the name must match too.
        await using var client = IoTHubMqttClient.FromConnectionString(
            $"HostName={Hub};DeviceId={Device};ModuleId={Module};SharedAccessKey={Convert.ToBase64String(ModuleKey)};GatewayHostName=127.0.0.1",
            TestCertificates.Shared.TrustBundle, Options);

        await client.StartAsync();
        await TestPorts.WaitUntilAsync(() => client.LastConnectionError is not null, "a failed attempt");

        Assert.False(client.IsConnected);
        Assert.Empty(_hub.Connections);
    }

    [Fact]
    public async Task FakeHub_ModulePublishesToAnotherDevicesTopic_ConnectionClosed()
    {
        // The double itself must enforce topic permissions, or the tests above could pass against a lax broker.
        var token = SasTokenBuilder.Create(SasTokenBuilder.ResourceUri(Hub, Device, Module), Convert.ToBase64String(ModuleKey), DateTimeOffset.UtcNow.AddHours(1));
        using var raw = new MqttClientFactory().CreateMqttClient();
        var options = new MqttClientOptionsBuilder()
            .WithTcpServer("localhost", _hub.Port)
            .WithProtocolVersion(MqttProtocolVersion.V311)
            .WithClientId($"{Device}/{Module}")
            .WithCredentials($"{Hub}/{Device}/{Module}/?api-version=2021-04-12", token.Value)
            .WithTlsOptions(t => t.UseTls().WithTargetHost("localhost").WithCertificateValidationHandler(a =>
                IoTHubConnection.ValidateServerCertificate(a.Certificate, a.Chain, a.SslPolicyErrors, TestCertificates.Shared.TrustBundle)))
            .Build();
        await raw.ConnectAsync(options);
        Assert.True(raw.IsConnected);

        try
        {
            await raw.PublishAsync(new MqttApplicationMessageBuilder().WithTopic("devices/other-device/messages/events/")
                .WithPayload("{}").WithQualityOfServiceLevel(MQTTnet.Protocol.MqttQualityOfServiceLevel.AtLeastOnce).Build());
        }
        catch (MQTTnet.Exceptions.MqttCommunicationException)
        {
            // The broker closing the connection before the PUBACK is the expected outcome too.
        }

        await TestPorts.WaitUntilAsync(() => !raw.IsConnected, "the connection to close");
        Assert.Contains(_hub.Violations, v => v.Contains("devices/other-device", StringComparison.Ordinal));
    }

    private string? Reported(string field) =>
        _hub.ReportedSnapshot["configuration"]?[field]?.GetValue<string>();

    private long? ReportedVersion(string field) =>
        _hub.ReportedSnapshot["configuration"]?[field]?.GetValue<long>();

    internal static MaskEvent SampleEvent(string camera) => new()
    {
        Id = "ep-1",
        Type = EventTypes.ViolationStart,
        Sequence = 0,
        Device = Device,
        Camera = camera,
        TrackId = 7,
        StartedAt = DateTimeOffset.UnixEpoch.AddDays(20000),
        At = DateTimeOffset.UnixEpoch.AddDays(20000),
        Frame = new EventFrame(1280, 720),
        Face = new EventFace([10, 20, 110, 140], [0.01f, 0.03f, 0.09f, 0.19f], [[30, 50], [70, 50], [50, 70], [35, 100], [65, 100]], 0.98f),
        Mask = new EventMask("no_mask", 0.93f, 10, 8),
        Snapshot = EventSnapshot.None,
    };

    internal static CameraStats SampleStats(string camera) => new()
    {
        Device = Device,
        Camera = camera,
        At = DateTimeOffset.UnixEpoch.AddDays(20000),
        IntervalSeconds = 10,
        FramesPerSecond = 14.5,
        LatencyMs = new LatencyStats(30, 45, 60),
        FramesProcessed = 145,
        DroppedFrames = 3,
        FacesSeen = 40,
        FacesUnmasked = 4,
        ComplianceRate = 0.9,
        ActiveViolations = 1,
    };
}
