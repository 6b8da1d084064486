using System.Globalization;
using System.Text;
using EdgeMask.IoTHub.Authentication;

namespace EdgeMask.IoTHub.Mqtt;

/// <summary>
/// The documented IoT Hub MQTT topics ("Communicate with an IoT hub using the MQTT protocol") and their property bags.
/// </summary>
public static class IoTHubTopics
{
    public const string TwinResponseFilter = "$iothub/twin/res/#";
    public const string DesiredPatchFilter = "$iothub/twin/PATCH/properties/desired/#";
    public const string MethodRequestFilter = "$iothub/methods/POST/#";

    private const string TwinResponsePrefix = "$iothub/twin/res/";
    private const string DesiredPatchPrefix = "$iothub/twin/PATCH/properties/desired/";
    private const string MethodPrefix = "$iothub/methods/POST/";

    // System properties IoT Hub/edgeHub translate on the wire (edgeHub's OnTheWireSystemPropertyNames).
    public const string OutputNameProperty = "$.on";
    public const string ContentTypeProperty = "$.ct";
    public const string ContentEncodingProperty = "$.ce";
    public const string MessageIdProperty = "$.mid";

    public static string TwinGet(string requestId) => $"$iothub/twin/GET/?$rid={Uri.EscapeDataString(requestId)}";

    public static string TwinReportedPatch(string requestId) => $"$iothub/twin/PATCH/properties/reported/?$rid={Uri.EscapeDataString(requestId)}";

    public static string MethodResponse(int status, string requestId) =>
        $"$iothub/methods/res/{status.ToString(CultureInfo.InvariantCulture)}/?$rid={Uri.EscapeDataString(requestId)}";

    /// <summary><c>devices/{d}/messages/events/</c> or <c>devices/{d}/modules/{m}/messages/events/</c>.</summary>
    public static string TelemetryPrefix(IoTHubIdentity identity) => string.IsNullOrEmpty(identity.ModuleId)
        ? $"devices/{identity.DeviceId}/messages/events/"
        : $"devices/{identity.DeviceId}/modules/{identity.ModuleId}/messages/events/";

    /// <summary>
    /// The telemetry topic with its property bag and the closing <c>/</c>:
    /// <c>devices/{d}/modules/{m}/messages/events/{bag}/</c>, or the bare prefix when there are no properties.
    /// edgeHub matches the whole topic against its templates <c>…/messages/events/{params}/</c> and
    /// <c>…/messages/events/</c> (DependencyManager in Azure/iotedge edge-hub; UriPathTemplate: every variable
    /// <c>[^/]*</c>, anchored at the end) and drops anything else after acknowledging it, so the closing slash is not
    /// optional. The bag is written as the SDK's MqttIotHubAdapter writes it (UrlEncodedDictionarySerializer): system
    /// properties first, then application properties, every name and value escaped with
    /// <see cref="Uri.EscapeDataString(string)"/> (so <c>$.on</c> travels as <c>%24.on</c> and no <c>/</c>, <c>&amp;</c>
    /// or <c>=</c> of a value can break the bag); edgeHub and IoT Hub unescape both.
    /// </summary>
    public static string Telemetry(IoTHubIdentity identity, string? outputName, string? contentType, string? contentEncoding,
        string? messageId, IEnumerable<KeyValuePair<string, string>>? applicationProperties)
    {
        var sb = new StringBuilder(TelemetryPrefix(identity));
        var empty = sb.Length;

        void Add(string name, string value)
        {
            if (sb.Length > empty)
            {
                sb.Append('&');
            }

            sb.Append(Uri.EscapeDataString(name)).Append('=').Append(Uri.EscapeDataString(value));
        }

        if (!string.IsNullOrEmpty(outputName)) Add(OutputNameProperty, outputName);
        if (!string.IsNullOrEmpty(contentType)) Add(ContentTypeProperty, contentType);
        if (!string.IsNullOrEmpty(contentEncoding)) Add(ContentEncodingProperty, contentEncoding);
        if (!string.IsNullOrEmpty(messageId)) Add(MessageIdProperty, messageId);
        if (applicationProperties is not null)
        {
            foreach (var (name, value) in applicationProperties)
            {
                if (string.IsNullOrEmpty(name) || name.StartsWith('$'))
                {
                    throw new TelemetryRejectedException($"Application property name '{name}' is empty or starts with '$' (reserved for system properties).");
                }

                Add(name, value ?? string.Empty);
            }
        }

        if (sb.Length > empty)
        {
            sb.Append('/');
        }

        return sb.ToString();
    }

