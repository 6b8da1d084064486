using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace EdgeMask.IoTHub.Twin;

/// <summary>
/// Makes a reported-properties patch one that edgeHub and IoT Hub store. edgeHub validates every reported PATCH before
/// storing it (Azure/iotedge <c>ReportedPropertiesValidator</c>, limits taken from IoT Hub) and answers a patch that breaks
/// one rule with 400, storing nothing of it: one over-long camera error would then freeze the whole reported state in
/// the portal, and the module would send the same refused patch at every report. So the module bends its patch to the
/// rules instead, keeping what it can:
/// <list type="bullet">
/// <item>names: control characters, '.', '$', '#' and white space become '_' (<see cref="SafeName"/>);
/// a name that then collides with another gets a numeric suffix (names that were safe keep theirs);</item>
/// <item>a string over <see cref="TwinLimits.MaxStringBytes"/> UTF-8 bytes is cut to fit, ending in "…";</item>
/// <item>an integer outside ±2^52 (what a JSON double holds exactly) is sent as a string;</item>
/// <item>null items of arrays are left out (edgeHub refuses them), and so are null members of objects inside arrays
/// (edgeHub stores them, IoT Hub refuses them upstream: Azure/iotedge#4159);</item>
/// <item>an object nested deeper than <see cref="TwinLimits.MaxDepth"/> levels becomes a string saying so;</item>
/// <item>when the patch is over <see cref="TwinLimits.MaxDocumentBytes"/>, its largest top-level sections (never
/// <c>configuration</c>, the outcome of the desired properties) are replaced, largest first, by <c>{"omitted": …}</c>
/// until it fits.</item>
/// </list>
/// </summary>
public static class ReportedPropertiesConformer
{
    /// <summary>The applier's own section: what became of the desired properties is the last thing to leave out.</summary>
    public const string KeptSection = "configuration";

    private const string Ellipsis = "…";

    // Newtonsoft (edgeHub) measures the patch compact, non-ASCII as is.
    private static readonly JsonSerializerOptions Compact = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Conforms <paramref name="patch"/> in place and returns it.</summary>
    public static JsonObject Conform(JsonObject patch, TwinLimits limits)
    {
        ArgumentNullException.ThrowIfNull(patch);
        ArgumentNullException.ThrowIfNull(limits);
        ConformObject(patch, depth: 1, limits);
        FitDocument(patch, limits);
        return patch;
    }

    /// <summary>
    /// <paramref name="name"/> with control characters, '.', '$', '#' and white space replaced by '_', cut to 256
    /// characters (at most 1 KB in UTF-8, the limit for names).
    /// </summary>
    public static string SafeName(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name.Length <= 256 && !name.AsSpan().ContainsAny(Reserved) && !HasControlOrWhiteSpace(name))
        {
            return name; // the usual case: nothing to replace, no new string
        }

        Span<char> buffer = name.Length <= 256 ? stackalloc char[name.Length] : new char[Math.Min(name.Length, 256)];
        int length = Math.Min(name.Length, 256);
        if (length < name.Length && char.IsHighSurrogate(name[length - 1]))
        {
            length--; // do not leave half a surrogate pair at the cut
        }

        for (var i = 0; i < length; i++)
        {
            var c = name[i];
            buffer[i] = char.IsControl(c) || c is '.' or '$' or '#' || char.IsWhiteSpace(c) ? '_' : c;
        }

