using System.Text.Json;
using EdgeMask.Messaging;
using EdgeMask.Messaging.Outbox;

namespace EdgeMask.IoTHub.Mqtt;

/// <summary>
/// Drains the shared SQLite outbox into IoT Hub / edgeHub, so events and stats are stored and forwarded exactly as for
/// MQTT. Kinds map to module outputs: Event → <c>events</c>, Stats → <c>stats</c>, Status → <c>status</c>; snapshots
/// (JPEG, possibly over IoT Hub's 256 KB limit) are refused for good. Configure the destination as
/// <c>new OutboxDestination("iothub", OutboxKinds.Event | OutboxKinds.Stats)</c> to keep status messages off the hub.
/// Does not own the client.
/// </summary>
public sealed class IoTHubOutboxTransport : IOutboxTransport
{
    public const string DestinationName = "iothub";

    private readonly IoTHubMqttClient _client;

    public IoTHubOutboxTransport(IoTHubMqttClient client, string destination = DestinationName)
    {
        _client = client ?? throw new ArgumentNullException(nameof(client));
        ArgumentException.ThrowIfNullOrWhiteSpace(destination);
        Destination = destination;
    }

    public string Destination { get; }

    public bool IsConnected => _client.IsConnected;

    public async Task PublishAsync(OutboxMessage message, CancellationToken cancellationToken)
    {
        var telemetry = ToTelemetry(message, Destination);
        try
        {
            await _client.SendTelemetryAsync(telemetry, cancellationToken).ConfigureAwait(false);
        }
        catch (IoTHubConnectionException e)
        {
            throw new OutboxTransportUnavailableException(Destination, e.Message, e);
        }
        catch (TelemetryRejectedException e)
        {
            throw new OutboxMessageRejectedException(Destination, e.Message, e);
        }
    }

    /// <summary>The telemetry message for one outbox row; application properties are read from the JSON document.</summary>
    internal static TelemetryMessage ToTelemetry(OutboxMessage message, string destination)
    {
        var output = message.Kind switch
        {
            OutboxKinds.Event => "events",
            OutboxKinds.Stats => "stats",
            OutboxKinds.Status => "status",
            _ => throw new OutboxMessageRejectedException(destination, $"{message.Kind} messages are not sent to IoT Hub (binary, may exceed 256 KB)."),
        };

        string? type = null, schema = null, camera = message.Camera;
        try
        {
            using var doc = JsonDocument.Parse(message.Payload);
            if (doc.RootElement.ValueKind == JsonValueKind.Object)
            {
                type = Text(doc.RootElement, "type");
                schema = Text(doc.RootElement, "schema");
                camera ??= Text(doc.RootElement, "camera");
            }
        }
        catch (JsonException e)
        {
            throw new OutboxMessageRejectedException(destination, "the payload is not JSON, but is declared application/json for routing.", e);
        }

        var properties = new Dictionary<string, string> { ["type"] = type ?? output switch { "stats" => "stats", "status" => "status", _ => "event" } };
        if (camera is not null) properties["camera"] = camera;
        if (schema is not null) properties["schema"] = schema;
        return new TelemetryMessage(output, message.Payload)
        {
            MessageId = message.MessageId,
            Properties = properties,
        };
    }

    private static string? Text(JsonElement root, string name) =>
        root.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
}
