using Microsoft.AspNetCore.Http;

namespace EdgeMask.Dashboard.Options;

/// <summary>
/// The whole dashboard configuration, bound once from the <c>Dashboard</c> section (appsettings.json, environment
/// variables <c>Dashboard__…</c>, command line <c>--Dashboard:…=</c>) and validated before anything starts.
/// </summary>
public sealed record DashboardOptions
{
    public const string SectionName = "Dashboard";

    /// <summary>Addresses Kestrel binds, separated by ';'. Loopback by default: nothing listens beyond what is named here.</summary>
    public string Listen { get; init; } = "http://127.0.0.1:5080";
    /// <summary>A device whose last message is older than this is shown offline even without a last-will message.</summary>
    public TimeSpan DeviceOfflineAfter { get; init; } = TimeSpan.FromMinutes(5);
    public StoreOptions Store { get; init; } = new();
    public MqttIngestOptions Mqtt { get; init; } = new();
    public EventHubsIngestOptions EventHubs { get; init; } = new();
    public RetentionOptions Retention { get; init; } = new();
    public AuthOptions Auth { get; init; } = new();

    /// <summary>Throws <see cref="DashboardConfigurationException"/> naming the first bad key.</summary>
    public DashboardOptions Validate()
    {
        if (string.IsNullOrWhiteSpace(Listen))
        {
            throw new DashboardConfigurationException($"{SectionName}:Listen", "must name at least one address, e.g. http://127.0.0.1:5080.");
        }
        foreach (var url in ListenUrls)
        {
            if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != "http" && uri.Scheme != "https"))
            {
                throw new DashboardConfigurationException($"{SectionName}:Listen", $"'{url}' is not an http:// or https:// address.");
            }
        }
        if (DeviceOfflineAfter <= TimeSpan.Zero)
        {
            throw new DashboardConfigurationException($"{SectionName}:DeviceOfflineAfter", "must be positive.");
        }
        Store.Validate($"{SectionName}:Store");
        Mqtt.Validate($"{SectionName}:Mqtt");
        EventHubs.Validate($"{SectionName}:EventHubs");
        Retention.Validate($"{SectionName}:Retention");
        Auth.Validate($"{SectionName}:Auth");
        return this;
    }

    public IReadOnlyList<string> ListenUrls =>
        Listen.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}

public enum StoreProvider
{
    Sqlite,
    PostgreSql,
}

public sealed record StoreOptions
{
    /// <summary>
    /// One connection string switches the store: <c>Data Source=file.db</c> (SQLite, default) or
    /// <c>Host=…;Username=…;Password=…;Database=…</c> (PostgreSQL).
    /// </summary>
    public string ConnectionString { get; init; } = "Data Source=dashboard-data/edgemask-dashboard.db";
    /// <summary>Where snapshot JPEGs are kept (files, not database rows, in both stores).</summary>
    public string SnapshotDirectory { get; init; } = "dashboard-data/snapshots";
    /// <summary>Where the keys that sign session cookies are kept, so sign-ins survive a restart.</summary>
    public string KeysDirectory { get; init; } = "dashboard-data/keys";
    /// <summary>Largest snapshot accepted; bigger payloads are skipped as malformed.</summary>
    public int MaxSnapshotBytes { get; init; } = 4 * 1024 * 1024;

    public StoreProvider Provider => LooksLikePostgres(ConnectionString) ? StoreProvider.PostgreSql : StoreProvider.Sqlite;

    internal static bool LooksLikePostgres(string connectionString) =>
        connectionString.Contains("Host=", StringComparison.OrdinalIgnoreCase)
        || connectionString.Contains("Server=", StringComparison.OrdinalIgnoreCase);

