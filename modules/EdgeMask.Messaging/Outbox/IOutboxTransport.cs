namespace EdgeMask.Messaging.Outbox;

/// <summary>
/// One destination the outbox drains into (MQTT broker, IoT Hub / edgeHub, …). An <see cref="OutboxDrainer"/> calls
/// <see cref="PublishAsync"/> with one message at a time, in outbox order, and removes the message from the outbox only when
/// the returned task completes successfully. The contract:
/// <list type="bullet">
/// <item><see cref="Destination"/> is a stable name (it keys the rows in the outbox file across restarts): <c>mqtt</c>, <c>iothub</c>.</item>
/// <item><see cref="PublishAsync"/> completes only after the far end has acknowledged the message (MQTT PUBACK for QoS 1;
/// for QoS 0, once written to the connection). It must not complete successfully for a message that was not handed over.</item>
/// <item>It throws <see cref="OutboxTransportUnavailableException"/> (or any other exception) when the message may be retried:
/// not connected, connection lost, timeout. The drainer backs off and re-sends the same message (so the far end may see a
/// duplicate, as QoS 1 allows; consumers de-duplicate by message id).</item>
/// <item>It throws <see cref="OutboxMessageRejectedException"/> when the message can never be delivered (not authorized,
/// invalid topic, too large): the drainer drops it and counts it as rejected instead of blocking the queue.</item>
/// <item><see cref="IsConnected"/> is cheap and thread-safe; the drainer does not call <see cref="PublishAsync"/> while it is false.
/// The transport owns its connection and reconnects by itself.</item>
/// <item>Calls are never concurrent for one transport instance (one in-flight message per destination keeps per-camera order).</item>
/// </list>
/// </summary>
public interface IOutboxTransport
{
    /// <summary>The destination name, e.g. <c>mqtt</c> or <c>iothub</c>; must match an entry of <see cref="OutboxOptions.Destinations"/>.</summary>
    string Destination { get; }

    /// <summary>Whether the transport can publish now.</summary>
    bool IsConnected { get; }

    /// <summary>Publishes one message and completes after the far end acknowledged it.</summary>
    Task PublishAsync(OutboxMessage message, CancellationToken cancellationToken);
}
