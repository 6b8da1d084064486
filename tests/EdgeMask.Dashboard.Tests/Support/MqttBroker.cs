using System.Net;
using System.Net.Sockets;
using MQTTnet;
using MQTTnet.Server;

namespace EdgeMask.Dashboard.Tests.Support;

/// <summary>A real MQTT broker (MQTTnet.Server) in this process on a free loopback port, and a publisher client.</summary>
internal sealed class MqttBroker : IAsyncDisposable
{
    private MqttServer _server;
    private IMqttClient? _publisher;

    private MqttBroker(int port, MqttServer server)
    {
        Port = port;
        _server = server;
    }

    public int Port { get; }

    public static async Task<MqttBroker> StartAsync()
    {
        var port = FreePort();
        var server = await StartServerAsync(port);
        return new MqttBroker(port, server);
    }

    /// <summary>Stops the broker and starts a new one on the same port: connected clients see a disconnect.</summary>
    public async Task RestartAsync()
    {
        if (_publisher is not null)
        {
            _publisher.Dispose();
            _publisher = null;
        }
        await _server.StopAsync();
        _server.Dispose();
        _server = await StartServerAsync(Port);
    }

    public async Task PublishAsync(string topic, byte[] payload, IReadOnlyDictionary<string, string>? userProperties = null, bool retain = false)
    {
        if (_publisher is null || !_publisher.IsConnected)
        {
            _publisher?.Dispose();
            _publisher = new MqttClientFactory().CreateMqttClient();
            await _publisher.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", Port)
                .WithClientId("test-publisher-" + Guid.NewGuid().ToString("N")).Build());
        }
        var message = new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload)
            .WithQualityOfServiceLevel(MQTTnet.Protocol.MqttQualityOfServiceLevel.AtLeastOnce).WithRetainFlag(retain);
        foreach (var (name, value) in userProperties ?? new Dictionary<string, string>())
        {
            message.WithUserProperty(name, System.Text.Encoding.UTF8.GetBytes(value).AsMemory());
        }
        await _publisher.PublishAsync(message.Build());
    }

    public async ValueTask DisposeAsync()
    {
        _publisher?.Dispose();
        await _server.StopAsync();
        _server.Dispose();
    }

    private static async Task<MqttServer> StartServerAsync(int port)
    {
        var options = new MqttServerOptionsBuilder().WithDefaultEndpoint().WithDefaultEndpointBoundIPAddress(IPAddress.Loopback)
            .WithDefaultEndpointPort(port).Build();
        var server = new MqttServerFactory().CreateMqttServer(options);
        await server.StartAsync();
        return server;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