        return new string(buffer[..length]);
    }

    private static readonly System.Buffers.SearchValues<char> Reserved = System.Buffers.SearchValues.Create(".$#");

    private static bool HasControlOrWhiteSpace(string name)
    {
        foreach (var c in name)
        {
            if (char.IsControl(c) || char.IsWhiteSpace(c))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The UTF-8 size of <paramref name="patch"/> as edgeHub measures it.</summary>
    public static int DocumentBytes(JsonNode patch) => Encoding.UTF8.GetByteCount(patch.ToJsonString(Compact));

    /// <summary>
    /// Members of an object at <paramref name="depth"/> (the patch's own members are at depth 1). As edgeHub counts it, an
    /// object may be the value of a member at depth ≤ <see cref="TwinLimits.MaxDepth"/>.
    /// </summary>
    private static void ConformObject(JsonObject obj, int depth, TwinLimits limits, bool insideArray = false)
    {
        var members = obj.ToList();
        bool renamed = false;
        foreach (var (name, _) in members)
        {
            if (SafeName(name) != name)
            {
                renamed = true;
                break;
            }
        }

        if (renamed)
        {
            // Names that are already safe keep theirs; a made-safe name that collides with one gets a suffix. Rebuilt in the
            // original order, so that members keep their places.
            var taken = new HashSet<string>(members.Where(m => SafeName(m.Key) == m.Key).Select(m => m.Key), StringComparer.Ordinal);
            obj.Clear();
            foreach (var (name, value) in members)
            {
                var unique = SafeName(name);
                if (unique != name)
                {
                    var safe = unique;
                    for (var n = 2; !taken.Add(unique); n++)
                    {
                        unique = $"{safe}_{n}";
                    }
                }

                obj[unique] = value;
            }

            members = obj.ToList();
        }

        foreach (var (name, value) in members)
        {
            var conformed = ConformValue(value, depth, limits, insideArray);
            if (!ReferenceEquals(conformed, value))
            {
                obj[name] = conformed;
            }
        }
    }

    private static JsonNode? ConformValue(JsonNode? value, int depth, TwinLimits limits, bool insideArray = false)
    {
        switch (value)
        {
            case null:
                return null;
            case JsonObject child:
                if (depth > limits.MaxDepth)
                {
                    return JsonValue.Create($"(omitted: nested deeper than the twin limit of {limits.MaxDepth} levels)");
                }

                if (insideArray)
                {
                    // Inside an array a null member deletes nothing; IoT Hub refuses it (Azure/iotedge#4159): left out.
                    foreach (var name in child.Where(m => m.Value is null).Select(m => m.Key).ToList())
                    {
                        child.Remove(name);
                    }
                }

                ConformObject(child, depth + 1, limits, insideArray);
                return child;
            case JsonArray array:
                for (var i = array.Count - 1; i >= 0; i--)
                {
                    if (array[i] is null)
                    {
                        array.RemoveAt(i);
                        continue;
                    }

                    // Items do not add a level as edgeHub counts; objects inside keep their own names and depth rules.
                    var item = array[i];
                    var conformed = ConformValue(item, depth, limits, insideArray: true);
                    if (!ReferenceEquals(conformed, item))
                    {
                        array[i] = conformed;
                    }
                }

                return array;
            case JsonValue scalar:
                return scalar.GetValueKind() switch
                {
                    JsonValueKind.String => FitString(scalar, limits.MaxStringBytes),
                    JsonValueKind.Number => FitNumber(scalar),
                    _ => scalar,
                };
            default:
                return value;
        }
    }

    private static JsonNode FitString(JsonValue scalar, int maxBytes)
    {
        var text = scalar.GetValue<string>();
        return Encoding.UTF8.GetByteCount(text) <= maxBytes ? scalar : JsonValue.Create(Truncate(text, maxBytes));
    }

    /// <summary>Integers beyond ±2^52 are not exact in a JSON double, and edgeHub refuses them as numbers.</summary>
    private static JsonNode FitNumber(JsonValue scalar)
    {
        var text = scalar.ToJsonString();
        if (text.AsSpan().IndexOfAny(".eE") >= 0)
        {
            return scalar;
        }

        const long MaxSafe = (1L << 52) - 1, MinSafe = -(1L << 52);
        bool fits = long.TryParse(text, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out var n);
        return fits && n is >= MinSafe and <= MaxSafe ? scalar : JsonValue.Create(text);
    }

    /// <summary>The longest prefix that fits in <paramref name="maxBytes"/> with "…" after it, never splitting a surrogate pair.</summary>
    internal static string Truncate(string text, int maxBytes)
    {
        int budget = maxBytes - Encoding.UTF8.GetByteCount(Ellipsis);
        int bytes = 0, end = 0;
        while (end < text.Length)
        {
            int width = char.IsSurrogatePair(text, end) ? 2 : 1;
            int size = Encoding.UTF8.GetByteCount(text.AsSpan(end, width));
            if (bytes + size > budget)
            {
                break;
            }

            bytes += size;
            end += width;
        }

        return string.Concat(text.AsSpan(0, end), Ellipsis);
    }

    private static void FitDocument(JsonObject patch, TwinLimits limits)
    {
        int size = DocumentBytes(patch);
        while (size > limits.MaxDocumentBytes)
        {
            string? largest = null;
            int largestBytes = 0;
            foreach (var (name, value) in patch)
            {
                if (name == KeptSection || value is null || IsOmission(value))
                {
                    continue;
                }

                int bytes = DocumentBytes(value);
                if (bytes > largestBytes)
                {
                    largest = name;
                    largestBytes = bytes;
                }
            }

            if (largest is null)
            {
                // Only the configuration section is left, and it is itself too large: its error messages are already cut to
                // 512 characters each, so this takes hundreds of errors; the hub refuses it, the log says why.
                return;
            }

            patch[largest] = new JsonObject
            {
                ["omitted"] = $"{largestBytes} bytes: the reported properties are limited to {limits.MaxDocumentBytes / 1024} KB",
            };
            size = DocumentBytes(patch);
        }
    }

    private static bool IsOmission(JsonNode value) => value is JsonObject { Count: 1 } o && o.ContainsKey("omitted");
}
