using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using EdgeMask.Core.Resilience;
using EdgeMask.IoTHub.Authentication;
using Microsoft.Extensions.Logging;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;
using Polly;

namespace EdgeMask.IoTHub.Mqtt;

/// <summary>One established connection, as a channel sees it.</summary>
/// <param name="Number">1 for the first connection, +1 for every reconnect or token renewal.</param>
/// <param name="Lifetime">Cancelled when this connection ends (drop, renewal, stop).</param>
internal sealed record ConnectionContext(int Number, CancellationToken Lifetime, Action<string> Abort);

/// <summary>
/// A part of the protocol that rides on the connection (twin, direct methods): the topic filters it needs, what it
/// does on every (re)connect and drop, and the incoming messages it owns.
/// </summary>
internal interface IConnectionChannel
{
    IReadOnlyList<string> TopicFilters { get; }

    /// <summary>Called after every connect, once the filters are subscribed; must not block.</summary>
    void OnConnected(ConnectionContext connection);

    /// <summary>Called as soon as a connection is seen to end (before any reconnect).</summary>
    void OnDisconnected(string reason);

    /// <summary>Handles a message on one of its topics and returns true; false for topics it does not own.</summary>
    bool TryHandle(string topic, byte[] payload);
}

/// <summary>
/// The MQTT connection to IoT Hub / edgeHub: CONNECT as the identity (client id, user name, SAS token from the
/// credentials), TLS checked against the credentials' trust (the edge trust bundle behind a gateway, the system roots
/// otherwise), reconnect with <see cref="RetryPolicy"/>'s backoff, reconnect with a fresh token before it expires,
/// subscribe the channels' filters on every connect, and route incoming messages to the channel that owns them.
/// Owns the MQTTnet client; does not own the credentials.
/// </summary>
internal sealed class IoTHubConnection : IAsyncDisposable
{
    private readonly IIoTHubCredentials _credentials;
    private readonly IoTHubClientOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly IMqttClient _mqtt;
    private readonly List<IConnectionChannel> _channels = [];
    private readonly BackoffOptions _backoff;
    private readonly Lock _gate = new();
    private readonly CancellationTokenSource _stop = new();
    private TaskCompletionSource _connected = NewSignal();
    private TaskCompletionSource? _ended;
    private MqttClientConnectResult? _current;
    private CancellationTokenSource? _lifetime;
    private int _connectCount;
    private Task? _loop;
    private int _disposed;

    public IoTHubConnection(IIoTHubCredentials credentials, IoTHubClientOptions options, ILogger logger, TimeProvider time)
    {
        _credentials = credentials;
        _options = options;
        _logger = logger;
        _time = time;
        _backoff = new BackoffOptions { Initial = options.ReconnectDelayMin, Max = options.ReconnectDelayMax };
        _mqtt = new MqttClientFactory().CreateMqttClient();
        _mqtt.ApplicationMessageReceivedAsync += OnMessageAsync;
        _mqtt.DisconnectedAsync += OnDisconnectedAsync;
    }

    public IoTHubIdentity Identity => _credentials.Identity;

    public bool IsConnected => _connected.Task.IsCompletedSuccessfully && _mqtt.IsConnected;

    public int ConnectCount => Volatile.Read(ref _connectCount);

    public Exception? LastError { get; private set; }

    /// <summary>Adds a channel before <see cref="Start"/>; its filters are subscribed on every connect.</summary>
    public void AddChannel(IConnectionChannel channel)
    {
        if (_loop is not null)
        {
            throw new InvalidOperationException("Channels are added before the connection starts.");
        }

        _channels.Add(channel);
    }

    public void Start() => _loop = Task.Run(() => RunAsync(_stop.Token), CancellationToken.None);

