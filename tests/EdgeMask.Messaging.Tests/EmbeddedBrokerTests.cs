using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using EdgeMask.Messaging.Broker;
using EdgeMask.Messaging.Tests.Support;
using MQTTnet;
using MQTTnet.Formatter;

namespace EdgeMask.Messaging.Tests;

public sealed class EmbeddedBrokerTests
{
    [Fact]
    public async Task StartAsync_PortInUse_ThrowsBrokerStartExceptionNamingPortAndRemedy()
    {
        using var squatter = new TcpListener(IPAddress.Loopback, 0);
        squatter.Start();
        var port = ((IPEndPoint)squatter.LocalEndpoint).Port;

        var ex = await Assert.ThrowsAsync<BrokerStartException>(() => EmbeddedBroker.StartAsync(new EmbeddedBrokerOptions { Port = port }));
        Assert.Contains($"port {port}", ex.Message, StringComparison.Ordinal);
        Assert.Contains("already in use", ex.Message, StringComparison.Ordinal);
        Assert.Contains("Mqtt:Host", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StartAsync_FreePort_AcceptsClientsAndDisposeReleasesPort()
    {
        var port = TestPaths.FreePort();
        var broker = await EmbeddedBroker.StartAsync(new EmbeddedBrokerOptions { Port = port });
        Assert.True(broker.IsStarted);
        await using (var c = await MqttCollector.StartAsync(port, "x/#"))
        {
            Assert.Single(await broker.Server.GetClientsAsync());
        }
        await broker.DisposeAsync();
        await broker.DisposeAsync(); // twice is harmless
        using var l = new TcpListener(IPAddress.Loopback, port);
        l.Start();
    }

    [Theory]
    [InlineData("Address", "localhost")]
    [InlineData("Port", "70000")]
    public void Validate_BadValue_ThrowsNamingTheKey(string key, string value)
    {
        var o = key == "Address" ? new EmbeddedBrokerOptions { Address = value } : new EmbeddedBrokerOptions { Port = int.Parse(value, System.Globalization.CultureInfo.InvariantCulture) };
        Assert.Equal($"EmbeddedBroker:{key}", Assert.Throws<MessagingOptionsException>(() => o.Validate()).Key);
    }

    /// <summary>
    /// README's command, verbatim but for <c>-p</c> (a free port instead of 1883): Debian's mosquitto clients send an empty
    /// client id unless given <c>-i</c>, so this only works when the broker assigns one.
    /// </summary>
    [Fact]
    public async Task MosquittoClients_NoClientId_SubscriberReceivesWhatPublisherSent()
    {
        var port = TestPaths.FreePort();
        await using var broker = await EmbeddedBroker.StartAsync(new EmbeddedBrokerOptions { Port = port });
        var subscribed = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        broker.Server.ClientSubscribedTopicAsync += e =>
        {
            subscribed.TrySetResult(e.ClientId);
            return Task.CompletedTask;
        };

        using var sub = StartClient("mosquitto_sub", "-h", "127.0.0.1", "-p", port.ToString(), "-t", "edgemask/#", "-v");
        try
        {
            var subscriberId = await subscribed.Task.WaitAsync(TestPaths.Patience);
            Assert.StartsWith(EmbeddedBroker.AssignedClientIdPrefix, subscriberId, StringComparison.Ordinal);

            using (var pub = StartClient("mosquitto_pub", "-h", "127.0.0.1", "-p", port.ToString(), "-q", "1",
                       "-t", "edgemask/station/platform/events", "-m", "{\"type\":\"violation.start\"}"))
            {
                await pub.WaitForExitAsync().WaitAsync(TestPaths.Patience);
                Assert.True(pub.ExitCode == 0, "mosquitto_pub failed: " + await pub.StandardError.ReadToEndAsync());
            }

            var line = await sub.StandardOutput.ReadLineAsync().WaitAsync(TestPaths.Patience);
            Assert.Equal("edgemask/station/platform/events {\"type\":\"violation.start\"}", line);
            Assert.False(sub.HasExited, "mosquitto_sub should still be subscribed");
        }
        finally
        {
            if (!sub.HasExited) sub.Kill();
        }
    }

    private static Process StartClient(string program, params string[] arguments)
    {
        var psi = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in arguments) psi.ArgumentList.Add(a);
        return Process.Start(psi) ?? throw new InvalidOperationException($"{program} did not start");
    }

    [Fact]
    public async Task Connect_Mqtt5EmptyClientId_AssignedIdReturnedInConnAck()
    {
        var port = TestPaths.FreePort();
        await using var broker = await EmbeddedBroker.StartAsync(new EmbeddedBrokerOptions { Port = port });
        using var client = new MqttClientFactory().CreateMqttClient();

        var result = await client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port)
            .WithProtocolVersion(MqttProtocolVersion.V500).WithClientId("").WithCleanStart(true).Build());

