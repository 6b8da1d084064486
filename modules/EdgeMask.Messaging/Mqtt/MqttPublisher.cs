using System.Net.Security;
using System.Reflection;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Threading.Channels;
using EdgeMask.Core.Events;
using EdgeMask.Core.Resilience;
using EdgeMask.Messaging.Outbox;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using MQTTnet;
using MQTTnet.Exceptions;
using MQTTnet.Formatter;
using MQTTnet.Protocol;
using Polly;

namespace EdgeMask.Messaging.Mqtt;

/// <summary>
/// The MQTT side of store-and-forward: owns one MQTTnet client and keeps it connected (MQTTnet v5 has no managed client,
/// so the reconnect loop lives here, waiting through the device's one <see cref="RetryPolicy"/>: exponential, capped,
/// jittered). The constructor only builds; <see cref="Start"/> starts the connection loop, <see cref="DisposeAsync"/>
/// stops it. On every connect it registers the last will
/// (retained <c>offline</c> <see cref="DeviceStatus"/> on <c>edgemask/&lt;device&gt;/status</c>) and then publishes the retained
/// <c>online</c> status before it reports <see cref="IsConnected"/>, so no event overtakes the online status. A clean
/// <see cref="DisposeAsync"/> publishes a retained <c>offline</c> itself (a normal DISCONNECT suppresses the will).
/// As an <see cref="IOutboxTransport"/> its <see cref="PublishAsync"/> completes after the broker's PUBACK (QoS 1).
/// </summary>
public sealed class MqttPublisher : IOutboxTransport, IAsyncDisposable
{
    private readonly MqttPublisherOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Func<string, DeviceStatus> _statusFactory;
    private readonly IMqttClient _client;
    private readonly X509Certificate2Collection? _caCertificates;
    private readonly X509Certificate2Collection? _clientCertificates;
    private readonly Channel<bool> _disconnected = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private readonly CancellationTokenSource _stop = new();
    private readonly ResiliencePipeline _reconnect;
    private Task _loop = Task.CompletedTask;
    private int _started;
    private int _attemptsThisOutage;
    private volatile bool _ready;
    private long _connects, _failedAttempts;
    private int _disposed;

    /// <param name="options">Validated here (TLS files are loaded here too): throws <see cref="MessagingOptionsException"/>.</param>
    /// <param name="statusFactory">Called with the state (<c>online</c> or <c>offline</c>, not the device) to build the status document;
    /// default: device, state, time, assembly version. The pipeline can pass one that adds execution provider and camera health.
    /// Whatever it returns, <c>device</c> and <c>state</c> are overwritten with this publisher's device and the requested state.</param>
    public MqttPublisher(MqttPublisherOptions options, TimeProvider? timeProvider = null, ILogger<MqttPublisher>? logger = null,
        Func<string, DeviceStatus>? statusFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _time = timeProvider ?? TimeProvider.System;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _statusFactory = statusFactory ?? DefaultStatus;
        if (options.Tls is { } tls)
        {
            if (tls.CaFile is not null) _caCertificates = LoadCaCertificates(tls.CaFile);
            if (tls.ClientCertificateFile is not null) _clientCertificates = [LoadClientCertificate(tls)];
        }
        StatusTopic = Topics.Status(options.Device);
        _client = new MqttClientFactory().CreateMqttClient();
        _client.DisconnectedAsync += OnDisconnectedAsync;
        // Every failure to reach the broker is retried: broker down, DNS, refused credentials (they may be fixed on
        // the broker side). Only disposal (ObjectDisposedException) ends the loop.
        _reconnect = RetryPolicy.Create(new BackoffOptions { Initial = options.ReconnectMinDelay, Max = options.ReconnectMaxDelay }, _time,
            shouldRetry: e => e is not ObjectDisposedException, onRetry: OnConnectFailed);
    }

