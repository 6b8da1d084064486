using EdgeMask.Core.Events;
using EdgeMask.Messaging.Broker;
using EdgeMask.Messaging.Mqtt;
using EdgeMask.Messaging.Outbox;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMask.Messaging;

/// <summary>
/// Everything of store-and-forward publishing in one options record (configuration root of the messaging part).
/// <see cref="Mqtt"/> null and <see cref="EmbeddedBroker"/> set (the default) = start the in-process broker and publish to it.
/// </summary>
public sealed record StoreAndForwardOptions
{
    /// <summary>Device id used in every topic.</summary>
    public required string Device { get; init; }

    public OutboxOptions Outbox { get; init; } = new();
    public OutboxDrainerOptions Drain { get; init; } = new();

    /// <summary>An external broker; null = use <see cref="EmbeddedBroker"/> (or no MQTT at all when that is null too).</summary>
    public MqttPublisherOptions? Mqtt { get; init; }

    /// <summary>The in-process broker started when <see cref="Mqtt"/> is null. Default 127.0.0.1:1883. Null = no MQTT destination.</summary>
    public EmbeddedBrokerOptions? EmbeddedBroker { get; init; } = new();

    /// <summary>In-memory queue of the pipeline-facing publisher.</summary>
    public int QueueCapacity { get; init; } = 4096;
}

/// <summary>Counters of one destination: what <c>/metrics</c> exports.</summary>
public sealed record DestinationMetrics(string Destination, bool Connected, long Depth, long Published, long Dropped, long Rejected, long Failures);

/// <summary>Counters of the messaging part: what <c>/metrics</c> exports.</summary>
/// <param name="Accepted">Messages the pipeline handed over.</param>
/// <param name="LostBeforeOutbox">Lost before the outbox (in-memory queue overflow or failed disk write).</param>
/// <param name="DroppedByBound">Pushed out of the outbox by its bound (oldest first).</param>
/// <param name="Refused">Refused by the outbox (payload too large, or no destination takes the kind).</param>
public sealed record MessagingMetrics(long Accepted, long LostBeforeOutbox, long DroppedByBound, long Refused, long StoredMessages, long StoredBytes,
    IReadOnlyList<DestinationMetrics> Destinations);

/// <summary>
/// The composition root of store-and-forward: starts (in this order) the embedded broker if needed, the outbox, the MQTT publisher,
/// one drainer per transport and the pipeline-facing <see cref="Publisher"/>; disposes them in reverse, storing what is queued.
/// Owns everything it creates; does not own the additional transports passed in (e.g. the IoT Hub client).
/// </summary>
public sealed class StoreAndForward : IAsyncDisposable
{
    private readonly List<OutboxDrainer> _drainers;
    private readonly IReadOnlyList<IOutboxTransport> _transports;
    private int _disposed;

    private StoreAndForward(EmbeddedBroker? broker, SqliteOutbox outbox, MqttPublisher? mqtt, IReadOnlyList<IOutboxTransport> transports,
        List<OutboxDrainer> drainers, EventPublisher publisher)
    {
        Broker = broker;
        Outbox = outbox;
        Mqtt = mqtt;
        _transports = transports;
        _drainers = drainers;
        Publisher = publisher;
    }

    /// <summary>The in-process broker, when one was started.</summary>
    public EmbeddedBroker? Broker { get; }

    public SqliteOutbox Outbox { get; }

    /// <summary>The MQTT transport, when an MQTT destination is configured.</summary>
    public MqttPublisher? Mqtt { get; }

    /// <summary>What the pipeline calls: <c>Enqueue(MaskEvent)</c>, <c>Enqueue(CameraStats)</c>, <c>EnqueueSnapshot(...)</c>.</summary>
    public EventPublisher Publisher { get; }

    public IReadOnlyList<OutboxDrainer> Drainers => _drainers;

