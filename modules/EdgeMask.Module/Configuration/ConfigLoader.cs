using System.Text.Json;
using System.Text.Json.Serialization;
using EdgeMask.Core.Tracking;

namespace EdgeMask.Module.Configuration;

/// <summary>A configuration document that cannot be used; <see cref="Key"/> names the offending key.</summary>
public sealed class ConfigurationException(string key, string message, Exception? inner = null) : Exception(message, inner)
{
    public string Key { get; } = key;
}

/// <summary>Reads <see cref="EdgeMaskOptions"/> from JSON (a config file or twin desired properties) strictly.</summary>
public static class ConfigLoader
{
    public static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        PropertyNameCaseInsensitive = true,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        WriteIndented = true,
    };

    public static EdgeMaskOptions Load(string path)
    {
        if (!File.Exists(path)) throw new ConfigurationException("--config", $"Config file {path} does not exist.");
        return Parse(File.ReadAllText(path), path);
    }

    /// <summary>Parses and validates; every failure names the key (as a path like <c>detector:scoreThreshold</c>).</summary>
    public static EdgeMaskOptions Parse(string json, string origin)
    {
        EdgeMaskOptions? options;
        try
        {
            options = JsonSerializer.Deserialize<EdgeMaskOptions>(json, JsonOptions);
        }
        catch (JsonException ex)
        {
            string key = KeyOf(ex);
            string what = ex.Message.Contains("could not be mapped", StringComparison.Ordinal)
                ? $"unknown key '{key}'"
                : $"bad value at '{key}' ({FirstSentence(ex.Message)})";
            throw new ConfigurationException(key, $"{origin}: {what}.", ex);
        }
        if (options is null) throw new ConfigurationException("$", $"{origin}: the document is null.");
        try
        {
            return options.Validate();
        }
        catch (InvalidOptionException ex)
        {
            throw new ConfigurationException(ex.Key, $"{origin}: {ex.Message}", ex);
        }
    }

    public static string Serialize(EdgeMaskOptions options) => JsonSerializer.Serialize(options, JsonOptions);

    /// <summary>"$.detector.scoreThreshold" → "detector:scoreThreshold"; for unknown members the member name is appended.</summary>
    private static string KeyOf(JsonException ex)
    {
        string path = ex.Path ?? "$";
        string key = path.TrimStart('$').TrimStart('.').Replace("['", ":").Replace("']", "").Replace('.', ':');
        const string marker = "The JSON property '";
        int i = ex.Message.IndexOf(marker, StringComparison.Ordinal);
        if (i >= 0)
        {
            int start = i + marker.Length, end = ex.Message.IndexOf('\'', start);
            if (end > start)
            {
                string member = ex.Message[start..end];
                if (!key.EndsWith(member, StringComparison.Ordinal)) key = key.Length == 0 ? member : $"{key}:{member}";
            }
        }
        return key.Length == 0 ? "$" : key;
    }

    private static string FirstSentence(string message)
    {
        int dot = message.IndexOf(". ", StringComparison.Ordinal);
        return dot < 0 ? message : message[..dot];
    }
}
