using EdgeMask.Core.Resilience;
using EdgeMask.Core.Tracking;

namespace EdgeMask.IoTHub.Mqtt;

/// <summary>Connection behaviour of <see cref="IoTHubMqttClient"/>; validated by <see cref="Validate"/> at construction.</summary>
public sealed record IoTHubClientOptions
{
    /// <summary>MQTT over TLS, as IoT Hub and edgeHub serve it.</summary>
    public int Port { get; init; } = 8883;

    /// <summary>IoT Hub refuses plain TCP; false only for a local test broker.</summary>
    public bool UseTls { get; init; } = true;

    /// <summary>The api-version in the MQTT user name (documented value for MQTT 3.1.1).</summary>
    public string ApiVersion { get; init; } = Authentication.IoTHubIdentity.MqttApiVersion;

    /// <summary>Lifetime of each SAS token (the Azure SDKs default to one hour).</summary>
    public TimeSpan SasTokenTimeToLive { get; init; } = TimeSpan.FromHours(1);

    /// <summary>Fraction of the lifetime after which the client reconnects with a new token (0.85 → 9 minutes early for 1 h).</summary>
    public double SasTokenRenewalFraction { get; init; } = 0.85;

    public TimeSpan KeepAlive { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>How long CONNECT/CONNACK may take.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long a twin request waits for its <c>$iothub/twin/res/…</c> answer, and a telemetry publish for its PUBACK.</summary>
    public TimeSpan OperationTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>First reconnect delay; doubled per failed attempt up to <see cref="ReconnectDelayMax"/>, with ±20 % jitter (<see cref="RetryPolicy"/>).</summary>
    public TimeSpan ReconnectDelayMin { get; init; } = TimeSpan.FromSeconds(1);

    public TimeSpan ReconnectDelayMax { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// How a twin request answered 429 (throttled) or 5xx, or not answered in time, is retried on the same connection
    /// before the caller sees the error (the SDK's behaviour: the session is kept).
    /// </summary>
    public BackoffOptions TwinRetry { get; init; } = new() { Initial = TimeSpan.FromSeconds(1), Max = TimeSpan.FromSeconds(30), MaxAttempts = 5 };

    /// <summary>A direct-method handler running longer than this is answered with 504.</summary>
    public TimeSpan MethodTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>IoT Hub's documented device-to-cloud message limit.</summary>
    public int MaxTelemetryBytes { get; init; } = 256 * 1024;

    /// <exception cref="IoTHubConfigurationException">A value is out of range; the message names it.</exception>
    public IoTHubClientOptions Validate()
    {
        if (Port is <= 0 or > 65535) throw new IoTHubConfigurationException(nameof(Port), $"{Port} is not a TCP port.");
        if (string.IsNullOrWhiteSpace(ApiVersion)) throw new IoTHubConfigurationException(nameof(ApiVersion), "must not be empty.");
        if (SasTokenTimeToLive < TimeSpan.FromSeconds(10) || SasTokenTimeToLive > TimeSpan.FromDays(365))
            throw new IoTHubConfigurationException(nameof(SasTokenTimeToLive), "must be between 10 s and 365 days.");
        if (SasTokenRenewalFraction is <= 0.1 or >= 1.0 || double.IsNaN(SasTokenRenewalFraction))
            throw new IoTHubConfigurationException(nameof(SasTokenRenewalFraction), "must be between 0.1 and 1 (exclusive).");
        if (KeepAlive < TimeSpan.FromSeconds(5) || KeepAlive > TimeSpan.FromSeconds(1177))
            throw new IoTHubConfigurationException(nameof(KeepAlive), "must be between 5 s and 1177 s (IoT Hub's documented maximum).");
        if (ConnectTimeout <= TimeSpan.Zero) throw new IoTHubConfigurationException(nameof(ConnectTimeout), "must be positive.");
        if (OperationTimeout <= TimeSpan.Zero) throw new IoTHubConfigurationException(nameof(OperationTimeout), "must be positive.");
        if (MethodTimeout <= TimeSpan.Zero) throw new IoTHubConfigurationException(nameof(MethodTimeout), "must be positive.");
        if (ReconnectDelayMin <= TimeSpan.Zero) throw new IoTHubConfigurationException(nameof(ReconnectDelayMin), "must be positive.");
        if (ReconnectDelayMax < ReconnectDelayMin)
            throw new IoTHubConfigurationException(nameof(ReconnectDelayMax), "must not be shorter than ReconnectDelayMin.");
        if (MaxTelemetryBytes is <= 0 or > 256 * 1024)
            throw new IoTHubConfigurationException(nameof(MaxTelemetryBytes), "must be between 1 and 262144 (IoT Hub's limit).");
        if (TwinRetry is null) throw new IoTHubConfigurationException(nameof(TwinRetry), "must be set.");
        try
        {
            TwinRetry.Validate(nameof(TwinRetry));
        }
        catch (InvalidOptionException e)
        {
            throw new IoTHubConfigurationException(e.Key, e.Message);
        }

        return this;
    }
}
