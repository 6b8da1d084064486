using System.Security.Cryptography;
using System.Text.Json.Nodes;
using EdgeMask.IoTHub.Authentication;
using EdgeMask.IoTHub.Edge;
using EdgeMask.IoTHub.Mqtt;
using EdgeMask.IoTHub.Tests.Infrastructure;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;
using Xunit.Abstractions;

namespace EdgeMask.IoTHub.Tests;

/// <summary>
/// Where the module meets edgeHub as edgeHub's own code parses it (see <see cref="FakeIoTHub"/>): telemetry topics,
/// the token's audience, twin requests that edgeHub throttles or fails, and desired patches racing the full twin.
/// </summary>
public sealed class EdgeHubConformanceTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const string Hub = "Contoso-Hub.azure-devices.net";
    private const string Device = "Jetson-01";
    private const string Module = "edgemask";

    private static readonly byte[] ModuleKey = RandomNumberGenerator.GetBytes(32);
    private FakeIoTHub _hub = null!;

    public async Task InitializeAsync() =>
        _hub = await FakeIoTHub.StartAsync(Hub, Device, Module, ModuleKey, TestCertificates.Shared.ServerCertificate,
            new JsonObject { ["detection"] = new JsonObject { ["minFaceScore"] = 0.7 } });

    public async Task DisposeAsync()
    {
        foreach (var line in _hub.Log)
        {
            output.WriteLine("edgeHub: " + line);
        }

        await _hub.DisposeAsync();
    }

    private IoTHubMqttClient NewClient(IoTHubClientOptions? options = null) => IoTHubMqttClient.FromConnectionString(
        $"HostName={Hub};DeviceId={Device};ModuleId={Module};SharedAccessKey={Convert.ToBase64String(ModuleKey)};GatewayHostName=localhost",
        TestCertificates.Shared.TrustBundle,
        options ?? new IoTHubClientOptions
        {
            Port = _hub.Port,
            ReconnectDelayMin = TimeSpan.FromMilliseconds(50),
            ReconnectDelayMax = TimeSpan.FromMilliseconds(500),
            TwinRetry = new() { Initial = TimeSpan.FromMilliseconds(20), Max = TimeSpan.FromMilliseconds(100), MaxAttempts = 5 },
        });

    /// <summary>A bare MQTT client with this module's valid credentials, to publish topics the product would never write.</summary>
    private async Task<IMqttClient> RawModuleClientAsync(string? audienceHost = null)
    {
        var resource = $"{audienceHost ?? Hub}/devices/{Device}/modules/{Module}";
        var token = SasTokenBuilder.Create(resource, Convert.ToBase64String(ModuleKey), DateTimeOffset.UtcNow.AddHours(1));
        var raw = new MqttClientFactory().CreateMqttClient();
        var options = new MqttClientOptionsBuilder()
            .WithTcpServer("localhost", _hub.Port)
            .WithProtocolVersion(MqttProtocolVersion.V311)
            .WithClientId($"{Device}/{Module}")
            .WithCredentials($"{Hub}/{Device}/{Module}/?api-version=2021-04-12", token.Value)
            .WithTlsOptions(t => t.UseTls().WithTargetHost("localhost").WithCertificateValidationHandler(a =>
                IoTHubConnection.ValidateServerCertificate(a.Certificate, a.Chain, a.SslPolicyErrors, TestCertificates.Shared.TrustBundle)))
            .Build();
        var result = await raw.ConnectAsync(options);
        Assert.Equal(MqttClientConnectResultCode.Success, result.ResultCode);
        return raw;
    }

    [Fact]
    public async Task Telemetry_OldTopicWithoutClosingSlash_AcknowledgedButDroppedWhileTheModulesTopicIsDelivered()
    {
        // The topic this module sent before: property bag, no closing '/'. edgeHub acknowledges it and throws it away.
        const string oldTopic = $"devices/{Device}/modules/{Module}/messages/events/$.on=events&$.ct=application%2Fjson&type=violation.start";
        using var raw = await RawModuleClientAsync();
        var ack = await raw.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(oldTopic).WithPayload("{\"id\":\"lost\"}")
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
        Assert.True(ack.IsSuccess, "edgeHub sends the PUBACK even for a message it drops: the outbox would count it delivered");
        Assert.True(raw.IsConnected, "a dropped message does not cost the connection");
        await raw.DisconnectAsync();

        await using var client = NewClient();
        await client.StartAsync();
        await client.WaitUntilConnectedAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));
        await client.SendTelemetryAsync(new TelemetryMessage("events", "{\"id\":\"kept\"}"u8.ToArray())
        {
            Properties = new Dictionary<string, string> { ["type"] = "violation.start" },
        }, CancellationToken.None);

        var dropped = Assert.Single(_hub.Dropped);
        Assert.Equal(oldTopic, dropped.Topic);
        var delivered = Assert.Single(_hub.Telemetry);
        Assert.Equal("{\"id\":\"kept\"}", delivered.Text);
        Assert.Equal("events", delivered.Properties["$.on"]);
        Assert.Empty(_hub.Violations);
    }

    [Theory]
    [InlineData($"devices/{Device}/modules/{Module}/messages/events", "no closing slash at all")]
    [InlineData($"devices/{Device}/modules/{Module}/messages/events/a=1/b=2/", "a '/' inside the property bag")]
    [InlineData($"devices/{Device}/modules/{Module}/messages/events/a=1&/", "a bag ending in '&'")]
    [InlineData($"devices/{Device}/modules/{Module}/messages/events/a=b=c/", "'=' inside a value")]
    [InlineData($"devices/{Device}/modules/{Module}/messages/eventsx/", "a different endpoint")]
    public async Task Telemetry_TopicEdgeHubCannotParse_Dropped(string topic, string why)
    {
        using var raw = await RawModuleClientAsync();

        var ack = await raw.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload("{}")
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());

        Assert.True(ack.IsSuccess, why);
        Assert.Equal(topic, Assert.Single(_hub.Dropped).Topic);
        Assert.Empty(_hub.Telemetry);
    }

    [Fact]
    public async Task Connect_AudienceHostLowerCased_RefusedAsEdgeHubComparesItOrdinally()
    {
        var raw = new MqttClientFactory().CreateMqttClient();
        var token = SasTokenBuilder.Create($"{Hub.ToLowerInvariant()}/devices/{Device}/modules/{Module}", Convert.ToBase64String(ModuleKey),
            DateTimeOffset.UtcNow.AddHours(1));
        var options = new MqttClientOptionsBuilder().WithTcpServer("localhost", _hub.Port).WithProtocolVersion(MqttProtocolVersion.V311)
            .WithClientId($"{Device}/{Module}").WithCredentials($"{Hub}/{Device}/{Module}/?api-version=2021-04-12", token.Value)
            .WithTlsOptions(t => t.UseTls().WithTargetHost("localhost").WithCertificateValidationHandler(a =>
                IoTHubConnection.ValidateServerCertificate(a.Certificate, a.Chain, a.SslPolicyErrors, TestCertificates.Shared.TrustBundle)))
            .Build();

        var result = await raw.ConnectAsync(options);

        Assert.Equal(MqttClientConnectResultCode.BadUserNameOrPassword, result.ResultCode);
        Assert.Contains("does not match IoTHub hostname", Assert.Single(_hub.RejectedConnections));
        raw.Dispose();
    }

    [Fact]
    public async Task Connect_MixedCaseHubName_TokenAudienceKeepsCaseAndIsAccepted()
    {
        await using var client = NewClient();

        await client.StartAsync();
        await client.WaitUntilConnectedAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Empty(_hub.RejectedConnections);
        Assert.Equal($"{Hub}/devices/{Device}/modules/{Module}", client.Identity.ResourceUri);
    }

    [Fact]
    public async Task FullTwin_ThrottledAndServerErrorsFirst_RetriedOnTheSameConnection()
    {
        _hub.FailTwinRequests(429, 1);
        await using var client = NewClient();
        var updates = IoTHubMqttClientTests.RecordDesired(client);

        await client.StartAsync();
        await TestPorts.WaitUntilAsync(() => { lock (updates) return updates.Count == 1; }, "the full twin after a 429");

        Assert.Equal(1, client.ConnectCount);
        Assert.Single(_hub.Connections);
        Assert.Equal(0.7, updates[0].Desired.GetProperty("detection").GetProperty("minFaceScore").GetDouble());

        _hub.FailTwinRequests(503, 2);
        var version = await client.UpdateReportedPropertiesAsync(new JsonObject { ["state"] = "running" }, CancellationToken.None)
            .WaitAsync(TimeSpan.FromSeconds(30));

        Assert.True(version > 0);
        Assert.Equal("running", _hub.ReportedSnapshot["state"]!.GetValue<string>());
        Assert.Equal(1, client.ConnectCount);
        Assert.True(client.IsConnected);
        Assert.Empty(_hub.Violations);
    }

    [Theory]
    [InlineData(500, true, 6)] // the first try and TwinRetry's 5 retries
    [InlineData(400, false, 1)] // a bad request stays bad: not retried
    public async Task ReportedPatch_HubKeepsRefusing_GivesUpWithStatusButKeepsTheConnection(int status, bool transient, int attempts)
    {
        await using var client = NewClient();
        await client.StartAsync();
        await client.WaitUntilConnectedAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));
        await TestPorts.WaitUntilAsync(() => _hub.TwinGetCount == 1, "the full twin read");

        _hub.FailTwinRequests(status, 100);
        var error = await Assert.ThrowsAsync<TwinOperationException>(() =>
            client.UpdateReportedPropertiesAsync(new JsonObject { ["state"] = "x" }, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30)));
        var answered = _hub.FailedTwinAnswers;
        _hub.FailTwinRequests(status, 0);

        Assert.Equal(status, error.Status);
        Assert.Equal(transient, error.IsTransient);
        Assert.Equal(attempts, answered);
        Assert.Equal(1, client.ConnectCount);
        Assert.True(client.IsConnected);
    }

    [Fact]
    public async Task DesiredPatch_ArrivesBeforeTheFullTwin_HeldThenAppliedOnTopOfIt()
    {
        _hub.TwinGetHold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var client = NewClient();
        var updates = IoTHubMqttClientTests.RecordDesired(client);
        await client.StartAsync();
        await TestPorts.WaitUntilAsync(() => _hub.TwinGetCount == 1, "the twin GET to be sent");

        // A patch overtakes the (slow) full twin. Merged into nothing it would look like the whole configuration.
        var version = _hub.UpdateDesired(new JsonObject { ["alarm"] = new JsonObject { ["enabled"] = false } });
        await Task.Delay(300);
        lock (updates) Assert.Empty(updates);
        _hub.TwinGetHold.SetResult();
        await TestPorts.WaitUntilAsync(() => { lock (updates) return updates.Count >= 1; }, "the full twin");

        // The full twin was read after the patch, so it already holds it; nothing may drop the other keys.
        var last = updates.Last();
        Assert.True(updates[0].FromFullTwin);
        Assert.Equal(version, last.Version);
        Assert.Equal(0.7, last.Desired.GetProperty("detection").GetProperty("minFaceScore").GetDouble());
        Assert.False(last.Desired.GetProperty("alarm").GetProperty("enabled").GetBoolean());
        Assert.All(updates, u => Assert.True(u.Desired.TryGetProperty("detection", out _), "no update without the full document"));
    }

    [Fact]
    public async Task WorkloadCredentials_NoGatewayHostName_TrustTheSystemStoreAndNeverAskForTheBundle()
    {
        await using var daemon = new FakeWorkloadApi("edgemask", "gen-1", ModuleKey, TestCertificates.Shared.CaPem);
        using var credentials = WorkloadApiCredentials.FromEnvironment(Environment(daemon, gateway: null).GetValueOrDefault);

        var trust = await credentials.GetTrustBundleAsync(CancellationToken.None);

        Assert.Null(trust);
        Assert.Equal(0, daemon.TrustBundleCount);
        Assert.Equal(Hub, credentials.Identity.ConnectHostName);
    }

    [Fact]
    public async Task WorkloadCredentials_WithGatewayHostName_TrustTheEdgeBundle()
    {
        await using var daemon = new FakeWorkloadApi("edgemask", "gen-1", ModuleKey, TestCertificates.Shared.CaPem);
        using var credentials = WorkloadApiCredentials.FromEnvironment(Environment(daemon, gateway: "edge-box").GetValueOrDefault);

        var trust = await credentials.GetTrustBundleAsync(CancellationToken.None);

        Assert.Equal(TestCertificates.Shared.CaCertificate.Thumbprint, Assert.Single(trust!).Thumbprint);
        Assert.Equal("edge-box", credentials.Identity.ConnectHostName);
    }

    private static Dictionary<string, string?> Environment(FakeWorkloadApi daemon, string? gateway)
    {
        var env = new Dictionary<string, string?>
        {
            ["IOTEDGE_WORKLOADURI"] = daemon.Uri.ToString(),
            ["IOTEDGE_IOTHUBHOSTNAME"] = Hub,
            ["IOTEDGE_DEVICEID"] = Device,
            ["IOTEDGE_MODULEID"] = Module,
            ["IOTEDGE_MODULEGENERATIONID"] = "gen-1",
            ["IOTEDGE_APIVERSION"] = "2019-01-30",
            ["IOTEDGE_AUTHSCHEME"] = "sasToken",
        };
        if (gateway is not null)
        {
            env["IOTEDGE_GATEWAYHOSTNAME"] = gateway;
        }

        return env;
    }

    [Fact]
    public void ParseBag_AsEdgeHubsSerializer_EmptyValueIsNullAndMalformedBagsThrow()
    {
        var bag = FakeIoTHub.ParseBag("%24.on=events&flag&empty=&camera=door%201%2Fa");

        Assert.Equal("events", bag["$.on"]);
        Assert.Null(bag["flag"]);
        Assert.Null(bag["empty"]);
        Assert.Equal("door 1/a", bag["camera"]);
        Assert.Throws<FormatException>(() => FakeIoTHub.ParseBag("a=1&"));
        Assert.Throws<FormatException>(() => FakeIoTHub.ParseBag("=1"));
        Assert.Throws<FormatException>(() => FakeIoTHub.ParseBag("a=b=c"));
    }
}
