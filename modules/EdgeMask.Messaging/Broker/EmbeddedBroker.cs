using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using MQTTnet.Server;

namespace EdgeMask.Messaging.Broker;

/// <summary>The in-process broker used when no broker is configured (configuration section <c>EmbeddedBroker</c>).</summary>
public sealed record EmbeddedBrokerOptions
{
    /// <summary>Address to listen on. Default 127.0.0.1 (loopback only: the embedded broker has no authentication).</summary>
    public string Address { get; init; } = "127.0.0.1";

    /// <summary>TCP port. Default 1883.</summary>
    public int Port { get; init; } = 1883;

    public void Validate(string section = "EmbeddedBroker")
    {
        if (!IPAddress.TryParse(Address, out _)) throw new MessagingOptionsException($"{section}:Address", $"'{Address}' is not an IP address.");
        if (Port is < 1 or > 65535) throw new MessagingOptionsException($"{section}:Port", $"must be 1..65535 (was {Port}).");
    }
}

/// <summary>
/// An MQTTnet.Server broker in this process, so <c>edgemask run</c> works with no broker installed: anonymous, plain TCP,
/// retained messages and sessions in memory. Start with <see cref="StartAsync"/>; <see cref="DisposeAsync"/> stops it.
/// </summary>
public sealed class EmbeddedBroker : IAsyncDisposable
{
    private readonly MqttServer _server;
    private readonly ILogger _logger;
    private int _disposed;

    private EmbeddedBroker(MqttServer server, EmbeddedBrokerOptions options, ILogger logger)
    {
        _server = server;
        _logger = logger;
        Options = options;
    }

    public EmbeddedBrokerOptions Options { get; }

    /// <summary><c>host:port</c> clients connect to.</summary>
    public string Endpoint => $"{Options.Address}:{Options.Port}";

    public bool IsStarted => _server.IsStarted;

    /// <summary>The MQTTnet server, for inspection (clients, retained messages) and tests.</summary>
    public MqttServer Server => _server;

    /// <summary>Starts listening. Throws <see cref="BrokerStartException"/> when the port is taken or the address is not local.</summary>
    public static async Task<EmbeddedBroker> StartAsync(EmbeddedBrokerOptions options, ILogger<EmbeddedBroker>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var log = (ILogger?)logger ?? NullLogger.Instance;
        var factory = new MqttServerFactory();
        var serverOptions = factory.CreateServerOptionsBuilder()
            .WithDefaultEndpoint()
            .WithDefaultEndpointBoundIPAddress(IPAddress.Parse(options.Address))
            .WithDefaultEndpointPort(options.Port)
            .Build();
        var server = factory.CreateMqttServer(serverOptions);
        try
        {
            await server.StartAsync().ConfigureAwait(false);
        }
        catch (SocketException ex)
        {
            server.Dispose();
            var hint = ex.SocketErrorCode == SocketError.AddressAlreadyInUse
                ? $"port {options.Port} on {options.Address} is already in use (another MQTT broker, e.g. mosquitto, or another edgemask?). " +
                  "Publish to that broker by setting Mqtt:Host/Mqtt:Port, or move the embedded one with EmbeddedBroker:Port."
                : $"cannot listen on {options.Address}:{options.Port}: {ex.Message} ({ex.SocketErrorCode}).";
            throw new BrokerStartException("Embedded MQTT broker: " + hint, ex);
        }
        log.LogInformation("Embedded MQTT broker listening on {Address}:{Port}", options.Address, options.Port);
        return new EmbeddedBroker(server, options, log);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        if (_server.IsStarted)
        {
            await _server.StopAsync(new MqttServerStopOptions()).ConfigureAwait(false);
            _logger.LogInformation("Embedded MQTT broker on {Address}:{Port} stopped", Options.Address, Options.Port);
        }
        _server.Dispose();
    }
}
