namespace EdgeMask.Messaging.Mqtt;

/// <summary>MQTT protocol version spoken to the broker.</summary>
public enum MqttVersion
{
    /// <summary>MQTT 3.1.1: for old brokers; no content type on messages.</summary>
    V311,
    /// <summary>MQTT 5 (default): PUBACK reason codes tell a refused message from a lost one; content type is set.</summary>
    V500,
}

/// <summary>TLS to the broker (configuration section <c>Mqtt:Tls</c>). Present = TLS on.</summary>
public sealed record MqttTlsOptions
{
    /// <summary>PEM (or DER) file with the CA certificate(s) the broker's certificate must chain to. Null: the system trust store.</summary>
    public string? CaFile { get; init; }

    /// <summary>Client certificate for mutual TLS: a PEM certificate (with <see cref="ClientKeyFile"/>) or a PKCS#12 (.pfx/.p12) file.</summary>
    public string? ClientCertificateFile { get; init; }

    /// <summary>PEM private key of <see cref="ClientCertificateFile"/> (not needed for PKCS#12).</summary>
    public string? ClientKeyFile { get; init; }

    /// <summary>Password of a PKCS#12 client certificate.</summary>
    public string? ClientCertificatePassword { get; init; }

    /// <summary>Name expected in the broker's certificate when it differs from <see cref="MqttPublisherOptions.Host"/>.</summary>
    public string? ServerName { get; init; }

    /// <summary>Accept any broker certificate. Only for a lab: it defeats TLS authentication. Default false.</summary>
    public bool AllowUntrustedCertificates { get; init; }
}

/// <summary>
/// The MQTT publisher (configuration section <c>Mqtt</c>). Defaults match a local broker: 127.0.0.1:1883, no TLS, MQTT 5.
/// </summary>
public sealed record MqttPublisherOptions
{
    /// <summary>Device id used in the topics (<c>edgemask/&lt;device&gt;/…</c>). Required: letters, digits, <c>-</c>, <c>_</c>, <c>.</c>.</summary>
    public required string Device { get; init; }

    /// <summary>Broker host name or address. Default 127.0.0.1.</summary>
    public string Host { get; init; } = "127.0.0.1";

    /// <summary>Broker port. Default 1883 (use 8883 with TLS).</summary>
    public int Port { get; init; } = 1883;

    /// <summary>MQTT client id; must be unique per broker. Default <c>edgemask-&lt;device&gt;</c>.</summary>
    public string? ClientId { get; init; }

    public string? Username { get; init; }
    public string? Password { get; init; }

    /// <summary>TLS settings; null = plain TCP.</summary>
    public MqttTlsOptions? Tls { get; init; }

    public MqttVersion ProtocolVersion { get; init; } = MqttVersion.V500;

    /// <summary>MQTT keep-alive: the broker publishes the last will after 1.5× this without traffic. Default 30 s.</summary>
    public TimeSpan KeepAlive { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Limit for one connection attempt (TCP + TLS + CONNACK). Default 10 s.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Limit for the broker's acknowledgement (PUBACK) of one message. Default 15 s.</summary>
    public TimeSpan PublishTimeout { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>First wait after a failed connection attempt; doubled after each further failure (±20 % jitter). Default 1 s.</summary>
    public TimeSpan ReconnectMinDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Longest wait between connection attempts. Default 30 s.</summary>
    public TimeSpan ReconnectMaxDelay { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Outbox destination name of this publisher. Default <c>mqtt</c>.</summary>
    public string Destination { get; init; } = "mqtt";

    /// <summary>The client id actually used.</summary>
    public string EffectiveClientId => string.IsNullOrEmpty(ClientId) ? $"edgemask-{Device}" : ClientId;

    /// <summary>Checks every value (and that TLS files exist); throws <see cref="MessagingOptionsException"/> naming the key.</summary>
    public void Validate(string section = "Mqtt")
    {
        if (string.IsNullOrWhiteSpace(Device) || !Device.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            throw new MessagingOptionsException($"{section}:Device", $"'{Device}' must be non-empty and use only letters, digits, '-', '_' or '.' (it is part of every topic).");
        if (string.IsNullOrWhiteSpace(Host)) throw new MessagingOptionsException($"{section}:Host", "must name the broker host.");
        if (Port is < 1 or > 65535) throw new MessagingOptionsException($"{section}:Port", $"must be 1..65535 (was {Port}).");
        if (ClientId is not null && (ClientId.Length == 0 || ClientId.Length > 128))
            throw new MessagingOptionsException($"{section}:ClientId", "must be 1..128 characters when set.");
        if (Password is not null && Username is null)
            throw new MessagingOptionsException($"{section}:Username", "is required when a password is set.");
        if (!Enum.IsDefined(ProtocolVersion)) throw new MessagingOptionsException($"{section}:ProtocolVersion", $"'{ProtocolVersion}' is not V311 or V500.");
        if (KeepAlive < TimeSpan.FromSeconds(1) || KeepAlive > TimeSpan.FromSeconds(65535))
            throw new MessagingOptionsException($"{section}:KeepAlive", $"must be 1 s..65535 s (was {KeepAlive}).");
        if (ConnectTimeout <= TimeSpan.Zero) throw new MessagingOptionsException($"{section}:ConnectTimeout", "must be positive.");
        if (PublishTimeout <= TimeSpan.Zero) throw new MessagingOptionsException($"{section}:PublishTimeout", "must be positive.");
        if (ReconnectMinDelay <= TimeSpan.Zero) throw new MessagingOptionsException($"{section}:ReconnectMinDelay", "must be positive.");
        if (ReconnectMaxDelay < ReconnectMinDelay) throw new MessagingOptionsException($"{section}:ReconnectMaxDelay", "must not be below ReconnectMinDelay.");
        if (string.IsNullOrWhiteSpace(Destination)) throw new MessagingOptionsException($"{section}:Destination", "must not be empty.");
        if (Tls is { } tls)
        {
            CheckFile(tls.CaFile, $"{section}:Tls:CaFile");
            CheckFile(tls.ClientCertificateFile, $"{section}:Tls:ClientCertificateFile");
            CheckFile(tls.ClientKeyFile, $"{section}:Tls:ClientKeyFile");
            if (tls.ClientKeyFile is not null && tls.ClientCertificateFile is null)
                throw new MessagingOptionsException($"{section}:Tls:ClientCertificateFile", "is required when Tls:ClientKeyFile is set.");
        }
    }

    private static void CheckFile(string? path, string key)
    {
        if (path is null) return;
        if (string.IsNullOrWhiteSpace(path)) throw new MessagingOptionsException(key, "must not be empty when set.");
        if (!File.Exists(path)) throw new MessagingOptionsException(key, $"file '{Path.GetFullPath(path)}' does not exist.");
    }
}