    /// <summary>
    /// Starts everything. Outbox destinations are the transports' names (<c>mqtt</c> plus each additional transport's); the kinds each
    /// takes come from <see cref="OutboxOptions.Destinations"/> when listed there, else all kinds for <c>mqtt</c> and events + stats
    /// for the others (the IoT Hub outputs of issue 5; messages there are limited to 256 KB: no JPEGs).
    /// </summary>
    /// <param name="statusFactory">Called with the <b>state</b> (<c>online</c>/<c>offline</c>) to build the status document with extra
    /// details (version, execution provider, cameras); <c>device</c> and <c>state</c> are always overwritten by the publisher.</param>
    public static async Task<StoreAndForward> StartAsync(StoreAndForwardOptions options, IEnumerable<IOutboxTransport>? additionalTransports = null,
        ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null, Func<string, DeviceStatus>? statusFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var lf = loggerFactory ?? NullLoggerFactory.Instance;
        var time = timeProvider ?? TimeProvider.System;
        var extra = additionalTransports?.ToList() ?? [];
        options.Outbox.Validate();
        options.Drain.Validate();
        if (options.Mqtt is null) options.EmbeddedBroker?.Validate();

        EmbeddedBroker? broker = null;
        SqliteOutbox? outbox = null;
        MqttPublisher? mqtt = null;
        var drainers = new List<OutboxDrainer>();
        EventPublisher? publisher = null;
        try
        {
            var mqttOptions = options.Mqtt;
            if (mqttOptions is null && options.EmbeddedBroker is { } eb)
            {
                broker = await EmbeddedBroker.StartAsync(eb, lf.CreateLogger<EmbeddedBroker>()).ConfigureAwait(false);
                mqttOptions = new MqttPublisherOptions { Device = options.Device, Host = eb.Address, Port = eb.Port };
            }
            mqttOptions?.Validate();

            var names = new List<string>();
            if (mqttOptions is not null) names.Add(mqttOptions.Destination);
            names.AddRange(extra.Select(t => t.Destination));
            if (names.Count == 0)
                throw new MessagingOptionsException("Mqtt", "no destination: configure Mqtt, EmbeddedBroker or another transport.");
            var dup = names.GroupBy(n => n).FirstOrDefault(g => g.Count() > 1);
            if (dup is not null) throw new MessagingOptionsException("Outbox:Destinations", $"two transports use the destination name '{dup.Key}'.");
            var configured = options.Outbox.Destinations;
            for (var i = 0; i < configured.Count; i++)
                if (!names.Contains(configured[i].Name) && !(configured[i].Name == "mqtt" && mqttOptions is null))
                    throw new MessagingOptionsException($"Outbox:Destinations:{i}:Name", $"'{configured[i].Name}' has no transport (transports: {string.Join(", ", names)}).");
            var destinations = names.Select(n => configured.FirstOrDefault(d => d.Name == n)
                ?? new OutboxDestination(n, n == mqttOptions?.Destination ? OutboxKinds.All : OutboxKinds.Event | OutboxKinds.Stats)).ToArray();

            outbox = new SqliteOutbox(options.Outbox with { Destinations = destinations }, lf.CreateLogger<SqliteOutbox>(), time);
            var transports = new List<IOutboxTransport>();
            if (mqttOptions is not null)
            {
                mqtt = new MqttPublisher(mqttOptions, time, lf.CreateLogger<MqttPublisher>(), statusFactory);
                transports.Add(mqtt);
            }
            transports.AddRange(extra);
            foreach (var t in transports)
                drainers.Add(new OutboxDrainer(outbox, t, options.Drain, time, lf.CreateLogger<OutboxDrainer>()));
            publisher = new EventPublisher(outbox, new EventPublisherOptions { Device = options.Device, QueueCapacity = options.QueueCapacity },
                lf.CreateLogger<EventPublisher>());
            // Built first, started in dependency order: what consumes the outbox before what fills it.
            mqtt?.Start();
            foreach (var d in drainers) d.Start();
            publisher.Start();
            return new StoreAndForward(broker, outbox, mqtt, transports, drainers, publisher);
        }
        catch
        {
            // Undo what was started, in reverse order, then report the original failure.
            if (publisher is not null) await publisher.DisposeAsync().ConfigureAwait(false);
            foreach (var d in drainers) await d.DisposeAsync().ConfigureAwait(false);
            if (mqtt is not null) await mqtt.DisposeAsync().ConfigureAwait(false);
            outbox?.Dispose();
            if (broker is not null) await broker.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Completes when everything queued so far is stored and every destination acknowledged everything (tests, shutdown).</summary>
    public async Task WaitUntilDrainedAsync(CancellationToken cancellationToken)
    {
        await Publisher.FlushAsync(cancellationToken).ConfigureAwait(false);
        foreach (var d in _drainers) await d.WaitUntilDrainedAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A snapshot of all counters.</summary>
    public MessagingMetrics GetMetrics()
    {
        var s = Outbox.GetStatistics();
        var perDestination = _drainers.Select((d, i) =>
        {
            var st = s.Destinations.First(x => x.Destination == d.Destination);
            return new DestinationMetrics(d.Destination, _transports[i].IsConnected, st.Depth, d.Published, st.Dropped, d.Rejected, d.Failures);
        }).ToArray();
        return new MessagingMetrics(Publisher.Accepted, Publisher.Dropped, s.DroppedByBound, Publisher.Refused,
            s.StoredMessages, s.StoredBytes, perDestination);
    }

    /// <summary>
    /// A clean stop: stores what is queued, gives the destinations until <paramref name="drainDeadline"/> to acknowledge the
    /// backlog (a device is given seconds to stop; what is not delivered stays in the outbox for the next start), stops
    /// draining, publishes the retained <c>offline</c> status (bounded by <paramref name="cancellationToken"/>), closes the
    /// outbox and stops the embedded broker. Returns the messages left undelivered.
    /// </summary>
    public async Task<long> StopAsync(TimeSpan drainDeadline, CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return 0;
        await Publisher.DisposeAsync().ConfigureAwait(false);
        if (drainDeadline > TimeSpan.Zero)
        {
            using var drain = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            drain.CancelAfter(drainDeadline);
            try
            {
                foreach (var d in _drainers) await d.WaitUntilDrainedAsync(drain.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Out of time: the rest is on disk and goes first at the next start.
            }
        }
        long left = _drainers.Sum(d => d.Depth);
        foreach (var d in _drainers) await d.DisposeAsync().ConfigureAwait(false);
        if (Mqtt is not null) await Mqtt.StopAsync(cancellationToken).ConfigureAwait(false);
        Outbox.Dispose();
        if (Broker is not null) await Broker.DisposeAsync().ConfigureAwait(false);
        return left;
    }

    /// <summary>Stores what is queued, stops draining (undelivered messages stay in the outbox for the next start), publishes the
    /// retained <c>offline</c> status, closes the outbox and stops the embedded broker.</summary>
    public async ValueTask DisposeAsync() => await StopAsync(TimeSpan.Zero, CancellationToken.None).ConfigureAwait(false);
}
