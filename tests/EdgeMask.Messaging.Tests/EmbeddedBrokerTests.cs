using System.Net;
using System.Net.Sockets;
using EdgeMask.Messaging.Broker;
using EdgeMask.Messaging.Tests.Support;

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
}
