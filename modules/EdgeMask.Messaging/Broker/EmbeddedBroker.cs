using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using MQTTnet.Formatter;
using MQTTnet.Packets;
using MQTTnet.Protocol;
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
/// Like mosquitto, it welcomes clients that send no client id (Debian's <c>mosquitto_sub</c>/<c>mosquitto_pub</c> without
/// <c>-i</c>, many libraries' defaults): it assigns one, as MQTT 3.1.1 §3.1.3.1 and MQTT 5 §3.1.3.1 allow.
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
        server.ValidatingConnectionAsync += args => AssignClientIdentifier(args, log);
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

    /// <summary>The prefix of the ids this broker assigns (the rest is a random UUID, so ids never collide).</summary>
    public const string AssignedClientIdPrefix = "edgemask-auto-";

    /// <summary>
    /// A zero-length client id: MQTT 5 — assign one and return it in CONNACK (Assigned Client Identifier, §3.1.3.1);
    /// MQTT 3.1.1 — assign one only with a clean session ([MQTT-3.1.3-6]) and answer 0x02 "identifier rejected" when the
    /// client asks for a persistent session it could never resume ([MQTT-3.1.3-8]); MQTT 3.1 — refuse (ids are required).
    /// </summary>
    internal static Task AssignClientIdentifier(ValidatingConnectionEventArgs args, ILogger logger)
    {
        if (!string.IsNullOrEmpty(args.ClientId)) return Task.CompletedTask;
        string assigned = AssignedClientIdPrefix + Guid.NewGuid().ToString("N");
        if (args.ProtocolVersion == MqttProtocolVersion.V500)
        {
            // MQTTnet's own path for MQTT 5: it adopts AssignedClientIdentifier and sends it back in CONNACK.
            args.AssignedClientIdentifier = assigned;
        }
        else if (args.ProtocolVersion == MqttProtocolVersion.V311 && args.CleanSession == true)
        {
            // MQTTnet assigns ids for MQTT 5 only and refuses an empty 3.1.1 id after this handler returns; the packet is
            // MQTTnet's public MqttConnectPacket, held in a private field of the event: give it the id before that check.
            try
            {
                ConnectPacket(args).ClientId = assigned;
            }
            catch (MissingFieldException e)
            {
                // A newer MQTTnet renamed the field: the client is refused as before (tests catch this on upgrade).
                logger.LogError(e, "Cannot assign a client id to an MQTT 3.1.1 client with this MQTTnet version; client refused");
                args.ReasonCode = MqttConnectReasonCode.ClientIdentifierNotValid;
                return Task.CompletedTask;
            }
        }
        else
        {
            // A persistent session under an id the client does not know could never be resumed; MQTT 3.1 has no empty ids.
            logger.LogWarning("Client at {Endpoint} sent no client id with {Protocol} and clean session {CleanSession}; refused ([MQTT-3.1.3-8])",
                args.RemoteEndPoint, args.ProtocolVersion, args.CleanSession);
            args.ReasonCode = MqttConnectReasonCode.ClientIdentifierNotValid;
            return Task.CompletedTask;
        }

        logger.LogInformation("Client at {Endpoint} connected without a client id; assigned {ClientId}", args.RemoteEndPoint, assigned);
        return Task.CompletedTask;
    }

    [UnsafeAccessor(UnsafeAccessorKind.Field, Name = "_connectPacket")]
    private static extern ref MqttConnectPacket ConnectPacket(ValidatingConnectionEventArgs args);

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