    internal void Validate(string key)
    {
        if (string.IsNullOrWhiteSpace(ConnectionString))
        {
            throw new DashboardConfigurationException($"{key}:ConnectionString", "must be set (Data Source=… for SQLite, Host=… for PostgreSQL).");
        }
        if (string.IsNullOrWhiteSpace(SnapshotDirectory))
        {
            throw new DashboardConfigurationException($"{key}:SnapshotDirectory", "must be set.");
        }
        if (MaxSnapshotBytes <= 0)
        {
            throw new DashboardConfigurationException($"{key}:MaxSnapshotBytes", "must be positive.");
        }
        if (string.IsNullOrWhiteSpace(KeysDirectory))
        {
            throw new DashboardConfigurationException($"{key}:KeysDirectory", "must be set.");
        }
    }
}

public sealed record MqttIngestOptions
{
    public bool Enabled { get; init; } = true;
    public string Host { get; init; } = "127.0.0.1";
    public int Port { get; init; } = 1883;
    public bool UseTls { get; init; }
    public string ClientId { get; init; } = "edgemask-dashboard";
    public string? Username { get; init; }
    public string? Password { get; init; }
    /// <summary>First topic level of the contract (<c>edgemask/&lt;device&gt;/…</c>).</summary>
    public string TopicRoot { get; init; } = "edgemask";
    /// <summary>
    /// The broker keeps the session (subscriptions and queued QoS 1 messages) this long while the dashboard is
    /// away, so a restart loses nothing; redeliveries are absorbed by the idempotent store.
    /// </summary>
    public TimeSpan SessionExpiry { get; init; } = TimeSpan.FromHours(1);
    public TimeSpan ReconnectMinDelay { get; init; } = TimeSpan.FromSeconds(1);
    public TimeSpan ReconnectMaxDelay { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>
    /// Most messages stored per transaction. The broker keeps sending while a batch is written (PUBACKs follow the
    /// commit), up to its in-flight window for this client (mosquitto: <c>max_inflight_messages</c>).
    /// </summary>
    public int BatchSize { get; init; } = 500;

    internal Core.Resilience.BackoffOptions Reconnect => new() { Initial = ReconnectMinDelay, Max = ReconnectMaxDelay };

    internal void Validate(string key)
    {
        if (!Enabled)
        {
            return;
        }
        if (string.IsNullOrWhiteSpace(Host))
        {
            throw new DashboardConfigurationException($"{key}:Host", "must be set when MQTT ingest is enabled.");
        }
        if (Port is <= 0 or > 65535)
        {
            throw new DashboardConfigurationException($"{key}:Port", $"{Port} is not a TCP port.");
        }
        if (string.IsNullOrWhiteSpace(ClientId))
        {
            throw new DashboardConfigurationException($"{key}:ClientId", "must be set.");
        }
        if (string.IsNullOrWhiteSpace(TopicRoot) || TopicRoot.Contains('/') || TopicRoot.Contains('+') || TopicRoot.Contains('#'))
        {
            throw new DashboardConfigurationException($"{key}:TopicRoot", "must be one topic level without wildcards.");
        }
        EventHubsIngestOptions.ValidateBackoff(key, "ReconnectMinDelay", "ReconnectMaxDelay", ReconnectMinDelay, ReconnectMaxDelay);
        if (BatchSize is < 1 or > 1000)
        {
            throw new DashboardConfigurationException($"{key}:BatchSize", "must be between 1 and 1000.");
        }
        if (SessionExpiry < TimeSpan.Zero || SessionExpiry.TotalSeconds > uint.MaxValue)
        {
            throw new DashboardConfigurationException($"{key}:SessionExpiry", "must be between 0 and 136 years.");
        }
    }
}

public sealed record EventHubsIngestOptions
{
    public bool Enabled { get; init; }
    /// <summary>IoT Hub's built-in endpoint connection string ("Event Hub-compatible endpoint").</summary>
    public string? ConnectionString { get; init; }
    /// <summary>The Event Hub-compatible name; may be omitted when the connection string carries EntityPath.</summary>
    public string? EventHubName { get; init; }
    /// <summary>The dashboard's own consumer group on the hub (all replicas of one dashboard share it).</summary>
    public string ConsumerGroup { get; init; } = "$Default";
    /// <summary>Where a partition without a checkpoint starts: <c>Latest</c> or <c>Earliest</c>.</summary>
    public string StartPosition { get; init; } = "Latest";
    /// <summary>This replica's name in the ownership table; unique per running replica. Empty: host name and a random suffix.</summary>
    public string? ReplicaId { get; init; }

