namespace EdgeMask.Messaging.Outbox;

/// <summary>What a message is; destinations subscribe to kinds (e.g. IoT Hub takes events and stats, not snapshots).</summary>
[Flags]
public enum OutboxKinds
{
    None = 0,
    Event = 1,
    Stats = 2,
    Snapshot = 4,
    Status = 8,
    All = Event | Stats | Snapshot | Status,
}

/// <summary>A message to store: everything a transport needs to publish it later, possibly after a restart.</summary>
/// <param name="Kind">Exactly one flag of <see cref="OutboxKinds"/>.</param>
/// <param name="Camera">Camera id, or null for device-wide messages (status).</param>
/// <param name="Topic">The MQTT topic (<see cref="EdgeMask.Core.Events.Topics"/>); other transports map <see cref="Kind"/> themselves.</param>
/// <param name="Payload">UTF-8 JSON for events/stats/status, JPEG bytes for snapshots.</param>
/// <param name="Qos">MQTT QoS, 0 or 1 (QoS 1 is the contract for events and stats).</param>
/// <param name="Retain">MQTT retain flag.</param>
/// <param name="MessageId">A stable id consumers de-duplicate by (event: <c>id:type:sequence</c>), or null.</param>
public sealed record OutboxEntry(
    OutboxKinds Kind,
    string? Camera,
    string Topic,
    ReadOnlyMemory<byte> Payload,
    int Qos = 1,
    bool Retain = false,
    string? MessageId = null);

/// <summary>A stored message as a destination's drainer reads it.</summary>
/// <param name="Sequence">Monotonically increasing over the life of the outbox file (SQLite AUTOINCREMENT never reuses a value).</param>
public sealed record OutboxMessage(
    long Sequence,
    OutboxKinds Kind,
    string? Camera,
    string Topic,
    ReadOnlyMemory<byte> Payload,
    int Qos,
    bool Retain,
    string? MessageId,
    DateTimeOffset CreatedAt)
{
    /// <summary>The MIME type of <see cref="Payload"/>: <c>image/jpeg</c> for snapshots, <c>application/json</c> otherwise.</summary>
    public string ContentType => Kind == OutboxKinds.Snapshot ? "image/jpeg" : "application/json";
}