    /// <summary>
    /// Parses a property bag (<c>a=1&amp;b=x%20y&amp;c</c>, optionally after a leading '?'): names and values are decoded; a
    /// name without '=' has a null value, as IoT Hub represents null-valued properties.
    /// </summary>
    public static Dictionary<string, string?> ParsePropertyBag(string bag)
    {
        var result = new Dictionary<string, string?>(StringComparer.Ordinal);
        var text = bag.StartsWith('?') ? bag[1..] : bag;
        foreach (var pair in text.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = pair.IndexOf('=');
            var name = Uri.UnescapeDataString(eq < 0 ? pair : pair[..eq]);
            result[name] = eq < 0 ? null : Uri.UnescapeDataString(pair[(eq + 1)..]);
        }

        return result;
    }

    /// <summary>Parses <c>$iothub/twin/res/{status}/?$rid={rid}[&amp;$version={v}]</c>.</summary>
    public static bool TryParseTwinResponse(string topic, out int status, out string requestId, out long? version)
    {
        status = 0;
        requestId = string.Empty;
        version = null;
        if (!topic.StartsWith(TwinResponsePrefix, StringComparison.Ordinal))
        {
            return false;
        }

        var rest = topic.AsSpan(TwinResponsePrefix.Length);
        var slash = rest.IndexOf('/');
        if (slash <= 0 || !int.TryParse(rest[..slash], NumberStyles.None, CultureInfo.InvariantCulture, out status))
        {
            return false;
        }

        var bag = ParsePropertyBag(rest[(slash + 1)..].ToString());
        if (!bag.TryGetValue("$rid", out var rid) || string.IsNullOrEmpty(rid))
        {
            return false;
        }

        requestId = rid;
        if (bag.TryGetValue("$version", out var v) && long.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var parsed))
        {
            version = parsed;
        }

        return true;
    }

    /// <summary>Parses <c>$iothub/twin/PATCH/properties/desired/?$version={v}</c> (the version is also inside the body).</summary>
    public static bool TryParseDesiredPatch(string topic, out long? version)
    {
        version = null;
        if (!topic.StartsWith(DesiredPatchPrefix, StringComparison.Ordinal))
        {
            return false;
        }

        var bag = ParsePropertyBag(topic[DesiredPatchPrefix.Length..]);
        if (bag.TryGetValue("$version", out var v) && long.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var parsed))
        {
            version = parsed;
        }

        return true;
    }

    /// <summary>Parses <c>$iothub/methods/POST/{method-name}/?$rid={request-id}</c>.</summary>
    public static bool TryParseMethodRequest(string topic, out string methodName, out string requestId)
    {
        methodName = string.Empty;
        requestId = string.Empty;
        if (!topic.StartsWith(MethodPrefix, StringComparison.Ordinal))
        {
            return false;
        }

        var rest = topic[MethodPrefix.Length..];
        var marker = rest.LastIndexOf("/?", StringComparison.Ordinal);
        if (marker <= 0)
        {
            return false;
        }

        var bag = ParsePropertyBag(rest[(marker + 2)..]);
        if (!bag.TryGetValue("$rid", out var rid) || string.IsNullOrEmpty(rid))
        {
            return false;
        }

        methodName = rest[..marker];
        requestId = rid;
        return true;
    }
}
