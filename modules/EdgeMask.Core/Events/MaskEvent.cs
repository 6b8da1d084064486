using System.Text.Json;
using System.Text.Json.Serialization;

namespace EdgeMask.Core.Events;

/// <summary>
/// A violation event, the contract of DESIGN.md §3: published on MQTT <c>edgemask/&lt;device&gt;/&lt;camera&gt;/events</c>
/// (QoS 1) and as IoT Hub output <c>events</c>, one UTF-8 JSON document each. <see cref="Id"/> is stable for one
/// violation episode, so start, updates and end share it and consumers de-duplicate QoS 1 redeliveries by
/// (<see cref="Id"/>, <see cref="Type"/>, <see cref="Sequence"/>).
/// </summary>
/// <remarks>
/// Version 2 (<see cref="SchemaName"/>) adds the label <c>incorrect</c>, the three class probabilities
/// (<see cref="EventMask.Probabilities"/>) and the event types <c>incorrect.*</c>. A device publishes version 1 for
/// consumers that cannot read version 2 yet (<see cref="EventContract.ToVersion1(MaskEvent, Policy.IncorrectMaskCounting)"/>);
/// a consumer of version 2 must also accept version 1 documents (older devices, backlogs in an outbox).
/// </remarks>
public sealed record MaskEvent
{
    /// <summary>The current event schema.</summary>
    public const string SchemaName = "edgemask.event/2";

    /// <summary>The first event schema: labels mask / no_mask, types <c>violation.*</c> only.</summary>
    public const string SchemaNameV1 = "edgemask.event/1";

    public string Schema { get; init; } = SchemaName;
    public required string Id { get; init; }
    /// <summary><c>violation.start|update|end</c>, or <c>incorrect.start|update|end</c> (version 2); see <see cref="EventTypes"/>.</summary>
    public required string Type { get; init; }
    /// <summary>0 for the start, then 1, 2, … for each later event of the same episode: orders and de-duplicates.</summary>
    public required int Sequence { get; init; }
    public required string Device { get; init; }
    public required string Camera { get; init; }
    public required long TrackId { get; init; }
    public required DateTimeOffset StartedAt { get; init; }
    public required DateTimeOffset At { get; init; }
    public DateTimeOffset? EndedAt { get; init; }
    /// <summary>Why an episode ended: <c>masked</c> (the person put a mask on), <c>lost</c> (track left the view), <c>shutdown</c>.</summary>
    public string? EndReason { get; init; }
    public required EventFrame Frame { get; init; }
    public required EventFace Face { get; init; }
    public required EventMask Mask { get; init; }
    public required EventSnapshot Snapshot { get; init; }
}

public static class EventTypes
{
    public const string ViolationStart = "violation.start";
    public const string ViolationUpdate = "violation.update";
    public const string ViolationEnd = "violation.end";

    /// <summary>An episode of a mask worn incorrectly, when the policy counts those separately (schema version 2).</summary>
    public const string IncorrectStart = "incorrect.start";
    public const string IncorrectUpdate = "incorrect.update";
    public const string IncorrectEnd = "incorrect.end";

    /// <summary>Every type, in the order start, update, end of violation, then of incorrect.</summary>
    public static readonly IReadOnlyList<string> All = [ViolationStart, ViolationUpdate, ViolationEnd, IncorrectStart, IncorrectUpdate, IncorrectEnd];

    public static bool IsStart(string type) => type is ViolationStart or IncorrectStart;
    public static bool IsUpdate(string type) => type is ViolationUpdate or IncorrectUpdate;
    public static bool IsEnd(string type) => type is ViolationEnd or IncorrectEnd;
    public static bool IsIncorrect(string type) => type is IncorrectStart or IncorrectUpdate or IncorrectEnd;

    /// <summary>The <c>violation.*</c> type of the same step (start, update or end): what a version 1 document says.</summary>
    public static string AsViolation(string type) => type switch
    {
        IncorrectStart => ViolationStart,
        IncorrectUpdate => ViolationUpdate,
        IncorrectEnd => ViolationEnd,
        _ => type,
    };
}

/// <summary>The size of the frame the face was seen in, so normalized coordinates can be checked.</summary>
public sealed record EventFrame(int Width, int Height);

/// <summary>The face: box <c>[x1, y1, x2, y2]</c> in pixels and normalized to 0..1, 5 landmarks <c>[x, y]</c> in pixels, detector score.</summary>
public sealed record EventFace(float[] Box, float[] BoxNormalized, float[][] Landmarks, float Score);

/// <summary>
/// The classification evidence: label and its probability, and the K-of-N window behind it (<see cref="FramesUnmasked"/>:
/// frames of the window that count against the person). Version 2 adds every class probability.
/// </summary>
public sealed record EventMask(string Label, float Probability, int FramesObserved, int FramesUnmasked)
{
    /// <summary>p of each class (version 2; null in version 1 documents).</summary>
    public EventProbabilities? Probabilities { get; init; }
}

