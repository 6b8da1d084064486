using System.Text.Json;
using System.Text.Json.Nodes;
using EdgeMask.IoTHub.Twin;
using EdgeMask.Module.Configuration;

namespace EdgeMask.Module.Hosting;

/// <summary>
/// The module twin as configuration: the effective document is the base document (the config file, or <c>{}</c>)
/// with the desired properties merged over it (twin merge semantics: objects merge, <c>null</c> deletes), then any
/// <c>setThresholds</c> override. So a desired document holding the whole configuration is used as it is, and an
/// empty twin (a fresh deployment) keeps the file's configuration instead of falling back to bare defaults.
/// </summary>
public static class TwinConfiguration
{
    /// <summary>
    /// Validates one effective document: each top-level section is parsed on its own with <see cref="ConfigLoader"/>,
    /// so every bad section is reported in one pass (ConfigLoader stops at the first error of a document), then the whole
    /// document, which checks what spans sections. Error keys are twin paths (<c>detector/scoreThreshold</c>).
    /// </summary>
    public static TwinValidationResult<EdgeMaskOptions> Validate(JsonObject document)
    {
        var errors = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, value) in document)
        {
            var section = new JsonObject { [name] = value?.DeepClone() };
            try
            {
                ConfigLoader.Parse(section.ToJsonString(), "twin");
            }
            catch (ConfigurationException e)
            {
                errors[KeyPath(e.Key, name)] = Message(e);
            }
        }

        if (errors.Count > 0) return TwinValidationResult<EdgeMaskOptions>.Invalid(errors);
        try
        {
            return TwinValidationResult<EdgeMaskOptions>.Valid(ConfigLoader.Parse(document.ToJsonString(), "twin"));
        }
        catch (ConfigurationException e)
        {
            return TwinValidationResult<EdgeMaskOptions>.Invalid(new Dictionary<string, string> { [KeyPath(e.Key, "")] = Message(e) });
        }
    }

    /// <summary>base ⊕ desired ⊕ override, each merged with twin patch semantics; <c>$</c> members are dropped.</summary>
    public static JsonObject Effective(JsonObject baseDocument, JsonElement desired, JsonObject? thresholdOverride)
    {
        var merged = JsonMergePatch.Apply(baseDocument, desired);
        if (thresholdOverride is not null)
        {
            merged = JsonMergePatch.Apply(merged, JsonSerializer.SerializeToElement(thresholdOverride));
        }
        return merged;
    }

    /// <summary>The options as a JSON object (for merging patches into the configuration in force).</summary>
    public static JsonObject ToDocument(EdgeMaskOptions options) =>
        JsonNode.Parse(ConfigLoader.Serialize(options))!.AsObject();

    /// <summary>Two snapshots configure the same thing (records with dictionaries do not compare by value).</summary>
    public static bool SameConfiguration(EdgeMaskOptions a, EdgeMaskOptions b) =>
        ReferenceEquals(a, b) || ConfigLoader.Serialize(a) == ConfigLoader.Serialize(b);

    /// <summary>"detector:scoreThreshold" → "detector/scoreThreshold"; "$" (the whole document) → the section or "".</summary>
    internal static string KeyPath(string key, string section)
    {
        string k = key.Replace(':', '/').Trim('/');
        if (k is "" or "$") return section;
        return k;
    }

    /// <summary>ConfigLoader prefixes the origin ("twin: …"); the key is the reported member already.</summary>
    private static string Message(ConfigurationException e) =>
        e.Message.StartsWith("twin: ", StringComparison.Ordinal) ? e.Message["twin: ".Length..] : e.Message;
}
