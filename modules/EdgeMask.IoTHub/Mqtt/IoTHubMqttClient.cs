using System.Buffers;
using System.Collections.Concurrent;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using EdgeMask.Core.Events;
using EdgeMask.IoTHub.Authentication;
using EdgeMask.IoTHub.Edge;
using EdgeMask.IoTHub.Methods;
using EdgeMask.IoTHub.Twin;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace EdgeMask.IoTHub.Mqtt;

/// <summary>
/// A module (or device) client for IoT Hub / edgeHub speaking the documented MQTT 3.1.1 protocol with MQTTnet:
/// client id <c>{device}/{module}</c>, user name <c>{hub}/{device}/{module}/?api-version=…</c>, SAS token as password,
/// TLS on 8883. It keeps itself connected (reconnect loop with exponential backoff, token renewed by reconnecting
/// before it expires) and follows the documented reconnection flow on every connect: subscribe to twin responses,
/// desired-property patches and method calls, then read the FULL twin.
/// </summary>
public sealed class IoTHubMqttClient : IAsyncDisposable
{
    private readonly IIoTHubCredentials _credentials;
    private readonly bool _ownsCredentials;
    private readonly IoTHubClientOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly IMqttClient _mqtt;
    private readonly DirectMethodDispatcher _methods;
    private readonly ConcurrentDictionary<string, TaskCompletionSource<TwinResponse>> _pendingTwin = new(StringComparer.Ordinal);
    private readonly Channel<DesiredWork> _desiredQueue = Channel.CreateUnbounded<DesiredWork>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Lock _stateGate = new();
    private readonly CancellationTokenSource _stop = new();
    private Func<DesiredPropertiesUpdate, CancellationToken, Task>? _desiredHandler;
    private TaskCompletionSource _connected = NewSignal();
    private TaskCompletionSource? _disconnectedSignal;
    private JsonObject? _desired;
    private long _desiredVersion = -1;
    private long _requestId;
    private int _connectCount;
    private Task? _connectionLoop;
    private Task? _desiredWorker;
    private int _started;
    private int _disposed;

    /// <param name="credentials">Token and trust source (connection string key or workload API).</param>
    /// <param name="shouldDispose">Whether this client disposes <paramref name="credentials"/> (when it is <see cref="IDisposable"/>).</param>
    public IoTHubMqttClient(IIoTHubCredentials credentials, bool shouldDispose, IoTHubClientOptions? options = null,
        ILogger<IoTHubMqttClient>? logger = null, TimeProvider? timeProvider = null)
    {
        _credentials = credentials ?? throw new ArgumentNullException(nameof(credentials));
        _ownsCredentials = shouldDispose;
        _options = (options ?? new IoTHubClientOptions()).Validate();
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _time = timeProvider ?? TimeProvider.System;
        _methods = new DirectMethodDispatcher(_logger, _options.MethodTimeout);
        _mqtt = new MqttClientFactory().CreateMqttClient();
        _mqtt.ApplicationMessageReceivedAsync += OnMessageAsync;
        _mqtt.DisconnectedAsync += OnDisconnectedAsync;
    }

    /// <summary>A client for a device or module connection string (tokens signed locally with its key).</summary>
    /// <param name="trustBundle">CA certificates of the gateway when the string has <c>GatewayHostName</c>; null for IoT Hub.</param>
    public static IoTHubMqttClient FromConnectionString(string connectionString, X509Certificate2Collection? trustBundle = null,
        IoTHubClientOptions? options = null, ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null) =>
        new(new SharedAccessKeyCredentials(IoTHubConnectionString.Parse(connectionString), trustBundle), shouldDispose: true,
            options, loggerFactory?.CreateLogger<IoTHubMqttClient>(), timeProvider);

