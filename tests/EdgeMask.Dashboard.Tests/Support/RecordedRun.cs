using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using EdgeMask.Dashboard.Ingest;

namespace EdgeMask.Dashboard.Tests.Support;

/// <summary>
/// A recorded run of the device (Fixtures/README.md): the messages exactly as the module's PublisherSink published them,
/// with the facts a test expects read straight from the JSON (not through the dashboard's own parser).
/// </summary>
internal sealed class RecordedRun
{
    public const string Version2 = "station-run-contract-v2.mqtt.txt";
    public const string Version1 = "station-run-contract-v1.mqtt.txt";

    // What the recordings hold (Fixtures/README.md). The version 1 run is the same feed: its 114 violations are the
    // version 2 run's 105 violations and 9 badly worn masks, folded into no_mask.
    public const int V2Events = 233, V2ViolationStarts = 105, V2IncorrectStarts = 9, V2Stats = 29;
    public const int V1Events = 234, V1ViolationStarts = 114, V1Stats = 29;

    private RecordedRun(IReadOnlyList<(string Topic, byte[] Payload)> messages) => Messages = messages;

    public IReadOnlyList<(string Topic, byte[] Payload)> Messages { get; }

    /// <param name="camera">Renames the camera (topic and documents), so two recordings or two tests do not share one.</param>
    public static RecordedRun Load(string file, string? camera = null)
    {
        var messages = new List<(string, byte[])>();
        foreach (var line in File.ReadLines(Path.Combine(AppContext.BaseDirectory, "Fixtures", file)))
        {
            var space = line.IndexOf(' ', StringComparison.Ordinal);
            var topic = line[..space];
            var payload = line[(space + 1)..];
            if (camera is not null)
            {
                var parts = topic.Split('/');
                if (parts.Length == 4)
                {
                    parts[2] = camera;
                    topic = string.Join('/', parts);
                    var document = JsonNode.Parse(payload)!;
                    document["camera"] = camera;
                    payload = document.ToJsonString();
                }
            }
            messages.Add((topic, Encoding.UTF8.GetBytes(payload)));
        }
        return new RecordedRun(messages);
    }

    public IEnumerable<JsonElement> Events => Documents("/events");
    public IEnumerable<JsonElement> Stats => Documents("/stats");

    public IReadOnlyList<IngestMessage> ToIngestMessages() =>
        [.. Messages.Select(m => ContractTopics.TryParse(m.Topic, "edgemask", out var kind, out var device, out var camera)
            ? new IngestMessage(kind, device, camera, m.Payload, IngestMessage.NoProperties, "recorded")
            : throw new InvalidDataException($"'{m.Topic}' is not a contract topic"))];

    public int CountEvents(string type) => Events.Count(e => e.GetProperty("type").GetString() == type);

    public long SumStats(string property) => Stats.Sum(s => s.GetProperty(property).GetInt64());

    /// <summary>Faces of one label summed over the stats' <c>facesByLabel</c>.</summary>
    public long SumFaces(string label) => Stats.Sum(s => s.TryGetProperty("facesByLabel", out var split) ? split.GetProperty(label).GetInt64() : 0);

    public (DateTimeOffset First, DateTimeOffset Last) TimeRange()
    {
        var times = Events.Concat(Stats).Select(d => d.GetProperty("at").GetDateTimeOffset()).ToList();
        return (times.Min(), times.Max());
    }

    private IEnumerable<JsonElement> Documents(string suffix) =>
        Messages.Where(m => m.Topic.EndsWith(suffix, StringComparison.Ordinal)).Select(m => JsonDocument.Parse(m.Payload).RootElement);
}