    // One name per process, so a replica keeps its claims for its whole life.
    private static readonly string DefaultReplicaId = $"{Environment.MachineName}-{Guid.NewGuid().ToString("N")[..8]}";

    internal string Replica => string.IsNullOrWhiteSpace(ReplicaId) ? DefaultReplicaId : ReplicaId.Trim();
    /// <summary>Most events stored (and checkpointed) per transaction per partition.</summary>
    public int BatchSize { get; init; } = 100;
    /// <summary>How often each replica renews its partitions and looks for ones to take over.</summary>
    public TimeSpan LoadBalancingInterval { get; init; } = TimeSpan.FromSeconds(10);
    /// <summary>A replica that has not renewed its partitions for this long is considered gone; others take them over.</summary>
    public TimeSpan OwnershipExpiration { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>Back-off of the start and of a batch while the hub or the database is unreachable (doubling, jittered, capped).</summary>
    public TimeSpan RetryMinDelay { get; init; } = TimeSpan.FromSeconds(1);
    public TimeSpan RetryMaxDelay { get; init; } = TimeSpan.FromSeconds(30);

    internal Core.Resilience.BackoffOptions Retry => new() { Initial = RetryMinDelay, Max = RetryMaxDelay };

    internal void Validate(string key)
    {
        if (!Enabled)
        {
            return;
        }
        if (string.IsNullOrWhiteSpace(ConnectionString))
        {
            throw new DashboardConfigurationException($"{key}:ConnectionString", "must be set when Event Hubs ingest is enabled (the hub's \"Event Hub-compatible endpoint\").");
        }
        if (!ConnectionString.Contains("EntityPath=", StringComparison.OrdinalIgnoreCase) && string.IsNullOrWhiteSpace(EventHubName))
        {
            throw new DashboardConfigurationException($"{key}:EventHubName", "must be set when the connection string has no EntityPath (the \"Event Hub-compatible name\").");
        }
        if (string.IsNullOrWhiteSpace(ConsumerGroup))
        {
            throw new DashboardConfigurationException($"{key}:ConsumerGroup", "must be set.");
        }
        if (StartPosition is not ("Latest" or "Earliest"))
        {
            throw new DashboardConfigurationException($"{key}:StartPosition", "must be Latest or Earliest.");
        }
        if (BatchSize is < 1 or > 1000)
        {
            throw new DashboardConfigurationException($"{key}:BatchSize", "must be between 1 and 1000.");
        }
        if (LoadBalancingInterval < TimeSpan.FromMilliseconds(100))
        {
            throw new DashboardConfigurationException($"{key}:LoadBalancingInterval", "must be at least 100 ms.");
        }
        if (OwnershipExpiration <= LoadBalancingInterval)
        {
            throw new DashboardConfigurationException($"{key}:OwnershipExpiration",
                "must be longer than LoadBalancingInterval, or replicas lose partitions they are still reading.");
        }
        ValidateBackoff(key, "RetryMinDelay", "RetryMaxDelay", RetryMinDelay, RetryMaxDelay);
    }

    internal static void ValidateBackoff(string key, string minName, string maxName, TimeSpan min, TimeSpan max)
    {
        if (min < TimeSpan.FromMilliseconds(1) || min > TimeSpan.FromHours(1))
        {
            throw new DashboardConfigurationException($"{key}:{minName}", "must be between 1 ms and 1 hour.");
        }
        if (max < min || max > TimeSpan.FromHours(1))
        {
            throw new DashboardConfigurationException($"{key}:{maxName}", $"must be at least {minName} and at most 1 hour.");
        }
    }
}

public sealed record RetentionOptions
{
    /// <summary>Events, stats and snapshots older than this are deleted.</summary>
    public TimeSpan MaxAge { get; init; } = TimeSpan.FromDays(30);
    /// <summary>At most this many event rows (and as many stats rows) are kept; the oldest go first.</summary>
    public long MaxRows { get; init; } = 1_000_000;
    /// <summary>Snapshot files are deleted, oldest first, until their total size is at most this.</summary>
    public long MaxSnapshotBytes { get; init; } = 2L * 1024 * 1024 * 1024;
    public TimeSpan Interval { get; init; } = TimeSpan.FromMinutes(10);

