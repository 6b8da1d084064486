namespace EdgeMask.Messaging.Outbox;

/// <summary>What to do when the outbox file exists but is not a readable SQLite database.</summary>
public enum OutboxCorruptPolicy
{
    /// <summary>Move the file aside (<c>&lt;path&gt;.corrupt-&lt;UTC time&gt;</c>), log an error, start empty: a device keeps running unattended.</summary>
    Quarantine,
    /// <summary>Throw <see cref="OutboxCorruptException"/>: the process stops and an operator decides.</summary>
    Fail,
}

/// <summary>A destination the outbox keeps messages for, and which kinds of messages it takes.</summary>
/// <param name="Name">Stable name, also the <see cref="IOutboxTransport.Destination"/> of its transport (<c>mqtt</c>, <c>iothub</c>).</param>
/// <param name="Kinds">Kinds routed to it; a message is stored once and delivered to every destination whose kinds include it.</param>
public sealed record OutboxDestination(string Name, OutboxKinds Kinds = OutboxKinds.All);

/// <summary>
/// Options of the SQLite outbox (configuration section <c>Outbox</c>). Two bounded lanes: snapshots (large JPEGs) have their own
/// limits so a burst of snapshots can never push events out.
/// </summary>
public sealed record OutboxOptions
{
    /// <summary>The SQLite file; its folder is created. Default <c>edgemask-outbox.db</c> in the working directory.</summary>
    public string Path { get; init; } = "edgemask-outbox.db";

    /// <summary>Destinations to keep messages for. Rows of destinations no longer listed are discarded at open (logged).</summary>
    public IReadOnlyList<OutboxDestination> Destinations { get; init; } = [new("mqtt")];

    /// <summary>Most events + stats + status messages kept; the oldest is dropped first. Default 100 000.</summary>
    public int MaxMessages { get; init; } = 100_000;

    /// <summary>Most payload bytes of events + stats + status kept. Default 256 MiB.</summary>
    public long MaxBytes { get; init; } = 256L * 1024 * 1024;

    /// <summary>Most snapshots kept. Default 200.</summary>
    public int MaxSnapshots { get; init; } = 200;

    /// <summary>Most snapshot bytes kept. Default 64 MiB.</summary>
    public long MaxSnapshotBytes { get; init; } = 64L * 1024 * 1024;

    /// <summary>Largest single payload accepted (bigger ones are refused and counted). Default 1 MiB.</summary>
    public int MaxPayloadBytes { get; init; } = 1024 * 1024;

    /// <summary>What to do with a corrupt file. Default <see cref="OutboxCorruptPolicy.Quarantine"/>.</summary>
    public OutboxCorruptPolicy OnCorrupt { get; init; } = OutboxCorruptPolicy.Quarantine;

    /// <summary>How long to wait for a lock held by someone else before <see cref="OutboxLockedException"/>. Default 5 s.</summary>
    public TimeSpan BusyTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// <c>true</c> (default): every commit is fsynced (SQLite <c>synchronous=FULL</c>), so an enqueued message survives a power cut.
    /// <c>false</c>: <c>synchronous=NORMAL</c>, faster on slow flash; a power cut may lose the last commits, a process crash still loses nothing.
    /// </summary>
    public bool SyncEveryCommit { get; init; } = true;

    /// <summary>Checks every value; throws <see cref="MessagingOptionsException"/> naming the key (under <paramref name="section"/>).</summary>
    public void Validate(string section = "Outbox")
    {
        if (string.IsNullOrWhiteSpace(Path)) throw new MessagingOptionsException($"{section}:Path", "must name a file.");
        if (Destinations is null || Destinations.Count == 0)
            throw new MessagingOptionsException($"{section}:Destinations", "needs at least one destination (e.g. mqtt).");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < Destinations.Count; i++)
        {
            var d = Destinations[i];
            if (d is null || string.IsNullOrWhiteSpace(d.Name))
                throw new MessagingOptionsException($"{section}:Destinations:{i}:Name", "must not be empty.");
            if (!seen.Add(d.Name))
                throw new MessagingOptionsException($"{section}:Destinations:{i}:Name", $"'{d.Name}' is listed twice.");
            if (d.Kinds == OutboxKinds.None || (d.Kinds & ~OutboxKinds.All) != 0)
                throw new MessagingOptionsException($"{section}:Destinations:{i}:Kinds", $"'{d.Kinds}' is not a set of Event, Stats, Snapshot, Status.");
        }
        if (MaxMessages < 1) throw new MessagingOptionsException($"{section}:MaxMessages", $"must be at least 1 (was {MaxMessages}).");
        if (MaxBytes < 1024) throw new MessagingOptionsException($"{section}:MaxBytes", $"must be at least 1024 (was {MaxBytes}).");
        if (MaxSnapshots < 0) throw new MessagingOptionsException($"{section}:MaxSnapshots", $"must not be negative (was {MaxSnapshots}).");
        if (MaxSnapshotBytes < 0) throw new MessagingOptionsException($"{section}:MaxSnapshotBytes", $"must not be negative (was {MaxSnapshotBytes}).");
        if (MaxPayloadBytes < 1024) throw new MessagingOptionsException($"{section}:MaxPayloadBytes", $"must be at least 1024 (was {MaxPayloadBytes}).");
        if (MaxPayloadBytes > MaxBytes)
            throw new MessagingOptionsException($"{section}:MaxPayloadBytes", $"must not exceed {section}:MaxBytes ({MaxBytes}).");
        if (!Enum.IsDefined(OnCorrupt)) throw new MessagingOptionsException($"{section}:OnCorrupt", $"'{OnCorrupt}' is not Quarantine or Fail.");
        if (BusyTimeout < TimeSpan.Zero || BusyTimeout > TimeSpan.FromMinutes(5))
            throw new MessagingOptionsException($"{section}:BusyTimeout", $"must be between 0 and 5 minutes (was {BusyTimeout}).");
    }
}
