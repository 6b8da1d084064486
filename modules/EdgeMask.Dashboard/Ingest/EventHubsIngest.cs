using System.Text.Json;
using Azure.Messaging.EventHubs;

namespace EdgeMask.Dashboard.Ingest;

/// <summary>
/// Turns an event read from IoT Hub's built-in (Event Hubs-compatible) endpoint into an <see cref="IngestMessage"/>.
/// The kind comes from the application property <c>edgemask-kind</c> when the module sets one, else from the JSON
/// <c>schema</c> field; a JPEG body is a snapshot. Device and camera come from IoT Hub's system property
/// <c>iothub-connection-device-id</c> and the application property <c>camera</c> when present.
/// </summary>
public static class EventHubsMessageMapper
{
    public const string KindProperty = "edgemask-kind";
    public const string DeviceIdSystemProperty = "iothub-connection-device-id";
    public const string CameraProperty = "camera";

    public static IngestMessage Map(EventData data, string partitionId)
    {
        var body = data.EventBody.ToMemory();
        var properties = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in data.Properties)
        {
            if (value is not null)
            {
                properties[key] = Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture) ?? "";
            }
        }
        var source = $"eventhubs:{partitionId}/{data.SequenceNumber}";
        string? device = data.SystemProperties.TryGetValue(DeviceIdSystemProperty, out var d) ? d as string : null;
        properties.TryGetValue(CameraProperty, out var camera);

        IngestKind kind;
        if (properties.TryGetValue(KindProperty, out var declared) && TryParseKind(declared, out var declaredKind))
        {
            kind = declaredKind;
        }
        else if (body.Length >= 3 && body.Span[0] == 0xFF && body.Span[1] == 0xD8 && body.Span[2] == 0xFF)
        {
            kind = IngestKind.Snapshot;
        }
        else
        {
            kind = KindFromSchema(body.Span);
        }
        // Events, stats and status carry device/camera in the body; the hub's device id is the module's edge device,
        // which is the contract's device too, so it is checked against the body by the ingest.
        return new IngestMessage(kind, device, kind is IngestKind.Snapshot ? camera : null, body, properties, source);
    }

    private static bool TryParseKind(string text, out IngestKind kind)
    {
        switch (text)
        {
            case "events" or "event":
                kind = IngestKind.Event;
                return true;
            case "stats":
                kind = IngestKind.Stats;
                return true;
            case "status":
                kind = IngestKind.Status;
                return true;
            case "snapshot":
                kind = IngestKind.Snapshot;
                return true;
            default:
                kind = default;
                return false;
        }
    }

    private static IngestKind KindFromSchema(ReadOnlySpan<byte> body)
    {
        try
        {
            var reader = new Utf8JsonReader(body);
            if (reader.Read() && reader.TokenType == JsonTokenType.StartObject)
            {
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    var isSchema = reader.ValueTextEquals("schema");
                    reader.Read();
                    if (isSchema && reader.TokenType == JsonTokenType.String)
                    {
                        return reader.GetString() switch
                        {
                            Core.Events.CameraStats.SchemaName or Core.Events.CameraStats.SchemaNameV1 => IngestKind.Stats,
                            Core.Events.DeviceStatus.SchemaName => IngestKind.Status,
                            _ => IngestKind.Event,
                        };
                    }
                    reader.Skip();
                }
            }
        }
        catch (JsonException)
        {
            // Not JSON at all: let the event ingest reject it with a proper message.
        }
        return IngestKind.Event;
    }
}

