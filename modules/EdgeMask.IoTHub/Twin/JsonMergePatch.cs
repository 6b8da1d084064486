using System.Text.Json;
using System.Text.Json.Nodes;

namespace EdgeMask.IoTHub.Twin;

/// <summary>
/// Twin patch semantics ("Update device twin's reported properties", "Receiving desired properties update
/// notifications"): each member of the patch updates or adds the same member; an object merges recursively; a member
/// set to <c>null</c> is deleted. Read-only members (<c>$version</c>, <c>$metadata</c>, …) are dropped.
/// </summary>
public static class JsonMergePatch
{
    public static JsonObject Apply(JsonObject? target, JsonElement patch)
    {
        var result = target?.DeepClone().AsObject() ?? new JsonObject();
        if (patch.ValueKind != JsonValueKind.Object)
        {
            return result;
        }

        foreach (var member in patch.EnumerateObject())
        {
            if (member.Name.StartsWith('$'))
            {
                continue;
            }

            if (member.Value.ValueKind == JsonValueKind.Null)
            {
                result.Remove(member.Name);
            }
            else if (member.Value.ValueKind == JsonValueKind.Object)
            {
                var existing = result[member.Name] as JsonObject;
                result[member.Name] = Apply(existing, member.Value);
            }
            else
            {
                result[member.Name] = JsonNode.Parse(member.Value.GetRawText());
            }
        }

        return result;
    }

    /// <summary>A copy of <paramref name="document"/> without the read-only <c>$</c> members, at any depth.</summary>
    public static JsonObject WithoutMetadata(JsonElement document) => Apply(null, document);
}
