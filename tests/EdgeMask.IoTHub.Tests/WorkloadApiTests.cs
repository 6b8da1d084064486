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

    [Theory]
    [InlineData("POST /modules/edgemask/genid/gen-1/sign HTTP/1.1", "", 400, "api-version not specified")]
    [InlineData("POST /modules/edgemask/genid/gen-1/sign?api-version=2099-01-01 HTTP/1.1", "{\"data\":\"eA==\"}", 400, "invalid api-version")]
    [InlineData("GET /modules/edgemask/genid/gen-1/sign?api-version=2019-01-30 HTTP/1.1", "", 400, "method not allowed")]
    [InlineData("POST /modules/other/genid/gen-1/sign?api-version=2019-01-30 HTTP/1.1", "{\"data\":\"eA==\"}", 403, "not authorized")]
    [InlineData("POST /modules/edgemask/genid/gen-1/sign?api-version=2019-01-30 HTTP/1.1", "{\"keyId\":\"primary\"}", 422, "data")]
    [InlineData("POST /modules/edgemask/genid/gen-1/sign?api-version=2019-01-30 HTTP/1.1", "{\"data\":\"not base64!\"}", 400, "base64")]
    [InlineData("POST /modules/edgemask/genid/gen-1/sign?api-version=2019-01-30 HTTP/1.1", "{not json", 422, "")]
    [InlineData("GET /trust-bundle/?api-version=2019-01-30 HTTP/1.1", "", 404, "not found")]
    public async Task Daemon_RequestEdgeletRefuses_AnsweredWithItsStatusAndMessage(string requestLine, string body, int status, string message)
    {
        // The double must refuse what aziot-edged refuses, or the client tests above could pass against a lax daemon.
        await using var daemon = new FakeWorkloadApi("edgemask", "gen-1", ModuleKey, TestCertificates.Shared.CaPem);

        var (answered, text) = await RawRequestAsync(daemon.SocketPath, requestLine, body);

        Assert.Equal(status, answered);
        Assert.Contains(message, text, StringComparison.Ordinal);
        Assert.Equal(0, daemon.SignCount);
    }

    private static async Task<(int Status, string Body)> RawRequestAsync(string socketPath, string requestLine, string body)
    {
        using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream,
            System.Net.Sockets.ProtocolType.Unspecified);
        await socket.ConnectAsync(new System.Net.Sockets.UnixDomainSocketEndPoint(socketPath));
        await using var stream = new System.Net.Sockets.NetworkStream(socket, ownsSocket: false);
        var bytes = Encoding.UTF8.GetBytes(body);
        var head = $"{requestLine}\r\nHost: workload.sock\r\nContent-Type: application/json\r\nContent-Length: {bytes.Length}\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head));
        await stream.WriteAsync(bytes);
        using var reader = new StreamReader(stream);
        var response = await reader.ReadToEndAsync();
        var status = int.Parse(response.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        return (status, response[(response.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4)..]);
    }
}
