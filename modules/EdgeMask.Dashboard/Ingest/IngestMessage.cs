namespace EdgeMask.Dashboard.Ingest;

public enum IngestKind
{
    Event,
    Stats,
    Status,
    Snapshot,
}

public enum IngestOutcome
{
    Stored,
    Duplicate,
    Malformed,
}

/// <summary>
/// One message from any transport (MQTT topic, Event Hubs event), reduced to what the ingest needs: its kind, the
/// device/camera the transport vouches for (null when it does not know), the payload and string properties.
/// </summary>
public sealed record IngestMessage(
    IngestKind Kind,
    string? Device,
    string? Camera,
    ReadOnlyMemory<byte> Payload,
    IReadOnlyDictionary<string, string> Properties,
    string Source)
{
    public static IReadOnlyDictionary<string, string> NoProperties { get; } = new Dictionary<string, string>();
}

/// <summary>Maps contract topics (<c>root/device/camera/events|stats|snapshot</c>, <c>root/device/status</c>) to a kind.</summary>
public static class ContractTopics
{
    public static bool TryParse(string topic, string root, out IngestKind kind, out string device, out string? camera)
    {
        kind = default;
        device = "";
        camera = null;
        var parts = topic.Split('/');
        if (parts.Length < 3 || parts[0] != root || parts.Any(string.IsNullOrEmpty))
        {
            return false;
        }
        device = parts[1];
        if (parts.Length == 3 && parts[2] == "status")
        {
            kind = IngestKind.Status;
            return true;
        }
        if (parts.Length != 4)
        {
            return false;
        }
        camera = parts[2];
        switch (parts[3])
        {
            case "events":
                kind = IngestKind.Event;
                return true;
            case "stats":
                kind = IngestKind.Stats;
                return true;
            case "snapshot":
                kind = IngestKind.Snapshot;
                return true;
            default:
                return false;
        }
    }

    public static IReadOnlyList<string> SubscriptionFilters(string root) =>
        [$"{root}/+/+/events", $"{root}/+/+/stats", $"{root}/+/+/snapshot", $"{root}/+/status"];
}