    public Task WaitUntilConnectedAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return _connected.Task.WaitAsync(cancellationToken);
        }
    }

    /// <exception cref="IoTHubConnectionException">Not connected, refused, or no PUBACK in time: retry later.</exception>
    public async Task PublishAsync(string topic, byte[] payload, MqttQualityOfServiceLevel qos, CancellationToken ct)
    {
        if (!_mqtt.IsConnected)
        {
            throw new IoTHubConnectionException("Not connected to IoT Hub / edgeHub.");
        }

        var message = new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload).WithQualityOfServiceLevel(qos).Build();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(_options.OperationTimeout);
        MqttClientPublishResult result;
        try
        {
            result = await _mqtt.PublishAsync(message, timeout.Token).ConfigureAwait(false);
        }
        catch (MQTTnet.Exceptions.MqttCommunicationException e)
        {
            throw new IoTHubConnectionException($"Publishing to {topic} failed: {e.Message}", e);
        }
        catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
        {
            throw new IoTHubConnectionException($"No PUBACK for {topic} within {_options.OperationTimeout}.", e);
        }

        if (!result.IsSuccess)
        {
            throw new IoTHubConnectionException($"Publishing to {topic} was refused: {result.ReasonCode}.");
        }
    }

    public async Task StopAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(false);
        }

        await SafeDisconnectAsync().ConfigureAwait(false);
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
    }

    // ---------------------------------------------------------------- the connection loop

    private async Task RunAsync(CancellationToken ct)
    {
        // Every failed attempt (TLS, refused credentials, workload API not up yet, timeout) waits through the house
        // retry policy; one execution per outage, so a long healthy connection does not leave the next wait at the cap.
        var reconnect = RetryPolicy.Create(_backoff, _time, onRetry: attempt =>
        {
            LastError = attempt.Error;
            _logger.LogWarning(attempt.Error, "Connecting to {Host}:{Port} as {ClientId} failed (attempt {Attempt}); retrying in {DelaySeconds:0.0} s",
                Identity.ConnectHostName, _options.Port, Identity.ClientId, attempt.Attempt, attempt.Delay.TotalSeconds);
        });
        while (!ct.IsCancellationRequested)
        {
            SasToken token;
            try
            {
                token = await reconnect.ExecuteAsync(async ValueTask<SasToken> (attemptCt) =>
                {
                    try
                    {
                        return await ConnectOnceAsync(attemptCt).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException e) when (!attemptCt.IsCancellationRequested)
                    {
                        // A timeout inside the attempt (CONNACK, SUBACK): a failure to retry, not a stop — the policy
                        // never retries cancellations.
                        await SafeDisconnectAsync().ConfigureAwait(false);
                        throw new IoTHubConnectionException($"Connecting to {Identity.ConnectHostName}:{_options.Port} timed out.", e);
                    }
                    catch (Exception) when (!attemptCt.IsCancellationRequested)
                    {
                        await SafeDisconnectAsync().ConfigureAwait(false);
                        throw;
                    }
                }, ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                break;
            }

            LastError = null;
            var ending = await WaitForEndAsync(token, ct).ConfigureAwait(false);
            EndConnection(ending);
            if (ct.IsCancellationRequested)
            {
                break;
            }

            if (ending is Ending.Lost or Ending.Aborted)
            {
                // A hub that accepts and then drops at once must not be hammered: the policy's first, jittered delay.
                var delay = RetryPolicy.DelayFor(_backoff, 0, Random.Shared.NextDouble());
                _logger.LogWarning("Connection to {Host} lost; reconnecting in {DelaySeconds:0.0} s", Identity.ConnectHostName, delay.TotalSeconds);
                try
                {
                    await Task.Delay(delay, _time, ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (ct.IsCancellationRequested)
                {
                    break;
                }
            }
        }

        EndConnection(Ending.Stopped);
    }

    private enum Ending
    {
        Lost,
        Renewal,
        Aborted,
        Stopped,
    }

    private async Task<Ending> WaitForEndAsync(SasToken token, CancellationToken ct)
    {
        var renewAfter = TimeSpan.FromTicks((long)(_options.SasTokenTimeToLive.Ticks * _options.SasTokenRenewalFraction));
        var untilRenewal = token.ExpiresAt - _options.SasTokenTimeToLive + renewAfter - _time.GetUtcNow();
        if (untilRenewal < TimeSpan.Zero)
        {
            untilRenewal = TimeSpan.Zero;
        }

        Task ended;
        CancellationToken lifetime;
        lock (_gate)
        {
            ended = _ended!.Task;
            lifetime = _lifetime!.Token;
        }

        using var renewCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var renewal = Task.Delay(untilRenewal, _time, renewCts.Token);
        var aborted = Task.Delay(Timeout.Infinite, lifetime).ContinueWith(_ => { }, TaskScheduler.Default);
        var first = await Task.WhenAny(ended, renewal, aborted).ConfigureAwait(false);
        await renewCts.CancelAsync().ConfigureAwait(false);
        if (ct.IsCancellationRequested)
        {
            return Ending.Stopped;
        }

        if (first == renewal)
        {
            _logger.LogInformation("SAS token expires at {ExpiresAt}; reconnecting with a new token", token.ExpiresAt);
            await SafeDisconnectAsync().ConfigureAwait(false);
            return Ending.Renewal;
        }

        if (first == aborted && !ended.IsCompleted)
        {
            await SafeDisconnectAsync().ConfigureAwait(false);
            return Ending.Aborted;
        }

        return Ending.Lost;
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

        var ended = NewSignal();
        lock (_gate)
        {
            _ended = ended;
            _current = null;
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

            lock (_gate)
            {
                // From here on a disconnect event is this connection's; one that came before (while connecting) is not,
                // so a drop in between is caught by looking.
                _current = result;
                if (!_mqtt.IsConnected)
                {
                    ended.TrySetResult();
                }
            }
        }

        // The documented reconnection flow: subscribe first, then let the channels read (the twin), so nothing falls in between.
        var subscribe = new MqttClientSubscribeOptionsBuilder();
        foreach (var filter in _channels.SelectMany(c => c.TopicFilters))
        {
            subscribe = subscribe.WithTopicFilter(filter, MqttQualityOfServiceLevel.AtMostOnce);
        }

        var subscribed = await _mqtt.SubscribeAsync(subscribe.Build(), ct).ConfigureAwait(false);
        foreach (var item in subscribed.Items)
        {
            if (item.ResultCode > MqttClientSubscribeResultCode.GrantedQoS2)
            {
                throw new IoTHubConnectionException($"Subscription to {item.TopicFilter.Topic} refused: {item.ResultCode}.");
            }
        }

        var number = Interlocked.Increment(ref _connectCount);
        var lifetime = CancellationTokenSource.CreateLinkedTokenSource(ct);
        lock (_gate)
        {
            _lifetime = lifetime;
            _connected.TrySetResult();
        }

        _logger.LogInformation("Connected to {Host}:{Port} as {ClientId} (connection {Count})",
            identity.ConnectHostName, _options.Port, identity.ClientId, number);
        var context = new ConnectionContext(number, lifetime.Token, reason =>
        {
            _logger.LogWarning("Connection {Count} abandoned: {Reason}", number, reason);
            try
            {
                lifetime.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // The connection ended on its own meanwhile: there is nothing left to abandon.
            }
        });
        foreach (var channel in _channels)
        {
            channel.OnConnected(context);
        }

        return token;
    }

    /// <summary>
    /// With a trust bundle (edgeHub behind <c>IOTEDGE_GATEWAYHOSTNAME</c>, or a CA file given with a connection string)
    /// the chain must end in one of its certificates; without one (IoT Hub itself) the system roots decide. The host
    /// name must match either way.
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

    private void EndConnection(Ending ending)
    {
        CancellationTokenSource? lifetime;
        lock (_gate)
        {
            lifetime = _lifetime;
            _lifetime = null;
            _current = null;
            if (_connected.Task.IsCompleted)
            {
                _connected = NewSignal();
            }
        }

        if (lifetime is null)
        {
            return;
        }

        lifetime.Cancel();
        lifetime.Dispose();
        var reason = ending switch
        {
            Ending.Renewal => "token renewal",
            Ending.Aborted => "connection abandoned",
            Ending.Stopped => "client stopped",
            _ => "connection lost",
        };
        foreach (var channel in _channels)
        {
            channel.OnDisconnected(reason);
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

    private Task OnDisconnectedAsync(MqttClientDisconnectedEventArgs args)
    {
        TaskCompletionSource? ended = null;
        lock (_gate)
        {
            // MQTTnet raises the event off the disconnecting call, so the event of a connection that was just closed
            // (token renewal) can arrive after the next one is up: it must not end that one.
            var current = _current is not null &&
                          (args.ConnectResult is null ? !_mqtt.IsConnected : ReferenceEquals(args.ConnectResult, _current));
            if (current)
            {
                ended = _ended;
            }
        }

        if (args.ClientWasConnected)
        {
            _logger.LogInformation("Disconnected from {Host}: {Reason}", Identity.ConnectHostName, args.Reason);
        }

        ended?.TrySetResult();
        return Task.CompletedTask;
    }

    private Task OnMessageAsync(MqttApplicationMessageReceivedEventArgs args)
    {
        var topic = args.ApplicationMessage.Topic;
        var payload = System.Buffers.BuffersExtensions.ToArray(args.ApplicationMessage.Payload);
        foreach (var channel in _channels)
        {
            if (channel.TryHandle(topic, payload))
            {
                return Task.CompletedTask;
            }
        }

        _logger.LogDebug("Message on unexpected topic {Topic} ignored", topic);
        return Task.CompletedTask;
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
