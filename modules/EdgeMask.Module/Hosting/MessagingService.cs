using EdgeMask.Core.Events;
using EdgeMask.Inference.Runtime;
using EdgeMask.Messaging;
using EdgeMask.Messaging.Broker;
using EdgeMask.Messaging.Mqtt;
using EdgeMask.Messaging.Outbox;
using EdgeMask.Module.Configuration;
using EdgeMask.Module.Pipeline;
using EdgeMask.Module.Sources;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace EdgeMask.Module.Hosting;

/// <summary>The cameras' health, as the messaging part puts it in the device status (filled by the camera supervisor).</summary>
public sealed class CameraHealthBoard
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Func<CameraHealth>> _cameras = new(StringComparer.Ordinal);

    public void Set(string camera, Func<CameraHealth> health)
    {
        lock (_gate) _cameras[camera] = health;
    }

    public void Remove(string camera)
    {
        lock (_gate) _cameras.Remove(camera);
    }

    public IReadOnlyList<CameraHealthReport> Reports()
    {
        List<Func<CameraHealth>> all;
        lock (_gate) all = _cameras.OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => c.Value).ToList();
        return all.Select(h => h().ToReport()).ToList();
    }
}

/// <summary>
/// Store-and-forward publishing for the whole process: the SQLite outbox, the embedded broker (or the external broker's
/// client), one drainer per destination (MQTT, and IoT Hub for the module) and the publisher the cameras hand their
/// events to. Made once: a configuration change restarts it only when the <c>device</c>, <c>mqtt</c> or <c>outbox</c>
/// section changed — every other change leaves the broker and its subscribers alone.
/// </summary>
/// <remarks>
/// It is also the cameras' sink for events, stats and snapshot JPEGs: while it restarts, what they hand over is held in
/// memory and stored as soon as the new outbox is open, so a restart loses nothing. Owns the
/// <see cref="StoreAndForward"/> it starts; not the additional transports (the IoT Hub client is the module's).
/// </remarks>
public sealed class MessagingService : IHostedService, IPipelineSink
{
    /// <summary>Messages held while the messaging part restarts; beyond this the oldest are dropped and counted.</summary>
    private const int MaxHeld = 10_000;

    private readonly DeviceHostSettings _host;
    private readonly CameraHealthBoard _cameras;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly ModelService _models;
    private readonly Lock _gate = new();
    private readonly Queue<Action<EventPublisher>> _held = new();
    private EdgeMaskOptions _options;
    private PublishedContract _contract;
    private StoreAndForward? _current;
    private bool _restarting;
    private long _lostWhileRestarting;

    public MessagingService(EdgeMaskOptions options, DeviceHostSettings host, CameraHealthBoard cameras, ModelService models,
        ILoggerFactory loggers, TimeProvider time)
    {
        _options = options;
        _contract = ContractOf(options);
        _host = host;
        _cameras = cameras;
        _models = models;
        _loggers = loggers;
        _logger = loggers.CreateLogger("edgemask.messaging");
        _time = time;
    }

    /// <summary>The running store-and-forward part (null when nothing is configured to publish to, or while restarting).</summary>
    public StoreAndForward? Current
    {
        get { lock (_gate) return _current; }
    }

    /// <summary>Times the messaging part was (re)started.</summary>
    public int Starts { get; private set; }

    /// <summary>Messages waiting in the outbox over all destinations (null without an outbox).</summary>
    public long? OutboxDepth()
    {
        var current = Current;
        return current?.GetMetrics().Destinations.Sum(d => d.Depth);
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var started = await StartCoreAsync(_options).ConfigureAwait(false);
        lock (_gate) _current = started;
    }

    /// <summary>Whether going from the options in force to <paramref name="next"/> needs a restart of this part.</summary>
    public bool NeedsRestart(EdgeMaskOptions next) =>
        next.Device != _options.Device || !SameOptions.As(next.Mqtt, _options.Mqtt) || !SameOptions.As(next.Outbox, _options.Outbox);

    /// <summary>
    /// Stops the running part (what is queued goes to the outbox; undelivered messages stay there) and starts it with
    /// <paramref name="next"/>. If that fails, the previous configuration is started again and the error thrown.
    /// </summary>
    public async Task RestartAsync(EdgeMaskOptions next, CancellationToken cancellationToken)
    {
        StoreAndForward? old;
        lock (_gate)
        {
            old = _current;
            _current = null;
            _restarting = true;
        }
        if (old is not null) await old.StopAsync(TimeSpan.Zero, cancellationToken).ConfigureAwait(false);
        StoreAndForward? started;
        try
        {
            started = await StartCoreAsync(next).ConfigureAwait(false);
            _options = next;
        }
        catch (Exception ex) when (IsStartFailure(ex))
        {
            _logger.LogError("Messaging cannot start with the new configuration ({Error}); starting the previous one again", ex.Message);
            started = await StartCoreAsync(_options).ConfigureAwait(false);
            Resume(started);
            throw;
        }
        Resume(started);
    }

    internal static bool IsStartFailure(Exception ex) =>
        ex is MessagingOptionsException or BrokerStartException or OutboxLockedException or OutboxStorageException or OutboxCorruptException or IOException;