    internal void Validate(string key)
    {
        if (MaxAge <= TimeSpan.Zero)
        {
            throw new DashboardConfigurationException($"{key}:MaxAge", "must be positive.");
        }
        if (MaxRows <= 0)
        {
            throw new DashboardConfigurationException($"{key}:MaxRows", "must be positive.");
        }
        if (MaxSnapshotBytes < 0)
        {
            throw new DashboardConfigurationException($"{key}:MaxSnapshotBytes", "must not be negative.");
        }
        if (Interval <= TimeSpan.Zero)
        {
            throw new DashboardConfigurationException($"{key}:Interval", "must be positive.");
        }
    }
}

public sealed record AuthOptions
{
    public string AdminUser { get; init; } = "admin";
    /// <summary>PBKDF2 hash made by <c>edgemask-dashboard hash-password</c>; without it nobody can sign in to the pages.</summary>
    public string? AdminPasswordHash { get; init; }
    /// <summary>SHA-256 hashes of API keys (<c>sha256:&lt;hex&gt;</c>, made by <c>edgemask-dashboard new-api-key</c>) accepted in the X-Api-Key header.</summary>
    public string[] ApiKeyHashes { get; init; } = [];
    /// <summary>
    /// Always (default) marks cookies Secure. Browsers accept that on https and on http://127.0.0.1/localhost;
    /// SameAsRequest only for a plain-http deployment that is not on loopback (not recommended).
    /// </summary>
    public CookieSecurePolicy CookieSecure { get; init; } = CookieSecurePolicy.Always;
    public TimeSpan SessionLifetime { get; init; } = TimeSpan.FromHours(8);
    /// <summary>Sign-in attempts allowed per client address per minute; more are answered 429.</summary>
    public int SignInAttemptsPerMinute { get; init; } = 10;

    internal void Validate(string key)
    {
        if (string.IsNullOrWhiteSpace(AdminPasswordHash) && ApiKeyHashes.Length == 0)
        {
            throw new DashboardConfigurationException($"{key}:AdminPasswordHash",
                "is not set and neither is ApiKeys: the dashboard refuses to start open. Run `edgemask-dashboard hash-password` and set it.");
        }
        if (!string.IsNullOrWhiteSpace(AdminPasswordHash))
        {
            if (string.IsNullOrWhiteSpace(AdminUser))
            {
                throw new DashboardConfigurationException($"{key}:AdminUser", "must be set.");
            }
            if (!Security.PasswordHasher.IsWellFormed(AdminPasswordHash))
            {
                throw new DashboardConfigurationException($"{key}:AdminPasswordHash",
                    "is not a hash made by `edgemask-dashboard hash-password` (pbkdf2-sha256$<iterations>$<salt>$<hash>).");
            }
        }
        for (var i = 0; i < ApiKeyHashes.Length; i++)
        {
            if (!Security.ApiKeyHasher.IsWellFormed(ApiKeyHashes[i]))
            {
                throw new DashboardConfigurationException($"{key}:ApiKeyHashes:{i}", "is not sha256:<64 hex digits> (see `edgemask-dashboard new-api-key`).");
            }
        }
        if (SignInAttemptsPerMinute <= 0)
        {
            throw new DashboardConfigurationException($"{key}:SignInAttemptsPerMinute", "must be positive.");
        }
        if (SessionLifetime <= TimeSpan.Zero)
        {
            throw new DashboardConfigurationException($"{key}:SessionLifetime", "must be positive.");
        }
    }
}

/// <summary>A configuration value is missing or wrong; the message names the key and what to do.</summary>
public sealed class DashboardConfigurationException(string key, string problem)
    : Exception($"Configuration '{key}' {problem}")
{
    public string Key { get; } = key;
}
