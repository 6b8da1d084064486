namespace EdgeMask.IoTHub.Authentication;

/// <summary>
/// A device or module connection string: <c>HostName=…;DeviceId=…[;ModuleId=…];SharedAccessKey=…[;SharedAccessKeyName=…][;GatewayHostName=…]</c>.
/// </summary>
public sealed record IoTHubConnectionString
{
    private static readonly string[] KnownKeys =
        ["HostName", "DeviceId", "ModuleId", "SharedAccessKey", "SharedAccessKeyName", "GatewayHostName"];

    public required string HostName { get; init; }
    public required string DeviceId { get; init; }
    public string? ModuleId { get; init; }
    /// <summary>The base64 symmetric key of the identity, or of the policy named by <see cref="SharedAccessKeyName"/>.</summary>
    public required string SharedAccessKey { get; init; }
    /// <summary>A shared access policy name (the token then carries <c>skn</c>); absent for the identity's own key.</summary>
    public string? SharedAccessKeyName { get; init; }
    /// <summary>An IoT Edge gateway (edgeHub) to connect to instead of the hub itself.</summary>
    public string? GatewayHostName { get; init; }

    public IoTHubIdentity Identity => new(HostName, DeviceId, ModuleId, GatewayHostName);

    /// <summary>Parses a connection string; every error names the offending key.</summary>
    /// <exception cref="IoTHubConfigurationException">Missing, duplicate, empty or unknown key, or a key that is not base64.</exception>
    public static IoTHubConnectionString Parse(string connectionString)
    {
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            throw new IoTHubConfigurationException("ConnectionString", "the connection string is empty.");
        }

        var values = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var part in connectionString.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            // Keys end at the first '=': base64 keys end with '=' padding, which belongs to the value.
            var eq = part.IndexOf('=');
            if (eq <= 0)
            {
                throw new IoTHubConfigurationException(part, "expected Key=Value.");
            }

            var key = part[..eq].Trim();
            var value = part[(eq + 1)..].Trim();
            if (key.Equals("SharedAccessSignature", StringComparison.OrdinalIgnoreCase) ||
                key.Equals("x509", StringComparison.OrdinalIgnoreCase))
            {
                throw new IoTHubConfigurationException(key,
                    "only symmetric-key connection strings (SharedAccessKey) are supported; use a key so tokens can be renewed.");
            }

            var known = Array.Find(KnownKeys, k => k.Equals(key, StringComparison.OrdinalIgnoreCase));
            if (known is null)
            {
                throw new IoTHubConfigurationException(key, $"unknown connection-string key; expected one of {string.Join(", ", KnownKeys)}.");
            }

            if (value.Length == 0)
            {
                throw new IoTHubConfigurationException(known, "the value is empty.");
            }

            if (!values.TryAdd(known, value))
            {
                throw new IoTHubConfigurationException(known, "the key appears more than once.");
            }
        }

        string Required(string key) => values.TryGetValue(key, out var v)
            ? v
            : throw new IoTHubConfigurationException(key, "missing from the connection string.");

        var result = new IoTHubConnectionString
        {
            HostName = Required("HostName"),
            DeviceId = Required("DeviceId"),
            ModuleId = values.GetValueOrDefault("ModuleId"),
            SharedAccessKey = Required("SharedAccessKey"),
            SharedAccessKeyName = values.GetValueOrDefault("SharedAccessKeyName"),
            GatewayHostName = values.GetValueOrDefault("GatewayHostName"),
        };
        _ = SasTokenBuilder.DecodeKey(result.SharedAccessKey, "SharedAccessKey");
        if (result.HostName.Contains('/') || result.HostName.Contains(':'))
        {
            throw new IoTHubConfigurationException("HostName", "expected a bare host name such as myhub.azure-devices.net (no scheme, port or path).");
        }

        return result;
    }

    /// <summary>The key is a credential: keep it out of logs.</summary>
    public override string ToString() =>
        $"HostName={HostName};DeviceId={DeviceId}" + (ModuleId is null ? "" : $";ModuleId={ModuleId}") +
        (GatewayHostName is null ? "" : $";GatewayHostName={GatewayHostName}") + ";SharedAccessKey=***";
}