    /// <summary>Starts the connection loop (once); returns at once. <see cref="IsConnected"/> turns true when the broker accepted us.</summary>
    public void Start()
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (Interlocked.Exchange(ref _started, 1) != 0) throw new InvalidOperationException("The MQTT publisher is already started.");
        _loop = Task.Run(() => ConnectionLoopAsync(_stop.Token));
    }

    public string Destination => _options.Destination;

    /// <summary>True once connected and the retained <c>online</c> status was acknowledged; false while (re)connecting.</summary>
    public bool IsConnected => _ready && _client.IsConnected;

    /// <summary>Successful connections since start (1 after the first connect; more after reconnects).</summary>
    public long Connects => Interlocked.Read(ref _connects);

    /// <summary>Failed connection attempts since start.</summary>
    public long FailedConnectAttempts => Interlocked.Read(ref _failedAttempts);

    /// <summary><c>edgemask/&lt;device&gt;/status</c>.</summary>
    public string StatusTopic { get; }

    /// <summary>Raised (on an MQTTnet thread) when <see cref="IsConnected"/> changes. Keep handlers short.</summary>
    public event Action<bool>? ConnectionChanged;

    /// <summary>Completes once <see cref="IsConnected"/> is true. Polls every 50 ms: for start-up and tests.</summary>
    public async Task WaitUntilConnectedAsync(CancellationToken cancellationToken)
    {
        while (!IsConnected)
        {
            if (Volatile.Read(ref _started) == 0) throw new InvalidOperationException("The MQTT publisher is not started (call Start).");
            if (_loop.IsCompleted) throw new InvalidOperationException("The MQTT connection loop stopped.", _loop.Exception);
            await Task.Delay(TimeSpan.FromMilliseconds(50), _time, cancellationToken).ConfigureAwait(false);
        }
    }

    public async Task PublishAsync(OutboxMessage message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (!IsConnected) throw new OutboxTransportUnavailableException(Destination, $"not connected to the MQTT broker {_options.Host}:{_options.Port}.");
        var builder = new MqttApplicationMessageBuilder()
            .WithTopic(message.Topic)
            .WithPayloadSegment(message.Payload)
            .WithQualityOfServiceLevel((MqttQualityOfServiceLevel)message.Qos)
            .WithRetainFlag(message.Retain);
        if (_options.ProtocolVersion == MqttVersion.V500)
        {
            // Content type and payload format are MQTT 5 properties; MQTTnet throws if they are set on a 3.1.1 connection.
            builder.WithContentType(message.ContentType)
                .WithPayloadFormatIndicator(message.Kind == OutboxKinds.Snapshot ? MqttPayloadFormatIndicator.Unspecified : MqttPayloadFormatIndicator.CharacterData);
            // A JPEG carries no id of its own: the user property is how a consumer matches it to the event's snapshot.id.
            if (message.MessageId is not null) builder.WithUserProperty("id", System.Text.Encoding.UTF8.GetBytes(message.MessageId).AsMemory());
        }
        await SendAsync(builder.Build(), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Publishes a status document (retained, QoS 1) right now, outside the outbox: for an immediate health change.</summary>
    public Task PublishStatusAsync(DeviceStatus status, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(status);
        if (!_client.IsConnected) throw new OutboxTransportUnavailableException(Destination, "not connected to the MQTT broker.");
        return SendAsync(StatusMessage(status), cancellationToken);
    }

    /// <summary>How long a clean stop may spend on the <c>offline</c> status and the DISCONNECT: a device is given seconds to stop.</summary>
    public static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Stops reconnecting; if connected, publishes the retained <c>offline</c> status and disconnects cleanly, within
    /// <see cref="StopTimeout"/> or <paramref name="cancellationToken"/>, whichever comes first (then the broker
    /// publishes the last will instead). Then disposes the client.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        await StopLoopAsync().ConfigureAwait(false);
        if (_client.IsConnected)
        {
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(StopTimeout);
                await SendAsync(StatusMessage(Status("offline")), timeout.Token).ConfigureAwait(false);
                await _client.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().WithReason(MqttClientDisconnectOptionsReason.NormalDisconnection).Build(), timeout.Token)
                    .ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OutboxTransportUnavailableException or OutboxMessageRejectedException or MqttCommunicationException or OperationCanceledException)
            {
                // The broker will publish the last will instead; that is the point of having one.
                _logger.LogDebug(ex, "Clean MQTT disconnect failed; the broker will publish the last will");
            }
        }
        _client.Dispose();
    }

    /// <summary>As <see cref="StopAsync"/> with only its own time bound.</summary>
    public async ValueTask DisposeAsync() => await StopAsync(CancellationToken.None).ConfigureAwait(false);

    /// <summary>Test hook: drops the connection without a DISCONNECT packet, as a crashed process would, so the broker publishes the will.</summary>
    internal async ValueTask AbandonAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _client.DisconnectedAsync -= OnDisconnectedAsync;
        await StopLoopAsync().ConfigureAwait(false);
        _client.Dispose();
    }

    private async Task StopLoopAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _loop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // The loop ends by cancellation.
        }
    }

    private async Task SendAsync(MqttApplicationMessage message, CancellationToken cancellationToken)
    {
        // A wildcard or NUL in a topic name is a protocol error the broker answers by disconnecting: retrying would block the
        // queue for ever, so such a message is refused here.
        if (string.IsNullOrEmpty(message.Topic) || message.Topic.AsSpan().IndexOfAny("+#\0") >= 0)
            throw new OutboxMessageRejectedException(Destination, $"'{message.Topic}' is not a valid MQTT topic name (empty, or contains + # or NUL).");
        MqttClientPublishResult result;
        try
        {
            result = await _client.PublishAsync(message, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is MqttCommunicationException or MqttClientNotConnectedException
                                   || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            throw new OutboxTransportUnavailableException(Destination, $"publish to '{message.Topic}' not acknowledged: {ex.Message}", ex);
        }
        catch (MqttProtocolViolationException ex)
        {
            throw new OutboxMessageRejectedException(Destination, $"MQTT cannot carry this message: {ex.Message}", ex);
        }
        switch (result.ReasonCode)
        {
            case MqttClientPublishReasonCode.Success:
            case MqttClientPublishReasonCode.NoMatchingSubscribers:
                return;
            case MqttClientPublishReasonCode.NotAuthorized:
            case MqttClientPublishReasonCode.TopicNameInvalid:
            case MqttClientPublishReasonCode.PayloadFormatInvalid:
                throw new OutboxMessageRejectedException(Destination, $"broker answered {result.ReasonCode} for '{message.Topic}' {result.ReasonString}".TrimEnd());
            default:
                throw new OutboxTransportUnavailableException(Destination, $"broker answered {result.ReasonCode} for '{message.Topic}' {result.ReasonString}".TrimEnd());
        }
    }

    private async Task ConnectionLoopAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            if (!_client.IsConnected)
            {
                // One retry execution per outage: every outage starts again at the initial delay.
                await _reconnect.ExecuteAsync(static async (self, token) => await self.ConnectOnceAsync(token).ConfigureAwait(false), this, ct)
                    .ConfigureAwait(false);
                Interlocked.Increment(ref _connects);
                _ready = true;
                _logger.LogInformation("Connected to MQTT broker {Host}:{Port} as {ClientId} after {Attempts} attempt(s); status online on {StatusTopic}",
                    _options.Host, _options.Port, _options.EffectiveClientId, Interlocked.Exchange(ref _attemptsThisOutage, 0) + 1, StatusTopic);
                ConnectionChanged?.Invoke(true);
            }
            await _disconnected.Reader.ReadAsync(ct).ConfigureAwait(false);
        }
    }

    /// <summary>The retry policy calls this after each failed attempt, before it waits.</summary>
    private void OnConnectFailed(RetryAttempt attempt)
    {
        Interlocked.Increment(ref _failedAttempts);
        Interlocked.Increment(ref _attemptsThisOutage);
        // Only the first failure of an outage is a warning, to keep the log readable.
        if (attempt.Attempt == 1)
            _logger.LogWarning("Cannot connect to MQTT broker {Host}:{Port}: {Error}; retrying with backoff up to {MaxDelaySeconds:0} s",
                _options.Host, _options.Port, attempt.Error.Message, _options.ReconnectMaxDelay.TotalSeconds);
        else
            _logger.LogDebug("MQTT connection attempt {Attempt} to {Host}:{Port} failed: {Error}; next in {DelaySeconds:0.0} s", attempt.Attempt, _options.Host, _options.Port,
                attempt.Error.Message, attempt.Delay.TotalSeconds);
    }

    private async Task ConnectOnceAsync(CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(_options.ConnectTimeout);
        try
        {
            var result = await _client.ConnectAsync(BuildClientOptions(), timeout.Token).ConfigureAwait(false);
            if (result.ResultCode != MqttClientConnectResultCode.Success)
                throw new OutboxTransportUnavailableException(Destination, $"broker refused the connection: {result.ResultCode} {result.ReasonString}".TrimEnd());
            await SendAsync(StatusMessage(Status("online")), timeout.Token).ConfigureAwait(false);
        }
        catch (Exception) when (_client.IsConnected && !ct.IsCancellationRequested)
        {
            // Connected but the online status failed: drop the connection so the next attempt starts over.
            await _client.DisconnectAsync(new MqttClientDisconnectOptions(), CancellationToken.None).ConfigureAwait(false);
            throw;
        }
    }

    private MqttClientOptions BuildClientOptions()
    {
        var offline = EventJsonContext.Serialize(Status("offline"));
        var b = new MqttClientOptionsBuilder()
            .WithTcpServer(_options.Host, _options.Port)
            .WithClientId(_options.EffectiveClientId)
            .WithProtocolVersion(_options.ProtocolVersion == MqttVersion.V500 ? MqttProtocolVersion.V500 : MqttProtocolVersion.V311)
            .WithCleanStart(true)
            .WithKeepAlivePeriod(_options.KeepAlive)
            .WithTimeout(_options.PublishTimeout)
            // The will's "at" is the connect time: the payload is fixed when the broker accepts the connection.
            .WithWillTopic(StatusTopic)
            .WithWillPayload(offline)
            .WithWillRetain(true)
            .WithWillQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce);
        if (_options.ProtocolVersion == MqttVersion.V500) b.WithWillContentType("application/json");
        if (_options.Username is not null) b.WithCredentials(_options.Username, _options.Password ?? "");
        if (_options.Tls is { } tls)
        {
            b.WithTlsOptions(t =>
            {
                t.UseTls(true).WithTargetHost(tls.ServerName ?? _options.Host);
                if (_clientCertificates is not null) t.WithClientCertificates(_clientCertificates);
                t.WithCertificateValidationHandler(args => ValidateServerCertificate(args.Certificate, args.Chain, args.SslPolicyErrors, tls));
            });
        }
        return b.Build();
    }

    private bool ValidateServerCertificate(X509Certificate? certificate, X509Chain? presentedChain, SslPolicyErrors errors, MqttTlsOptions tls)
    {
        if (tls.AllowUntrustedCertificates) return true;
        if (certificate is null || (errors & (SslPolicyErrors.RemoteCertificateNotAvailable | SslPolicyErrors.RemoteCertificateNameMismatch)) != 0)
        {
            _logger.LogWarning("MQTT broker certificate rejected: {Errors}", errors);
            return false;
        }
        if (_caCertificates is null) return errors == SslPolicyErrors.None;
        // With a CA file the broker must chain to one of its certificates, and only to those (like mosquitto_pub --cafile).
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(_caCertificates);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (presentedChain is not null)
            foreach (var element in presentedChain.ChainElements) chain.ChainPolicy.ExtraStore.Add(element.Certificate);
        using var leaf = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        var ok = chain.Build(leaf);
        if (!ok)
            _logger.LogWarning("MQTT broker certificate {Subject} does not chain to Mqtt:Tls:CaFile: {Status}", leaf.Subject,
                string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim())));
        return ok;
    }

    private static X509Certificate2Collection LoadCaCertificates(string path)
    {
        var collection = new X509Certificate2Collection();
        try
        {
            var bytes = File.ReadAllBytes(path);
            var text = System.Text.Encoding.ASCII.GetString(bytes);
            if (text.Contains("-----BEGIN CERTIFICATE-----", StringComparison.Ordinal)) collection.ImportFromPem(text);
            else collection.Add(X509CertificateLoader.LoadCertificate(bytes));
        }
        catch (CryptographicException ex)
        {
            throw new MessagingOptionsException("Mqtt:Tls:CaFile", $"'{path}' is not a PEM or DER certificate: {ex.Message}");
        }
        if (collection.Count == 0) throw new MessagingOptionsException("Mqtt:Tls:CaFile", $"'{path}' contains no certificate.");
        return collection;
    }

    private static X509Certificate2 LoadClientCertificate(MqttTlsOptions tls)
    {
        var file = tls.ClientCertificateFile!;
        try
        {
            var ext = Path.GetExtension(file).ToLowerInvariant();
            if (ext is ".pfx" or ".p12")
                return X509CertificateLoader.LoadPkcs12FromFile(file, tls.ClientCertificatePassword);
            using var pem = X509Certificate2.CreateFromPemFile(file, tls.ClientKeyFile);
            // Round-trip through PKCS#12 so SslStream gets a key it can use on every platform.
            return X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
        }
        catch (CryptographicException ex)
        {
            throw new MessagingOptionsException("Mqtt:Tls:ClientCertificateFile",
                $"cannot load '{file}'{(tls.ClientKeyFile is null ? "" : $" with key '{tls.ClientKeyFile}'")}: {ex.Message}");
        }
    }

    private MqttApplicationMessage StatusMessage(DeviceStatus status)
    {
        var b = new MqttApplicationMessageBuilder()
            .WithTopic(StatusTopic)
            .WithPayload(EventJsonContext.Serialize(status))
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .WithRetainFlag(true);
        if (_options.ProtocolVersion == MqttVersion.V500) b.WithContentType("application/json");
        return b.Build();
    }

    /// <summary>The factory adds details (version, provider, cameras); device and state are always this publisher's, so a
    /// factory that ignores its argument still yields a correct <c>offline</c> will.</summary>
    private DeviceStatus Status(string state) => _statusFactory(state) with { Device = _options.Device, State = state };

    private DeviceStatus DefaultStatus(string state) => new()
    {
        Device = _options.Device,
        State = state,
        At = _time.GetUtcNow(),
        Version = typeof(MqttPublisher).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion,
    };

    private Task OnDisconnectedAsync(MqttClientDisconnectedEventArgs e)
    {
        var was = _ready;
        _ready = false;
        if (e.ClientWasConnected && Volatile.Read(ref _disposed) == 0)
        {
            _logger.LogWarning("Disconnected from MQTT broker {Host}:{Port}: {Reason} {Error}; reconnecting", _options.Host, _options.Port, e.Reason, e.Exception?.Message);
        }
        if (was) ConnectionChanged?.Invoke(false);
        _disconnected.Writer.TryWrite(true);
        return Task.CompletedTask;
    }
}
