using System.Globalization;
using System.Text.Json;

namespace EdgeMask.IoTHub.Twin;

/// <summary>
/// A small typed reader for validators: each getter returns the value or the default, and records an error under the
/// key path (<c>detection/minScore</c>) when the member has the wrong type or is out of range. Unknown members are
/// reported by <see cref="AllowOnly"/>. Collect everything, then check <see cref="HasErrors"/>: one pass reports
/// every bad key rather than the first.
/// </summary>
public readonly struct DesiredObject
{
    private readonly JsonElement _element;
    private readonly Dictionary<string, string> _errors;

    private DesiredObject(JsonElement element, string path, Dictionary<string, string> errors)
    {
        _element = element;
        Path = path;
        _errors = errors;
    }

    /// <summary>The root of a desired document (without the <c>$</c> members) with a fresh error list.</summary>
    public static DesiredObject Root(JsonElement desired)
    {
        var errors = new Dictionary<string, string>(StringComparer.Ordinal);
        if (desired.ValueKind != JsonValueKind.Object)
        {
            errors[""] = "expected a JSON object.";
        }

        return new DesiredObject(desired, "", errors);
    }

    public string Path { get; }

    public IReadOnlyDictionary<string, string> Errors => _errors;

    public bool HasErrors => _errors.Count > 0;

    /// <summary>Whether the member is present (and not null).</summary>
    public bool Has(string name) => TryGet(name, out _);

    public IEnumerable<string> Names => _element.ValueKind == JsonValueKind.Object
        ? _element.EnumerateObject().Where(p => !p.Name.StartsWith('$')).Select(p => p.Name).ToArray()
        : [];

    public void AddError(string name, string message) => _errors[TwinPath.Join(Path, name)] = message;

    /// <summary>Reports every member not in <paramref name="known"/> as "unknown key".</summary>
    public void AllowOnly(params string[] known)
    {
        foreach (var name in Names)
        {
            if (Array.IndexOf(known, name) < 0)
            {
                AddError(name, $"unknown key; expected one of {string.Join(", ", known)}.");
            }
        }
    }

    public double Number(string name, double defaultValue, double min, double max)
    {
        if (!TryGet(name, out var e)) return defaultValue;
        if (e.ValueKind != JsonValueKind.Number || !e.TryGetDouble(out var v) || !double.IsFinite(v))
        {
            AddError(name, $"expected a number in [{Fmt(min)}, {Fmt(max)}], got {Describe(e)}.");
            return defaultValue;
        }

        if (v < min || v > max)
        {
            AddError(name, $"{Fmt(v)} is out of range [{Fmt(min)}, {Fmt(max)}].");
            return defaultValue;
        }

        return v;
    }

    public int Integer(string name, int defaultValue, int min, int max)
    {
        if (!TryGet(name, out var e)) return defaultValue;
        if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt64(out var v))
        {
            AddError(name, $"expected an integer in [{min}, {max}], got {Describe(e)}.");
            return defaultValue;
        }

        if (v < min || v > max)
        {
            AddError(name, $"{v} is out of range [{min}, {max}].");
            return defaultValue;
        }

        return (int)v;
    }

    public bool Boolean(string name, bool defaultValue)
    {
        if (!TryGet(name, out var e)) return defaultValue;
        if (e.ValueKind is JsonValueKind.True or JsonValueKind.False) return e.GetBoolean();
        AddError(name, $"expected true or false, got {Describe(e)}.");
        return defaultValue;
    }

    public string String(string name, string defaultValue, int maxLength = 1024, IReadOnlyCollection<string>? allowed = null)
    {
        if (!TryGet(name, out var e)) return defaultValue;
        if (e.ValueKind != JsonValueKind.String)
        {
            AddError(name, $"expected a string, got {Describe(e)}.");
            return defaultValue;
        }

        var s = e.GetString()!;
        if (s.Length > maxLength)
        {
            AddError(name, $"string of {s.Length} characters is longer than {maxLength}.");
            return defaultValue;
        }

        if (allowed is not null && !allowed.Contains(s))
        {
            AddError(name, $"'{(s.Length > 40 ? s[..40] + "…" : s)}' is not one of {string.Join(", ", allowed)}.");
            return defaultValue;
        }

        return s;
    }

    /// <summary>A nested object; a member of another type is an error and yields an empty object.</summary>
    public DesiredObject Object(string name)
    {
        var path = TwinPath.Join(Path, name);
        if (!TryGet(name, out var e))
        {
            return new DesiredObject(default, path, _errors);
        }

        if (e.ValueKind != JsonValueKind.Object)
        {
            AddError(name, $"expected an object, got {Describe(e)}.");
            return new DesiredObject(default, path, _errors);
        }

        return new DesiredObject(e, path, _errors);
    }

    private bool TryGet(string name, out JsonElement value)
    {
        value = default;
        return _element.ValueKind == JsonValueKind.Object && _element.TryGetProperty(name, out value) &&
               value.ValueKind != JsonValueKind.Null;
    }

    private static string Describe(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "the number " + e.GetRawText(),
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        _ => e.ValueKind.ToString(),
    };

    private static string Fmt(double v) => v.ToString("G", CultureInfo.InvariantCulture);
}
