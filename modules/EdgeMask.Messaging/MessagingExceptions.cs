namespace EdgeMask.Messaging;

/// <summary>An option of the messaging part has a bad value; <see cref="Key"/> names it (configuration path, e.g. <c>Mqtt:Tls:CaFile</c>).</summary>
public sealed class MessagingOptionsException(string key, string message)
    : Exception($"{key}: {message}")
{
    public string Key { get; } = key;
}

/// <summary>The outbox file is not a valid SQLite database (or fails its integrity check).</summary>
public sealed class OutboxCorruptException(string path, string reason, Exception? inner = null)
    : Exception($"The outbox database '{path}' is corrupt ({reason}). Move or delete the file to start with an empty outbox " +
                "(its undelivered messages are lost), or set Outbox:OnCorrupt to Quarantine to do that automatically.", inner)
{
    public string Path { get; } = path;
}

/// <summary>Another process (or another outbox instance in this one) holds the outbox database.</summary>
public sealed class OutboxLockedException(string path, Exception? inner = null)
    : Exception($"The outbox database '{path}' is locked by another process or outbox instance. Only one edgemask process may " +
                "use an outbox file: stop the other one or give this one its own Outbox:Path.", inner)
{
    public string Path { get; } = path;
}

/// <summary>The outbox database could not be opened or written for another reason (permissions, disk full, I/O error).</summary>
public sealed class OutboxStorageException(string path, string message, Exception? inner = null)
    : Exception($"Outbox database '{path}': {message}", inner)
{
    public string Path { get; } = path;
}

/// <summary>
/// Thrown by <see cref="Outbox.IOutboxTransport.PublishAsync"/> when the transport cannot take the message now (not connected,
/// connection lost before the acknowledgement, timeout). The drainer keeps the message and retries it later.
/// </summary>
public sealed class OutboxTransportUnavailableException(string destination, string message, Exception? inner = null)
    : Exception($"{destination}: {message}", inner)
{
    public string Destination { get; } = destination;
}

/// <summary>
/// Thrown by <see cref="Outbox.IOutboxTransport.PublishAsync"/> when the far end refused this message for good (not authorized,
/// invalid topic, payload too large). Retrying cannot help, so the drainer removes the message and counts it as rejected.
/// </summary>
public sealed class OutboxMessageRejectedException(string destination, string reason, Exception? inner = null)
    : Exception($"{destination} rejected the message: {reason}", inner)
{
    public string Destination { get; } = destination;
    public string Reason { get; } = reason;
}

/// <summary>The embedded MQTT broker could not start (port in use, address not available).</summary>
public sealed class BrokerStartException(string message, Exception? inner = null) : Exception(message, inner);