    /// <summary>A client for this IoT Edge module, from the <c>IOTEDGE_*</c> environment (workload API signs, trust bundle anchors TLS).</summary>
    public static IoTHubMqttClient FromEdgeEnvironment(IoTHubClientOptions? options = null, ILoggerFactory? loggerFactory = null,
        TimeProvider? timeProvider = null, Func<string, string?>? getVariable = null) =>
        new(WorkloadApiCredentials.FromEnvironment(getVariable), shouldDispose: true, options,
            loggerFactory?.CreateLogger<IoTHubMqttClient>(), timeProvider);

    public IoTHubIdentity Identity => _credentials.Identity;

    /// <summary>
    /// The usual choice for a host: a connection string when one is given, else the IoT Edge module identity when the
    /// <c>IOTEDGE_*</c> environment is present.
    /// </summary>
    /// <exception cref="IoTHubConfigurationException">Neither a connection string nor the IoT Edge environment is available.</exception>
    public static IoTHubMqttClient Create(string? connectionString, X509Certificate2Collection? trustBundle = null,
        IoTHubClientOptions? options = null, ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null,
        Func<string, string?>? getVariable = null)
    {
        if (!string.IsNullOrWhiteSpace(connectionString))
        {
            return FromConnectionString(connectionString, trustBundle, options, loggerFactory, timeProvider);
        }

        if (IoTEdgeEnvironment.IsPresent(getVariable))
        {
            return FromEdgeEnvironment(options, loggerFactory, timeProvider, getVariable);
        }

        throw new IoTHubConfigurationException(IoTEdgeEnvironment.WorkloadUriVariable,
            "not set and no connection string given: run as an IoT Edge module, or pass a device/module connection string.");
    }


    public bool IsConnected => _connected.Task.IsCompletedSuccessfully && _mqtt.IsConnected;

    /// <summary>How many times a connection was established (first connect, reconnects, token renewals).</summary>
    public int ConnectCount => Volatile.Read(ref _connectCount);

    /// <summary>Why the last connection attempt failed; null after a success.</summary>
    public Exception? LastConnectionError { get; private set; }

    /// <summary>The last full desired document (patches merged) and its version; null before the first twin read.</summary>
    public (JsonObject? Desired, long Version) CurrentDesired
    {
        get
        {
            lock (_stateGate)
            {
                return (_desired?.DeepClone().AsObject(), _desiredVersion);
            }
        }
    }

    /// <summary>Registers a direct method handler (at any time; calls for unknown names are answered with 404).</summary>
    public void RegisterMethod(string methodName, DirectMethodHandler handler) => _methods.Register(methodName, handler);

    /// <summary>
    /// Sets the handler of desired properties: called with the full document after every twin read (every connect)
    /// and after every patch, one call at a time, in version order.
    /// </summary>
    public void OnDesiredPropertiesChanged(Func<DesiredPropertiesUpdate, CancellationToken, Task> handler) =>
        _desiredHandler = handler ?? throw new ArgumentNullException(nameof(handler));

    /// <summary>
    /// Wires the twin to a <see cref="TwinConfigurationApplier{TOptions}"/>: every desired document is validated and
    /// applied, and the outcome (plus <paramref name="statusSections"/>) is written to the reported properties.
    /// </summary>
    public void UseTwinConfiguration<TOptions>(TwinConfigurationApplier<TOptions> applier,
        Func<IReadOnlyDictionary<string, JsonNode?>>? statusSections = null) where TOptions : class
    {
        ArgumentNullException.ThrowIfNull(applier);
        OnDesiredPropertiesChanged(async (update, ct) =>
        {
            var result = applier.Apply(update.Desired, update.Version);
            if (result.Applied)
            {
                _logger.LogInformation("Twin configuration version {Version} applied", update.Version);
            }
            else
            {
                _logger.LogWarning("Twin configuration version {Version} rejected with {ErrorCount} errors; previous configuration kept",
                    update.Version, result.Errors.Count);
            }

            try
            {
                await UpdateReportedPropertiesAsync(applier.BuildReported(statusSections?.Invoke()), ct).ConfigureAwait(false);
            }
            catch (TwinOperationException e)
            {
                // The next connect re-reads the full twin, re-applies it and reports again, so nothing is lost.
                _logger.LogWarning(e, "Could not report the outcome of twin configuration version {Version}", update.Version);
            }
        });
    }