    private void Resume(StoreAndForward? started)
    {
        lock (_gate)
        {
            _current = started;
            _restarting = false;
            if (started is not null)
                while (_held.TryDequeue(out var post)) post(started.Publisher);
            _held.Clear();
        }
    }

    private async Task<StoreAndForward?> StartCoreAsync(EdgeMaskOptions o)
    {
        if (!o.Mqtt.Enabled && _host.AdditionalTransports.Count == 0) return null;
        var mqtt = o.Mqtt;
        MqttPublisherOptions? external = !mqtt.Enabled || mqtt.Host is null ? null : new MqttPublisherOptions
        {
            Device = o.Device,
            Host = mqtt.Host,
            Port = mqtt.Port,
            ClientId = mqtt.ClientId,
            Username = mqtt.Username,
            Password = mqtt.Password,
            Tls = mqtt.Tls ? new MqttTlsOptions { CaFile = mqtt.CaFile, ClientCertificateFile = mqtt.ClientCertificateFile, ClientKeyFile = mqtt.ClientKeyFile } : null,
        };
        var options = new StoreAndForwardOptions
        {
            Device = o.Device,
            Outbox = o.Outbox,
            Mqtt = external,
            EmbeddedBroker = mqtt.Enabled && external is null ? new EmbeddedBrokerOptions { Address = mqtt.EmbeddedAddress, Port = mqtt.Port } : null,
        };
        string version = typeof(MessagingService).Assembly.GetName().Version?.ToString() ?? "0";
        string device = o.Device;
        // The publisher sets device and state itself (online, or offline for the last will); this adds what we know.
        var started = await StoreAndForward.StartAsync(options, _host.AdditionalTransports, _loggers, _time, state => new DeviceStatus
        {
            Device = device,
            State = state,
            At = _time.GetUtcNow(),
            Version = version,
            ExecutionProvider = _models.Generation > 0 ? _models.Current.ExecutionProvider : null,
            Cameras = _cameras.Reports(),
        }).ConfigureAwait(false);
        Starts++;
        if (started.Broker is not null)
            _logger.LogInformation("Embedded MQTT broker on {Address}:{Port}", o.Mqtt.EmbeddedAddress, o.Mqtt.Port);
        return started;
    }

    /// <summary>Completes when everything handed over so far was acknowledged by every destination (the end of a run).</summary>
    public async Task WaitUntilDrainedAsync(CancellationToken cancellationToken)
    {
        if (Current is { } current) await current.WaitUntilDrainedAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Stores what is queued, lets the destinations acknowledge the backlog until <see cref="DeviceHostSettings.StopDrainTimeout"/>
    /// (what is not delivered stays in the outbox, first in line at the next start), publishes the retained offline
    /// status and stops the broker.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        StoreAndForward? current;
        lock (_gate)
        {
            current = _current;
            _current = null;
        }
        if (current is null) return;
        long left = await current.StopAsync(_host.StopDrainTimeout, cancellationToken).ConfigureAwait(false);
        if (left > 0) _logger.LogInformation("{Pending} messages stay in the outbox for the next start", left);
    }

    // ---- the cameras' sink: never blocks; held while restarting

    /// <summary>
    /// Takes the contract section of <paramref name="next"/> (version, and how version 1 folds badly worn masks): a live
    /// setting, applied to every event and stats document handed over from now on, without a restart.
    /// </summary>
    public void ApplyContract(EdgeMaskOptions next) => Volatile.Write(ref _contract, ContractOf(next));

    private static PublishedContract ContractOf(EdgeMaskOptions o) => new(o.Contract.Version, o.Violation.IncorrectCounts);

    public void OnEvent(MaskEvent maskEvent)
    {
        var document = Volatile.Read(ref _contract).Project(maskEvent);
        Post(p => p.Enqueue(document));
    }

    public void OnStats(CameraStats stats)
    {
        var document = Volatile.Read(ref _contract).Project(stats);
        Post(p => p.Enqueue(document));
    }

    public void OnSnapshot(string camera, string snapshotId, byte[] jpeg) => Post(p => p.EnqueueSnapshot(camera, snapshotId, jpeg));

    /// <summary>Publishes the device status again (retained), e.g. when a camera's health changed.</summary>
    public void PublishStatus()
    {
        var current = Current;
        if (current?.Mqtt is null) return;
        current.Publisher.Enqueue(new DeviceStatus
        {
            Device = _options.Device,
            State = "online",
            At = _time.GetUtcNow(),
            Version = typeof(MessagingService).Assembly.GetName().Version?.ToString() ?? "0",
            ExecutionProvider = _models.Generation > 0 ? _models.Current.ExecutionProvider : null,
            Cameras = _cameras.Reports(),
        });
    }

    private void Post(Action<EventPublisher> post)
    {
        lock (_gate)
        {
            if (_current is { } current)
            {
                post(current.Publisher);
                return;
            }
            if (!_restarting) return;
            if (_held.Count >= MaxHeld)
            {
                _held.Dequeue();
                long n = ++_lostWhileRestarting;
                if ((n & (n - 1)) == 0) _logger.LogWarning("Messaging restart: {Lost} messages dropped from the hold queue so far", n);
            }
            _held.Enqueue(post);
        }
    }
}
