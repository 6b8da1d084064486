using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;
using EdgeMask.IoTHub.Authentication;
using EdgeMask.IoTHub.Edge;
using EdgeMask.IoTHub.Methods;
using EdgeMask.IoTHub.Twin;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using MQTTnet.Protocol;

namespace EdgeMask.IoTHub.Mqtt;

/// <summary>
/// A module (or device) client for IoT Hub / edgeHub speaking the documented MQTT 3.1.1 protocol with MQTTnet. It is
/// the face of three parts: the connection (<see cref="IoTHubConnection"/>: connect, backoff, token renewal, TLS), the
/// twin (<see cref="TwinChannel"/>: requests by <c>$rid</c>, desired merge) and direct methods
/// (<see cref="MethodChannel"/>), plus telemetry on the module's events topic. Telemetry documents are mapped to
/// messages by the outbox transport (<see cref="IoTHubOutboxTransport"/>), not here.
/// </summary>
public sealed class IoTHubMqttClient : IAsyncDisposable
{
    private readonly IIoTHubCredentials _credentials;
    private readonly bool _ownsCredentials;
    private readonly IoTHubClientOptions _options;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly IoTHubConnection _connection;
    private readonly TwinChannel _twin;
    private readonly DirectMethodDispatcher _methods;
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
        var time = timeProvider ?? TimeProvider.System;
        _methods = new DirectMethodDispatcher(_logger, _options.MethodTimeout);
        _connection = new IoTHubConnection(credentials, _options, _logger, time);
        _twin = new TwinChannel(_connection, _options, _logger, time);
        _connection.AddChannel(_twin);
        _connection.AddChannel(new MethodChannel(_connection, _methods, _logger, _stop.Token));
    }

    /// <summary>A client for a device or module connection string (tokens signed locally with its key).</summary>
    /// <param name="trustBundle">CA certificates of the gateway when the string has <c>GatewayHostName</c>; null for IoT Hub.</param>
    public static IoTHubMqttClient FromConnectionString(string connectionString, X509Certificate2Collection? trustBundle = null,
        IoTHubClientOptions? options = null, ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null) =>
        new(new SharedAccessKeyCredentials(IoTHubConnectionString.Parse(connectionString), trustBundle), shouldDispose: true,
            options, loggerFactory?.CreateLogger<IoTHubMqttClient>(), timeProvider);

    /// <summary>
    /// A client for this IoT Edge module, from the <c>IOTEDGE_*</c> environment: the workload API signs its tokens, and
    /// behind a gateway (<c>IOTEDGE_GATEWAYHOSTNAME</c>) the workload trust bundle anchors edgeHub's certificate.
    /// </summary>
    public static IoTHubMqttClient FromEdgeEnvironment(IoTHubClientOptions? options = null, ILoggerFactory? loggerFactory = null,
        TimeProvider? timeProvider = null, Func<string, string?>? getVariable = null) =>
        new(WorkloadApiCredentials.FromEnvironment(getVariable), shouldDispose: true, options,
            loggerFactory?.CreateLogger<IoTHubMqttClient>(), timeProvider);

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

    public IoTHubIdentity Identity => _credentials.Identity;

    public bool IsConnected => _connection.IsConnected;

    /// <summary>How many times a connection was established (first connect, reconnects, token renewals).</summary>
    public int ConnectCount => _connection.ConnectCount;

    /// <summary>Why the last connection attempt failed; null after a success.</summary>
    public Exception? LastConnectionError => _connection.LastError;

    /// <summary>The last full desired document (patches merged) and its version; null before the first twin read.</summary>
    public (JsonObject? Desired, long Version) CurrentDesired => _twin.CurrentDesired;

    /// <summary>Registers a direct method handler (at any time; calls for unknown names are answered with 404).</summary>
    public void RegisterMethod(string methodName, DirectMethodHandler handler) => _methods.Register(methodName, handler);

    /// <summary>
    /// Sets the handler of desired properties: called with the full document after every twin read (every connect)
    /// and after every patch, one call at a time, in version order.
    /// </summary>
    public void OnDesiredPropertiesChanged(Func<DesiredPropertiesUpdate, CancellationToken, Task> handler) =>
        _twin.OnDesiredPropertiesChanged(handler);

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

        _twin.Start(_stop.Token);
        _connection.Start();
        return Task.CompletedTask;
    }

    /// <summary>Completes when the client is connected and subscribed (immediately when it already is).</summary>
    public Task WaitUntilConnectedAsync(CancellationToken cancellationToken) => _connection.WaitUntilConnectedAsync(cancellationToken);

    /// <summary>Reads the full twin; 429 and 5xx answers are retried with backoff on the same connection.</summary>
    /// <exception cref="TwinOperationException">Not connected, or the hub kept refusing.</exception>
    public Task<TwinDocument> GetTwinAsync(CancellationToken cancellationToken) => _twin.GetTwinAsync(cancellationToken);

    /// <summary>Sends a reported-properties patch and waits for 204 (429 and 5xx retried with backoff).</summary>
    /// <returns>The reported properties' new <c>$version</c> (from the response topic), or -1 if the hub sent none.</returns>
    public Task<long> UpdateReportedPropertiesAsync(JsonObject patch, CancellationToken cancellationToken) =>
        _twin.UpdateReportedPropertiesAsync(patch, cancellationToken);

    /// <summary>Publishes one message at QoS 1 on the module's events topic and waits for the PUBACK.</summary>
    /// <exception cref="IoTHubConnectionException">Not connected, or the connection dropped before the PUBACK: retry later.</exception>
    /// <exception cref="TelemetryRejectedException">The message can never be sent as it is (too large, bad names).</exception>
    public Task SendTelemetryAsync(TelemetryMessage message, CancellationToken cancellationToken)
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
        return _connection.PublishAsync(topic, message.Body.ToArray(), MqttQualityOfServiceLevel.AtLeastOnce, cancellationToken);
    }

    public async Task StopAsync()
    {
        if (Volatile.Read(ref _started) == 0)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        await _connection.StopAsync().ConfigureAwait(false);
        await _twin.StopAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await StopAsync().ConfigureAwait(false);
        await _connection.DisposeAsync().ConfigureAwait(false);
        _stop.Dispose();
        if (_ownsCredentials && _credentials is IDisposable disposable)
        {
            disposable.Dispose();
        }
    }
}