        Assert.Equal(MqttClientConnectResultCode.Success, result.ResultCode);
        Assert.StartsWith(EmbeddedBroker.AssignedClientIdPrefix, result.AssignedClientIdentifier, StringComparison.Ordinal);
        Assert.Equal(result.AssignedClientIdentifier, Assert.Single(await broker.Server.GetClientsAsync()).Id);
    }

    [Fact]
    public async Task Connect_Mqtt311TwoClientsWithoutId_EachGetsItsOwnId()
    {
        var port = TestPaths.FreePort();
        await using var broker = await EmbeddedBroker.StartAsync(new EmbeddedBrokerOptions { Port = port });
        using var first = new MqttClientFactory().CreateMqttClient();
        using var second = new MqttClientFactory().CreateMqttClient();
        var options = new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port)
            .WithProtocolVersion(MqttProtocolVersion.V311).WithClientId("").WithCleanSession(true).Build();

        await first.ConnectAsync(options);
        await second.ConnectAsync(options);

        var ids = (await broker.Server.GetClientsAsync()).Select(c => c.Id).ToArray();
        Assert.Equal(2, ids.Distinct().Count());
        Assert.All(ids, id => Assert.StartsWith(EmbeddedBroker.AssignedClientIdPrefix, id, StringComparison.Ordinal));
        Assert.True(first.IsConnected && second.IsConnected, "assigning the second id must not take over the first session");
    }

    /// <summary>
    /// Raw bytes on the wire, because MQTTnet's client (like mosquitto_sub with <c>-c</c>) refuses to send this CONNECT.
    /// MQTT 3.1.1 [MQTT-3.1.3-8] asks for CONNACK 0x02 and then a close; MQTTnet's 3.1.1 decoder rejects the packet before
    /// any handler runs and closes the connection without a CONNACK. Either way the client gets no session.
    /// </summary>
    [Fact]
    public async Task Connect_Mqtt311EmptyClientIdWithPersistentSession_ClosedWithoutSession()
    {
        var port = TestPaths.FreePort();
        await using var broker = await EmbeddedBroker.StartAsync(new EmbeddedBrokerOptions { Port = port });
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, port);
        var stream = tcp.GetStream();

        // CONNECT, remaining length 12: protocol name "MQTT", level 4 (3.1.1), flags 0x00 (clean session 0, no user/will),
        // keep-alive 60 s, client id of zero length.
        byte[] connect = [0x10, 12, 0x00, 0x04, (byte)'M', (byte)'Q', (byte)'T', (byte)'T', 0x04, 0x00, 0x00, 0x3C, 0x00, 0x00];
        await stream.WriteAsync(connect);
        var answer = new byte[4];
        int read = await stream.ReadAtLeastAsync(answer, answer.Length, throwOnEndOfStream: false).AsTask().WaitAsync(TestPaths.Patience);

        // Either CONNACK "identifier rejected" (what the spec asks) or a bare close (what MQTTnet does); never "accepted".
        Assert.True(read == 0 || answer.SequenceEqual(new byte[] { 0x20, 0x02, 0x00, 0x02 }), Convert.ToHexString(answer, 0, read));
        Assert.Empty(await broker.Server.GetClientsAsync());
    }

    [Fact]
    public async Task Connect_Mqtt311ClientWithItsOwnId_KeepsIt()
    {
        Assert.Equal(0, await ConnectRawAsync("probe-7"));
    }

    /// <summary>Sends an MQTT 3.1.1 CONNECT with a clean session and <paramref name="clientId"/>; returns the CONNACK code.</summary>
    private static async Task<int> ConnectRawAsync(string clientId)
    {
        var port = TestPaths.FreePort();
        await using var broker = await EmbeddedBroker.StartAsync(new EmbeddedBrokerOptions { Port = port });
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, port);
        var stream = tcp.GetStream();
        var id = Encoding.UTF8.GetBytes(clientId);
        byte[] head = [0x10, (byte)(12 + id.Length), 0x00, 0x04, (byte)'M', (byte)'Q', (byte)'T', (byte)'T', 0x04, 0x02, 0x00, 0x3C, 0x00, (byte)id.Length];
        await stream.WriteAsync(head.Concat(id).ToArray());
        var connAck = new byte[4];
        await stream.ReadExactlyAsync(connAck).AsTask().WaitAsync(TestPaths.Patience);
        Assert.Equal(clientId, Assert.Single(await broker.Server.GetClientsAsync()).Id);
        return connAck[3];
    }
}
