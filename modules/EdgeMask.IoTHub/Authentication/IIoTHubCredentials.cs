using System.Security.Cryptography.X509Certificates;

namespace EdgeMask.IoTHub.Authentication;

/// <summary>
/// Where the MQTT password and the TLS trust come from: a connection string's key, or the IoT Edge workload API.
/// </summary>
public interface IIoTHubCredentials
{
    IoTHubIdentity Identity { get; }

    /// <summary>A fresh SAS token for <see cref="Identity"/> valid until <paramref name="expiresAt"/>.</summary>
    Task<SasToken> CreateTokenAsync(DateTimeOffset expiresAt, CancellationToken cancellationToken);

    /// <summary>
    /// The certificates that may anchor the server's chain (edgeHub's CA from the trust bundle); null means the system
    /// roots (IoT Hub itself).
    /// </summary>
    Task<X509Certificate2Collection?> GetTrustBundleAsync(CancellationToken cancellationToken);
}

/// <summary>Credentials from a connection string: tokens are signed locally with its symmetric key.</summary>
public sealed class SharedAccessKeyCredentials : IIoTHubCredentials
{
    private readonly IoTHubConnectionString _connectionString;
    private readonly X509Certificate2Collection? _trustBundle;

    /// <param name="connectionString">The parsed connection string.</param>
    /// <param name="trustBundle">CA certificates for a gateway (edgeHub) connection; null for IoT Hub and the system roots.</param>
    public SharedAccessKeyCredentials(IoTHubConnectionString connectionString, X509Certificate2Collection? trustBundle = null)
    {
        _connectionString = connectionString;
        _trustBundle = trustBundle;
        Identity = connectionString.Identity;
    }

    public IoTHubIdentity Identity { get; }

    public Task<SasToken> CreateTokenAsync(DateTimeOffset expiresAt, CancellationToken cancellationToken) =>
        Task.FromResult(SasTokenBuilder.Create(Identity.ResourceUri, _connectionString.SharedAccessKey, expiresAt,
            _connectionString.SharedAccessKeyName));

    public Task<X509Certificate2Collection?> GetTrustBundleAsync(CancellationToken cancellationToken) =>
        Task.FromResult(_trustBundle);
}