/// <summary>
/// The classifier's three probabilities, keyed by label as in <c>mask.label</c>. <see cref="Incorrect"/> is null for a
/// two-class model, which cannot tell a badly worn mask from none.
/// </summary>
public sealed record EventProbabilities(
    [property: JsonPropertyName("mask")] float Mask,
    [property: JsonPropertyName("no_mask")] float NoMask,
    [property: JsonPropertyName("incorrect")] float? Incorrect);

/// <summary>Whether a snapshot exists, its id and the MQTT topic it was published on, and whether faces were blurred.</summary>
public sealed record EventSnapshot(bool Available, string? Id, string? Topic, bool Blurred)
{
    public static EventSnapshot None { get; } = new(false, null, null, false);
}

/// <summary>
/// Periodic camera statistics on <c>edgemask/&lt;device&gt;/&lt;camera&gt;/stats</c> and IoT Hub output <c>stats</c>. Version 2
/// adds <see cref="FacesByLabel"/>; every member of version 1 keeps its meaning
/// (<see cref="EventContract.ToVersion1(CameraStats)"/> only leaves the new member out).
/// </summary>
public sealed record CameraStats
{
    public const string SchemaName = "edgemask.stats/2";
    public const string SchemaNameV1 = "edgemask.stats/1";

    public string Schema { get; init; } = SchemaName;
    public required string Device { get; init; }
    public required string Camera { get; init; }
    public required DateTimeOffset At { get; init; }
    public required double IntervalSeconds { get; init; }
    public required double FramesPerSecond { get; init; }
    public required LatencyStats LatencyMs { get; init; }
    public required long FramesProcessed { get; init; }
    public required long DroppedFrames { get; init; }
    public required long FacesSeen { get; init; }
    /// <summary>
    /// Classified faces not properly masked as the violation policy counts them: no mask, and a badly worn mask unless
    /// <c>violation.incorrectCounts</c> is compliant (what version 1 meant, when its classifier called those no_mask).
    /// </summary>
    public required long FacesUnmasked { get; init; }
    /// <summary>Classified faces by the classifier's label (version 2): the split behind <see cref="ComplianceRate"/>.</summary>
    public LabelCounts? FacesByLabel { get; init; }
    /// <summary>
    /// Compliant faces / classified faces in the interval, compliant as the violation policy counts it (a badly worn mask
    /// is compliant only with <c>violation.incorrectCounts: compliant</c>); null when no face was classified.
    /// </summary>
    public double? ComplianceRate { get; init; }
    public required int ActiveViolations { get; init; }
    public string? CameraHealth { get; init; }
    public string? ExecutionProvider { get; init; }
    public long? OutboxDepth { get; init; }
}

public sealed record LatencyStats(double P50, double P95, double Max);

/// <summary>Faces per classifier label, keyed as in <c>mask.label</c>; they add up to the classified faces.</summary>
public sealed record LabelCounts(
    [property: JsonPropertyName("mask")] long Mask,
    [property: JsonPropertyName("no_mask")] long NoMask,
    [property: JsonPropertyName("incorrect")] long Incorrect);

/// <summary>Device presence on <c>edgemask/&lt;device&gt;/status</c>: retained <c>online</c>, last will <c>offline</c>.</summary>
public sealed record DeviceStatus
{
    public const string SchemaName = "edgemask.status/1";

    public string Schema { get; init; } = SchemaName;
    public required string Device { get; init; }
    public required string State { get; init; }
    public required DateTimeOffset At { get; init; }
    public string? Version { get; init; }
    public string? ExecutionProvider { get; init; }
    public IReadOnlyList<CameraHealthReport>? Cameras { get; init; }
}

/// <summary>A camera's health: <c>ok</c>, <c>reconnecting</c>, <c>failed</c>, with the last error and outage count.</summary>
public sealed record CameraHealthReport(string Camera, string Health, DateTimeOffset? LastFrameAt, string? LastError, int Reconnects);

/// <summary>MQTT topics of the contract, built in one place.</summary>
public static class Topics
{
    public static string Events(string device, string camera) => $"edgemask/{device}/{camera}/events";
    public static string Stats(string device, string camera) => $"edgemask/{device}/{camera}/stats";
    public static string Snapshot(string device, string camera) => $"edgemask/{device}/{camera}/snapshot";
    public static string Status(string device) => $"edgemask/{device}/status";
}

/// <summary>The one JSON dialect of every contract: camelCase, UTF-8, nulls omitted, ISO-8601 times.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(MaskEvent))]
[JsonSerializable(typeof(CameraStats))]
[JsonSerializable(typeof(DeviceStatus))]
public sealed partial class EventJsonContext : JsonSerializerContext
{
    public static byte[] Serialize(MaskEvent e) => JsonSerializer.SerializeToUtf8Bytes(e, Default.MaskEvent);
    public static byte[] Serialize(CameraStats s) => JsonSerializer.SerializeToUtf8Bytes(s, Default.CameraStats);
    public static byte[] Serialize(DeviceStatus s) => JsonSerializer.SerializeToUtf8Bytes(s, Default.DeviceStatus);

    public static MaskEvent DeserializeEvent(ReadOnlySpan<byte> utf8) =>
        JsonSerializer.Deserialize(utf8, Default.MaskEvent) ?? throw new JsonException("The event document is null.");
}
