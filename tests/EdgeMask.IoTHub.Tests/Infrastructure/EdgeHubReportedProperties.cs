using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace EdgeMask.IoTHub.Tests.Infrastructure;

/// <summary>
/// What edgeHub refuses in a reported-properties PATCH, as its own validator decides it (Azure/iotedge
/// <c>edge-hub/core/…/twin/ReportedPropertiesValidator.cs</c> with <c>JsonEx.IsValidToken</c>, limits "taken from
/// IoTHub"): the first rule broken, in the validator's order, or null when edgeHub stores the patch. edgeHub answers a
/// refused patch with status 400 on <c>$iothub/twin/res/400/?$rid=…</c> (<c>DeviceMessageHandler.HandleTwinOperationException</c>:
/// its exceptions are <see cref="InvalidOperationException"/>s). Written from that source, independently of the module's
/// <c>ReportedPropertiesConformer</c>, so a test can hold the module's patches to it.
/// </summary>
internal static class EdgeHubReportedProperties
{
    public const int MaxDepth = 10;
    public const int MaxValueBytes = 4096;
    public const int MaxNameBytes = 1024;
    public const long MaxSafeInteger = 4503599627370495; // 2^52 - 1
    public const long MinSafeInteger = -4503599627370496; // -2^52
    public const int MaxPatchBytes = 32 * 1024;

    private static readonly JsonSerializerOptions Compact = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static string? Refusal(JsonObject patch)
    {
        if (Properties(patch, 1) is { } refused)
        {
            return refused;
        }

        // TwinCollection.ToJson(): compact, non-ASCII written as is (Newtonsoft), measured in UTF-8 bytes.
        int size = Encoding.UTF8.GetByteCount(patch.ToJsonString(Compact));
        if (size > MaxPatchBytes)
        {
            return $"Twin properties size {size} exceeds maximum {MaxPatchBytes}";
        }

        return ArrayContent(patch);
    }

    private static string? Properties(JsonObject properties, int depth)
    {
        foreach (var (name, value) in properties)
        {
            if (Encoding.UTF8.GetByteCount(name) > MaxNameBytes)
            {
                return $"Length of property name {name[..10]}.. exceeds maximum length of {MaxNameBytes}";
            }

            foreach (var ch in name)
            {
                // '$' is reserved for $metadata, $version …; '#' stands in for '$' in the service's store, so it is reserved too.
                if (char.IsControl(ch) || ch is '.' or '$' or '#' || char.IsWhiteSpace(ch))
                {
                    return $"Property name {name} contains invalid character '{ch}'";
                }
            }

            switch (value)
            {
                case null:
                    break;
                case JsonObject child:
                    if (depth > MaxDepth)
                    {
                        return $"Nested depth of twin property exceeds {MaxDepth}";
                    }

                    if (Properties(child, depth + 1) is { } refused)
                    {
                        return refused;
                    }

                    break;
                case JsonArray:
                    // Accepted since arrays were added to JsonEx's valid token types; their items are checked for null below.
                    break;
                case JsonValue scalar:
                    if (scalar.GetValueKind() == JsonValueKind.Number && IsInteger(scalar, out var integer, out var fits))
                    {
                        if (!fits || integer > MaxSafeInteger || integer < MinSafeInteger)
                        {
                            return $"Property {name} has an out of bound value. Valid values are between {MinSafeInteger} and {MaxSafeInteger}";
                        }
                    }
                    else
                    {
                        var text = scalar.GetValueKind() == JsonValueKind.String ? scalar.GetValue<string>() : scalar.ToJsonString();
                        int bytes = Encoding.UTF8.GetByteCount(text);
                        if (bytes > MaxValueBytes)
                        {
                            return $"Value associated with property name {name} has length {bytes} that exceeds maximum length of {MaxValueBytes}";
                        }
                    }

                    break;
            }
        }

        return null;
    }

    /// <summary>Newtonsoft reads a number without fraction or exponent as an integer token (a BigInteger past Int64).</summary>
    private static bool IsInteger(JsonValue number, out long value, out bool fits)
    {
        var text = number.ToJsonString();
        value = 0;
        fits = true;
        if (text.AsSpan().IndexOfAny(".eE") >= 0)
        {
            return false;
        }

        fits = long.TryParse(text, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out value);
        return true;
    }

    /// <summary>
    /// No null item in an array (edgeHub's own rule), and — one step stricter than edgeHub's validator — no null member
    /// in an object inside an array: edgeHub stores such a patch, but IoT Hub refuses it when edgeHub syncs it upstream,
    /// and edgeHub then retries it from its cache for good ("null values are not allowed in the arrays in twin", per
    /// design; Azure/iotedge#4159). The double refuses it at once, so a test sees what the hub would never store.
    /// </summary>
    private static string? ArrayContent(JsonNode? node, bool insideArray = false)
    {
        switch (node)
        {
            case JsonArray array:
                foreach (var item in array)
                {
                    if (item is null)
                    {
                        return "Arrays cannot contain 'null' as value";
                    }

                    if (ArrayContent(item, insideArray: true) is { } refused)
                    {
                        return refused;
                    }
                }

                break;
            case JsonObject obj:
                foreach (var (name, value) in obj)
                {
                    if (insideArray && value is null)
                    {
                        return $"Property {name} is null inside an array: IoT Hub refuses null values in arrays (edgeHub would store it and never sync it)";
                    }

                    if (ArrayContent(value, insideArray) is { } refused)
                    {
                        return refused;
                    }
                }

                break;
        }

        return null;
    }
}
