namespace EdgeMask.IoTHub.Mqtt;

/// <summary>
/// One device-to-cloud message on an edgeHub output. The content type and encoding default to JSON/UTF-8 so that
/// routes can query the body (<c>$body.type = 'violation.start'</c>).
/// </summary>
public sealed record TelemetryMessage(string OutputName, ReadOnlyMemory<byte> Body)
{
    public string? ContentType { get; init; } = "application/json";
    public string? ContentEncoding { get; init; } = "utf-8";
    /// <summary>Sent as <c>$.mid</c>; lets consumers de-duplicate QoS 1 redeliveries.</summary>
    public string? MessageId { get; init; }
    /// <summary>Application properties (routing queries see them without parsing the body).</summary>
    public IReadOnlyDictionary<string, string>? Properties { get; init; }
}

/// <summary>A twin as <c>$iothub/twin/GET</c> returns it: desired and reported sections with their versions.</summary>
public sealed record TwinDocument(System.Text.Json.JsonElement Desired, long DesiredVersion,
    System.Text.Json.JsonElement Reported, long ReportedVersion);

/// <summary>
/// The desired properties after a full twin read or a patch: <see cref="Desired"/> is always the whole document
/// (patches are merged by the client), so a handler can validate and apply it as one snapshot.
/// </summary>
public sealed record DesiredPropertiesUpdate(System.Text.Json.JsonElement Desired, long Version, bool FromFullTwin);