    /// <summary>Starts the connection loop in the background; see <see cref="WaitUntilConnectedAsync"/>.</summary>
    public Task StartAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (Interlocked.Exchange(ref _started, 1) != 0)
        {
            throw new InvalidOperationException("The client is already started.");
        }

        _desiredWorker = Task.Run(() => DesiredWorkerAsync(_stop.Token), CancellationToken.None);
        _connectionLoop = Task.Run(() => ConnectionLoopAsync(_stop.Token), CancellationToken.None);
        return Task.CompletedTask;
    }

    /// <summary>Completes when the client is connected and subscribed (immediately when it already is).</summary>
    public Task WaitUntilConnectedAsync(CancellationToken cancellationToken) =>
        CurrentConnectedSignal().WaitAsync(cancellationToken);

    /// <summary>Reads the full twin (<c>$iothub/twin/GET/?$rid=N</c> → 200 with <c>{"desired":…,"reported":…}</c>).</summary>
    public async Task<TwinDocument> GetTwinAsync(CancellationToken cancellationToken)
    {
        var response = await TwinRequestAsync(IoTHubTopics.TwinGet, ReadOnlyMemory<byte>.Empty, cancellationToken).ConfigureAwait(false);
        if (response.Status != 200)
        {
            throw new TwinOperationException($"Twin GET answered {response.Status}.", response.Status);
        }

        if (!System.Text.Unicode.Utf8.IsValid(response.Body))
        {
            throw new TwinOperationException("The twin document is not valid UTF-8.", response.Status);
        }

        try
        {
            using var doc = JsonDocument.Parse(response.Body);
            var root = doc.RootElement;
            var desired = root.TryGetProperty("desired", out var d) && d.ValueKind == JsonValueKind.Object ? d.Clone() : EmptyObject();
            var reported = root.TryGetProperty("reported", out var r) && r.ValueKind == JsonValueKind.Object ? r.Clone() : EmptyObject();
            return new TwinDocument(desired, VersionOf(desired), reported, VersionOf(reported));
        }
        catch (JsonException e)
        {
            throw new TwinOperationException("The twin document is not JSON.", response.Status, e);
        }
    }

    /// <summary>
    /// Sends a reported-properties patch (<c>$iothub/twin/PATCH/properties/reported/?$rid=N</c>) and waits for 204.
    /// </summary>
    /// <returns>The reported properties' new <c>$version</c> (from the response topic), or -1 if the hub sent none.</returns>
    public async Task<long> UpdateReportedPropertiesAsync(JsonObject patch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(patch);
        var body = JsonSerializer.SerializeToUtf8Bytes(patch);
        var response = await TwinRequestAsync(IoTHubTopics.TwinReportedPatch, body, cancellationToken).ConfigureAwait(false);
        if (response.Status is < 200 or > 299)
        {
            throw new TwinOperationException($"Reported-properties PATCH answered {response.Status}.", response.Status);
        }

        return response.Version ?? -1;
    }

    /// <summary>Publishes one message at QoS 1 on the module's events topic and waits for the PUBACK.</summary>
    /// <exception cref="IoTHubConnectionException">Not connected, or the connection dropped before the PUBACK: retry later.</exception>
    /// <exception cref="TelemetryRejectedException">The message can never be sent as it is (too large, bad names).</exception>
    public async Task SendTelemetryAsync(TelemetryMessage message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (string.IsNullOrWhiteSpace(message.OutputName))
        {
            throw new TelemetryRejectedException("The output name is empty.");
        }

        if (message.Body.Length > _options.MaxTelemetryBytes)
        {
            throw new TelemetryRejectedException($"The body is {message.Body.Length} bytes, more than the limit of {_options.MaxTelemetryBytes}.");
        }

        var topic = IoTHubTopics.Telemetry(Identity, message.OutputName, message.ContentType, message.ContentEncoding,
            message.MessageId, message.Properties);
        var mqttMessage = new MqttApplicationMessageBuilder()
            .WithTopic(topic)
            .WithPayload(message.Body.ToArray())
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .Build();
        await PublishAsync(mqttMessage, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A violation event on output <c>events</c>, with <c>type</c>, <c>camera</c> and <c>schema</c> properties.</summary>
    public Task SendEventAsync(MaskEvent maskEvent, CancellationToken cancellationToken) =>
        SendTelemetryAsync(ForEvent(maskEvent), cancellationToken);

    /// <summary>Camera statistics on output <c>stats</c>, with <c>type=stats</c>, <c>camera</c> and <c>schema</c> properties.</summary>
    public Task SendStatsAsync(CameraStats stats, CancellationToken cancellationToken) =>
        SendTelemetryAsync(ForStats(stats), cancellationToken);

    /// <summary>The telemetry message of an event (output <c>events</c>); <c>$.mid</c> is unique per event document.</summary>
    public static TelemetryMessage ForEvent(MaskEvent maskEvent) => new("events", EventJsonContext.Serialize(maskEvent))
    {
        MessageId = $"{maskEvent.Id}:{maskEvent.Sequence}",
        Properties = new Dictionary<string, string>
        {
            ["type"] = maskEvent.Type,
            ["camera"] = maskEvent.Camera,
            ["schema"] = maskEvent.Schema,
        },
    };

    /// <summary>The telemetry message of a stats document (output <c>stats</c>).</summary>
    public static TelemetryMessage ForStats(CameraStats stats) => new("stats", EventJsonContext.Serialize(stats))
    {
        Properties = new Dictionary<string, string>
        {
            ["type"] = "stats",
            ["camera"] = stats.Camera,
            ["schema"] = stats.Schema,
        },
    };

    public async Task StopAsync()
    {
        if (Volatile.Read(ref _started) == 0)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        if (_connectionLoop is not null)
        {
            await _connectionLoop.ConfigureAwait(false);
        }

        _desiredQueue.Writer.TryComplete();
        if (_desiredWorker is not null)
        {
            await _desiredWorker.ConfigureAwait(false);
        }

        if (_mqtt.IsConnected)
        {
            try
            {
                await _mqtt.DisconnectAsync(new MqttClientDisconnectOptions(), CancellationToken.None).ConfigureAwait(false);
            }
            catch (MQTTnet.Exceptions.MqttCommunicationException e)
            {
                _logger.LogDebug(e, "Disconnect on stop failed; the connection is being closed anyway");
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await StopAsync().ConfigureAwait(false);
        _mqtt.Dispose();
        _stop.Dispose();
        if (_ownsCredentials && _credentials is IDisposable disposable)
        {
            disposable.Dispose();
        }
    }

    // ---------------------------------------------------------------- connection loop

    private async Task ConnectionLoopAsync(CancellationToken ct)
    {
        var failures = 0;
        while (!ct.IsCancellationRequested)
        {
            SasToken token;
            var disconnected = NewSignal();
            lock (_stateGate)
            {
                _disconnectedSignal = disconnected;
            }

            try
            {
                token = await ConnectOnceAsync(ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                // Every failure of an attempt (TLS, refused credentials, workload API down, timeout) is retried with
                // backoff: the hub or edgeHub may simply not be up yet.
                LastConnectionError = e;
                MarkDisconnected("connection attempt failed");
                failures++;
                var delay = Backoff(failures);
                _logger.LogWarning(e, "Connecting to {Host}:{Port} as {ClientId} failed (attempt {Attempt}); retrying in {Delay}",
                    Identity.ConnectHostName, _options.Port, Identity.ClientId, failures, delay);
                await SafeDisconnectAsync().ConfigureAwait(false);
                if (!await DelayAsync(delay, ct).ConfigureAwait(false))
                {
                    break;
                }

                continue;
            }

            failures = 0;
            LastConnectionError = null;
            var renewAfter = TimeSpan.FromTicks((long)(_options.SasTokenTimeToLive.Ticks * _options.SasTokenRenewalFraction));
            var renewAt = token.ExpiresAt - _options.SasTokenTimeToLive + renewAfter;
            var untilRenewal = renewAt - _time.GetUtcNow();
            if (untilRenewal < TimeSpan.Zero)
            {
                untilRenewal = TimeSpan.Zero;
            }

            using var renewCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var renewal = Task.Delay(untilRenewal, _time, renewCts.Token);
            var first = await Task.WhenAny(disconnected.Task, renewal).ConfigureAwait(false);
            await renewCts.CancelAsync().ConfigureAwait(false);
            MarkDisconnected("connection closed");
            if (ct.IsCancellationRequested)
            {
                break;
            }

            if (first == renewal)
            {
                _logger.LogInformation("SAS token expires at {ExpiresAt}; reconnecting with a new token", token.ExpiresAt);
                await SafeDisconnectAsync().ConfigureAwait(false);
                continue;
            }

            failures++;
            var wait = Backoff(failures);
            _logger.LogWarning("Connection to {Host} lost; reconnecting in {Delay}", Identity.ConnectHostName, wait);
            if (!await DelayAsync(wait, ct).ConfigureAwait(false))
            {
                break;
            }
        }

        MarkDisconnected("client stopped");
    }

    private async Task<SasToken> ConnectOnceAsync(CancellationToken ct)
    {
        var identity = Identity;
        var token = await _credentials.CreateTokenAsync(_time.GetUtcNow() + _options.SasTokenTimeToLive, ct).ConfigureAwait(false);
        var trust = _options.UseTls ? await _credentials.GetTrustBundleAsync(ct).ConfigureAwait(false) : null;

        var builder = new MqttClientOptionsBuilder()
            .WithTcpServer(identity.ConnectHostName, _options.Port)
            .WithProtocolVersion(MqttProtocolVersion.V311)
            .WithClientId(identity.ClientId)
            .WithCredentials(identity.UserName(_options.ApiVersion), token.Value)
            .WithKeepAlivePeriod(_options.KeepAlive)
            .WithTimeout(_options.ConnectTimeout)
            // Clean session: the full twin is re-read on every connect and stale method calls queued during an outage
            // would only be answered after the caller gave up, so nothing is gained from a persistent session.
            .WithCleanSession(true);
        if (_options.UseTls)
        {
            builder = builder.WithTlsOptions(tls => tls
                .UseTls()
                .WithTargetHost(identity.ConnectHostName)
                .WithCertificateValidationHandler(args => ValidateServerCertificate(args.Certificate, args.Chain, args.SslPolicyErrors, trust)));
        }

        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct))
        {
            timeout.CancelAfter(_options.ConnectTimeout);
            MqttClientConnectResult result;
            try
            {
                result = await _mqtt.ConnectAsync(builder.Build(), timeout.Token).ConfigureAwait(false);
            }
            catch (MQTTnet.Exceptions.MqttCommunicationException e)
            {
                throw new IoTHubConnectionException($"Cannot connect to {identity.ConnectHostName}:{_options.Port}: {e.Message}", e);
            }

            if (result.ResultCode != MqttClientConnectResultCode.Success)
            {
                throw new IoTHubConnectionException($"{identity.ConnectHostName} refused the connection: {result.ResultCode}.");
            }
        }

        // The documented reconnection flow: subscribe first, then read the full document, so no patch falls in between.
        var subscribe = new MqttClientSubscribeOptionsBuilder()
            .WithTopicFilter(IoTHubTopics.TwinResponseFilter, MqttQualityOfServiceLevel.AtMostOnce)
            .WithTopicFilter(IoTHubTopics.DesiredPatchFilter, MqttQualityOfServiceLevel.AtMostOnce)
            .WithTopicFilter(IoTHubTopics.MethodRequestFilter, MqttQualityOfServiceLevel.AtMostOnce)
            .Build();
        var subscribed = await _mqtt.SubscribeAsync(subscribe, ct).ConfigureAwait(false);
        foreach (var item in subscribed.Items)
        {
            if (item.ResultCode > MqttClientSubscribeResultCode.GrantedQoS2)
            {
                throw new IoTHubConnectionException($"Subscription to {item.TopicFilter.Topic} refused: {item.ResultCode}.");
            }
        }

        Interlocked.Increment(ref _connectCount);
        _logger.LogInformation("Connected to {Host}:{Port} as {ClientId} (connection {Count})",
            identity.ConnectHostName, _options.Port, identity.ClientId, ConnectCount);
        MarkConnected();

        var twin = await GetTwinAsync(ct).ConfigureAwait(false);
        await _desiredQueue.Writer.WriteAsync(new DesiredWork(twin.Desired, twin.DesiredVersion, FullTwin: true), ct).ConfigureAwait(false);
        return token;
    }

    /// <summary>
    /// With a trust bundle (edgeHub) the chain must end in one of its certificates; without one (IoT Hub) the system
    /// roots decide. The host name must match either way.
    /// </summary>
    internal static bool ValidateServerCertificate(X509Certificate? certificate, X509Chain? presentedChain, SslPolicyErrors errors,
        X509Certificate2Collection? trustBundle)
    {
        if (trustBundle is null || trustBundle.Count == 0)
        {
            return errors == SslPolicyErrors.None;
        }

        if (certificate is null || (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) != SslPolicyErrors.None)
        {
            return false;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(trustBundle);
        // Edge CA certificates carry no revocation endpoints; the trust bundle itself is the authority here.
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (presentedChain is not null)
        {
            foreach (var element in presentedChain.ChainElements)
            {
                chain.ChainPolicy.ExtraStore.Add(element.Certificate);
            }
        }

        var leaf = certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        try
        {
            return chain.Build(leaf);
        }
        finally
        {
            if (!ReferenceEquals(leaf, certificate))
            {
                leaf.Dispose();
            }
        }
    }

    private TimeSpan Backoff(int failures)
    {
        var exponent = Math.Min(failures - 1, 16);
        var ms = Math.Min(_options.ReconnectDelayMax.TotalMilliseconds, _options.ReconnectDelayMin.TotalMilliseconds * Math.Pow(2, exponent));
        // Jitter so that many modules restarting together do not reconnect in lockstep.
        var jitter = 0.8 + (Random.Shared.NextDouble() * 0.4);
        return TimeSpan.FromMilliseconds(Math.Min(_options.ReconnectDelayMax.TotalMilliseconds, ms * jitter));
    }

    private async Task<bool> DelayAsync(TimeSpan delay, CancellationToken ct)
    {
        try
        {
            await Task.Delay(delay, _time, ct).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            return false;
        }
    }

    private async Task SafeDisconnectAsync()
    {
        if (!_mqtt.IsConnected)
        {
            return;
        }

        try
        {
            await _mqtt.DisconnectAsync(new MqttClientDisconnectOptions(), CancellationToken.None).ConfigureAwait(false);
        }
        catch (MQTTnet.Exceptions.MqttCommunicationException e)
        {
            _logger.LogDebug(e, "Disconnect failed; the connection is gone already");
        }
    }

    private void MarkConnected()
    {
        lock (_stateGate)
        {
            _connected.TrySetResult();
        }
    }

    private void MarkDisconnected(string reason)
    {
        lock (_stateGate)
        {
            if (_connected.Task.IsCompleted)
            {
                _connected = NewSignal();
            }
        }

        foreach (var (rid, pending) in _pendingTwin)
        {
            if (_pendingTwin.TryRemove(rid, out _))
            {
                pending.TrySetException(new TwinOperationException($"The twin request $rid={rid} was not answered: {reason}."));
            }
        }
    }

    private Task CurrentConnectedSignal()
    {
        lock (_stateGate)
        {
            return _connected.Task;
        }
    }

    private Task OnDisconnectedAsync(MqttClientDisconnectedEventArgs args)
    {
        TaskCompletionSource? signal;
        lock (_stateGate)
        {
            signal = _disconnectedSignal;
        }

        if (args.ClientWasConnected)
        {
            _logger.LogInformation("Disconnected from {Host}: {Reason}", Identity.ConnectHostName, args.Reason);
            // Fail waiting twin requests now rather than after their timeout: their answers can no longer arrive.
            MarkDisconnected("connection lost");
        }

        signal?.TrySetResult();
        return Task.CompletedTask;
    }

    // ---------------------------------------------------------------- twin requests

    private async Task<TwinResponse> TwinRequestAsync(Func<string, string> topicForRid, ReadOnlyMemory<byte> body, CancellationToken ct)
    {
        if (!IsConnected)
        {
            throw new TwinOperationException("Not connected to IoT Hub / edgeHub.");
        }

        var rid = Interlocked.Increment(ref _requestId).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var pending = new TaskCompletionSource<TwinResponse>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pendingTwin[rid] = pending;
        try
        {
            var message = new MqttApplicationMessageBuilder()
                .WithTopic(topicForRid(rid))
                .WithPayload(body.ToArray())
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtMostOnce)
                .Build();
            try
            {
                await PublishAsync(message, ct).ConfigureAwait(false);
            }
            catch (IoTHubConnectionException e)
            {
                throw new TwinOperationException($"The twin request $rid={rid} could not be sent: {e.Message}", inner: e);
            }

            try
            {
                return await pending.Task.WaitAsync(_options.OperationTimeout, _time, ct).ConfigureAwait(false);
            }
            catch (TimeoutException e)
            {
                throw new TwinOperationException($"The twin request $rid={rid} was not answered within {_options.OperationTimeout}.", inner: e);
            }
        }
        finally
        {
            _pendingTwin.TryRemove(rid, out _);
        }
    }

    private async Task PublishAsync(MqttApplicationMessage message, CancellationToken ct)
    {
        if (!_mqtt.IsConnected)
        {
            throw new IoTHubConnectionException("Not connected to IoT Hub / edgeHub.");
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(_options.OperationTimeout);
        MqttClientPublishResult result;
        try
        {
            result = await _mqtt.PublishAsync(message, timeout.Token).ConfigureAwait(false);
        }
        catch (MQTTnet.Exceptions.MqttCommunicationException e)
        {
            throw new IoTHubConnectionException($"Publishing to {message.Topic} failed: {e.Message}", e);
        }
        catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
        {
            throw new IoTHubConnectionException($"No PUBACK for {message.Topic} within {_options.OperationTimeout}.", e);
        }

        if (!result.IsSuccess)
        {
            throw new IoTHubConnectionException($"Publishing to {message.Topic} was refused: {result.ReasonCode}.");
        }
    }

    // ---------------------------------------------------------------- incoming messages

    private Task OnMessageAsync(MqttApplicationMessageReceivedEventArgs args)
    {
        var topic = args.ApplicationMessage.Topic;
        var payload = args.ApplicationMessage.Payload.ToArray();
        if (IoTHubTopics.TryParseTwinResponse(topic, out var status, out var rid, out var version))
        {
            if (_pendingTwin.TryRemove(rid, out var pending))
            {
                pending.TrySetResult(new TwinResponse(status, version, payload));
            }
            else
            {
                _logger.LogDebug("Twin response for unknown $rid={Rid} ignored", rid);
            }
        }
        else if (IoTHubTopics.TryParseDesiredPatch(topic, out var patchVersion))
        {
            EnqueuePatch(payload, patchVersion);
        }
        else if (IoTHubTopics.TryParseMethodRequest(topic, out var method, out var methodRid))
        {
            // Off the receive loop: a slow handler must not hold up twin responses or other calls.
            _ = Task.Run(() => AnswerMethodAsync(method, methodRid, payload), CancellationToken.None);
        }
        else
        {
            _logger.LogDebug("Message on unexpected topic {Topic} ignored", topic);
        }

        return Task.CompletedTask;
    }

    private void EnqueuePatch(byte[] payload, long? topicVersion)
    {
        if (!System.Text.Unicode.Utf8.IsValid(payload))
        {
            _logger.LogWarning("Desired-properties patch is not valid UTF-8; ignored");
            return;
        }

        try
        {
            using var doc = JsonDocument.Parse(payload);
            var body = doc.RootElement.Clone();
            var version = body.ValueKind == JsonValueKind.Object ? VersionOf(body) : -1;
            if (version < 0)
            {
                version = topicVersion ?? -1;
            }

            _desiredQueue.Writer.TryWrite(new DesiredWork(body, version, FullTwin: false));
        }
        catch (JsonException e)
        {
            _logger.LogWarning(e, "Desired-properties patch is not JSON; ignored");
        }
    }

    private async Task AnswerMethodAsync(string method, string rid, byte[] payload)
    {
        try
        {
            var response = await _methods.DispatchAsync(method, payload, _stop.Token).ConfigureAwait(false);
            var (status, body) = DirectMethodDispatcher.Serialize(response);
            _logger.LogInformation("Direct method {Method} answered {Status}", method, status);
            var message = new MqttApplicationMessageBuilder()
                .WithTopic(IoTHubTopics.MethodResponse(status, rid))
                .WithPayload(body)
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtMostOnce)
                .Build();
            await PublishAsync(message, _stop.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            _logger.LogDebug("Direct method {Method} abandoned: client stopping", method);
        }
        catch (IoTHubConnectionException e)
        {
            _logger.LogWarning(e, "The answer to direct method {Method} ($rid={Rid}) could not be sent", method, rid);
        }
    }

    private async Task DesiredWorkerAsync(CancellationToken ct)
    {
        try
        {
            await foreach (var work in _desiredQueue.Reader.ReadAllAsync(ct).ConfigureAwait(false))
            {
                DesiredPropertiesUpdate? update;
                try
                {
                    lock (_stateGate)
                    {
                        update = Merge(work);
                    }
                }
                catch (Exception e) when (e is InvalidOperationException or JsonException)
                {
                    _logger.LogWarning(e, "Desired properties version {Version} cannot be merged; ignored", work.Version);
                    continue;
                }

                if (update is null || _desiredHandler is not { } handler)
                {
                    continue;
                }

                try
                {
                    await handler(update, ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (ct.IsCancellationRequested)
                {
                    break;
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // A failing handler must not stop later updates from being delivered.
                    _logger.LogError(e, "Desired-properties handler failed for version {Version}", update.Version);
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            _logger.LogDebug("Desired-properties worker stopped");
        }
    }

    /// <summary>
    /// The documented reconciliation: the full document replaces the state; a patch whose <c>$version</c> is not
    /// newer than the state's is ignored (IoT Hub guarantees versions always increase).
    /// </summary>
    private DesiredPropertiesUpdate? Merge(DesiredWork work)
    {
        if (work.FullTwin)
        {
            _desired = JsonMergePatch.WithoutMetadata(work.Document);
            _desiredVersion = work.Version;
        }
        else
        {
            if (work.Version >= 0 && work.Version <= _desiredVersion)
            {
                _logger.LogDebug("Desired patch version {Version} not newer than {Current}; ignored", work.Version, _desiredVersion);
                return null;
            }

            _desired = JsonMergePatch.Apply(_desired, work.Document);
            _desiredVersion = Math.Max(_desiredVersion, work.Version);
        }

        return new DesiredPropertiesUpdate(JsonSerializer.SerializeToElement(_desired), _desiredVersion, work.FullTwin);
    }

    private static long VersionOf(JsonElement section) =>
        section.ValueKind == JsonValueKind.Object && section.TryGetProperty("$version", out var v) && v.TryGetInt64(out var n) ? n : -1;

    private static JsonElement EmptyObject()
    {
        using var doc = JsonDocument.Parse("{}");
        return doc.RootElement.Clone();
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private sealed record TwinResponse(int Status, long? Version, byte[] Body);

    private sealed record DesiredWork(JsonElement Document, long Version, bool FullTwin);
}
