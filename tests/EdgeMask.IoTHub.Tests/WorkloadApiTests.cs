using System.Security.Cryptography;
using System.Text;
using EdgeMask.IoTHub.Edge;
using EdgeMask.IoTHub.Mqtt;
using EdgeMask.IoTHub.Tests.Infrastructure;

namespace EdgeMask.IoTHub.Tests;

/// <summary>The workload API client against a unix-socket HTTP server playing the IoT Edge security daemon.</summary>
public sealed class WorkloadApiTests
{
    private static readonly byte[] ModuleKey = RandomNumberGenerator.GetBytes(32);

    [Fact]
    public async Task SignAsync_UnixSocket_ReturnsHmacOfDataWithModuleKey()
    {
        await using var daemon = new FakeWorkloadApi("edgemask", "gen-1", ModuleKey, TestCertificates.Shared.CaPem);
        using var client = new WorkloadApiClient(daemon.Uri, "2019-01-30");
        var data = Encoding.UTF8.GetBytes("hub%2Fdevices%2Fd\n1900000000");

        var digest = await client.SignAsync("edgemask", "gen-1", data, CancellationToken.None);

        Assert.Equal(Convert.ToBase64String(HMACSHA256.HashData(ModuleKey, data)), digest);
        Assert.Contains("POST /modules/edgemask/genid/gen-1/sign?api-version=2019-01-30 HTTP/1.1", daemon.RequestLines);
    }

    [Fact]
    public async Task GetTrustBundleAsync_PemBundle_ReturnsTheCaCertificate()
    {
        await using var daemon = new FakeWorkloadApi("edgemask", "gen-1", ModuleKey, TestCertificates.Shared.CaPem);
        using var client = new WorkloadApiClient(daemon.Uri);

        var bundle = await client.GetTrustBundleAsync(CancellationToken.None);

        Assert.Equal(TestCertificates.Shared.CaCertificate.Thumbprint, Assert.Single(bundle).Thumbprint);
        Assert.Contains(daemon.RequestLines, l => l.StartsWith("GET /trust-bundle?api-version=2019-01-30 ", StringComparison.Ordinal));
    }

    [Fact]
    public void ParsePemBundle_Base64EncodedPem_AlsoAccepted()
    {
        var base64 = Convert.ToBase64String(Encoding.UTF8.GetBytes(TestCertificates.Shared.CaPem + "\n" + TestCertificates.Shared.CaPem));

        var bundle = WorkloadApiClient.ParsePemBundle(base64);

        Assert.Equal(2, bundle.Count);
    }

    [Fact]
    public void ParsePemBundle_NoCertificate_Throws()
    {
        Assert.Throws<WorkloadApiException>(() => WorkloadApiClient.ParsePemBundle("-----BEGIN NOTHING-----\n-----END NOTHING-----"));
    }

    [Fact]
    public async Task SignAsync_WrongGeneration_ThrowsWithStatusAndDaemonMessage()
    {
        await using var daemon = new FakeWorkloadApi("edgemask", "gen-1", ModuleKey, TestCertificates.Shared.CaPem);
        using var client = new WorkloadApiClient(daemon.Uri);

        var e = await Assert.ThrowsAsync<WorkloadApiException>(() => client.SignAsync("edgemask", "gen-OLD", "x"u8.ToArray(), CancellationToken.None));

        Assert.Equal(404, e.StatusCode);
        Assert.Contains("Module not found", e.Message);
    }

    [Fact]
    public async Task SignAsync_NoDaemon_ThrowsUnreachable()
    {
        using var client = new WorkloadApiClient(new Uri("unix:///tmp/emw-missing-" + Guid.NewGuid().ToString("N")[..8] + ".sock"));

        var e = await Assert.ThrowsAsync<WorkloadApiException>(() => client.SignAsync("m", "g", "x"u8.ToArray(), CancellationToken.None));

        Assert.Null(e.StatusCode);
        Assert.Contains("could not be reached", e.Message);
    }

    [Fact]
    public async Task FromEdgeEnvironment_WorkloadSignsAndServesTrustBundle_ModuleConnectsToEdgeHub()
    {
        const string hub = "contoso-hub.azure-devices.net";
        await using var daemon = new FakeWorkloadApi("edgemask", "637000000000000001", ModuleKey, TestCertificates.Shared.CaPem);
        await using var edgeHub = await FakeIoTHub.StartAsync(hub, "jetson", "edgemask", ModuleKey, TestCertificates.Shared.ServerCertificate);
        var env = new Dictionary<string, string?>
        {
            ["IOTEDGE_WORKLOADURI"] = daemon.Uri.ToString(),
            ["IOTEDGE_IOTHUBHOSTNAME"] = hub,
            ["IOTEDGE_GATEWAYHOSTNAME"] = "localhost",
            ["IOTEDGE_DEVICEID"] = "jetson",
            ["IOTEDGE_MODULEID"] = "edgemask",
            ["IOTEDGE_MODULEGENERATIONID"] = "637000000000000001",
            ["IOTEDGE_APIVERSION"] = "2019-01-30",
            ["IOTEDGE_AUTHSCHEME"] = "sasToken",
        };

        await using var client = IoTHubMqttClient.FromEdgeEnvironment(new IoTHubClientOptions { Port = edgeHub.Port }, getVariable: env.GetValueOrDefault);
        await client.StartAsync();
        await client.WaitUntilConnectedAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));
        await client.SendTelemetryAsync(new TelemetryMessage("events", "{\"type\":\"violation.start\"}"u8.ToArray()), CancellationToken.None);

        Assert.Equal("jetson/edgemask", Assert.Single(edgeHub.Connections).ClientId);
        Assert.Equal(1, daemon.SignCount);
        Assert.Equal(1, daemon.TrustBundleCount);
        Assert.Equal("events", Assert.Single(edgeHub.Telemetry).Properties["$.on"]);
        Assert.Empty(edgeHub.RejectedConnections);
        Assert.Empty(edgeHub.Violations);
    }
}
