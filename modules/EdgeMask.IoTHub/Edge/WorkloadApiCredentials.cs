using System.Security.Cryptography.X509Certificates;
using System.Text;
using EdgeMask.IoTHub.Authentication;

namespace EdgeMask.IoTHub.Edge;

/// <summary>
/// Module credentials on an IoT Edge device: the token's signature is computed by the security daemon through the
/// workload API (the module never sees its key). Behind a gateway (<c>IOTEDGE_GATEWAYHOSTNAME</c>) edgeHub's
/// certificate is checked against the workload trust bundle (the edge CA); without one the module talks to IoT Hub
/// itself, whose certificate chains to a public root, so the system store decides and the bundle is not asked for.
/// </summary>
public sealed class WorkloadApiCredentials : IIoTHubCredentials, IDisposable
{
    private readonly WorkloadApiClient _client;
    private readonly bool _ownsClient;
    private readonly IoTEdgeEnvironment _environment;

    public WorkloadApiCredentials(IoTEdgeEnvironment environment, WorkloadApiClient client, bool shouldDispose)
    {
        _environment = environment;
        _client = client;
        _ownsClient = shouldDispose;
        Identity = environment.Identity;
    }

    /// <summary>Reads the <c>IOTEDGE_*</c> environment and owns its own workload client.</summary>
    public static WorkloadApiCredentials FromEnvironment(Func<string, string?>? getVariable = null)
    {
        var environment = IoTEdgeEnvironment.FromEnvironment(getVariable);
        return new WorkloadApiCredentials(environment, WorkloadApiClient.FromEnvironment(environment), shouldDispose: true);
    }

    public IoTHubIdentity Identity { get; }

    public async Task<SasToken> CreateTokenAsync(DateTimeOffset expiresAt, CancellationToken cancellationToken)
    {
        var encoded = SasTokenBuilder.Encode(Identity.ResourceUri);
        var expiry = SasTokenBuilder.ToExpiry(expiresAt);
        var toSign = Encoding.UTF8.GetBytes(SasTokenBuilder.StringToSign(encoded, expiry));
        var digest = await _client.SignAsync(_environment.ModuleId, _environment.GenerationId, toSign, cancellationToken)
            .ConfigureAwait(false);
        return new SasToken(SasTokenBuilder.Format(encoded, digest, expiry, keyName: null), DateTimeOffset.FromUnixTimeSeconds(expiry));
    }

    public async Task<X509Certificate2Collection?> GetTrustBundleAsync(CancellationToken cancellationToken) =>
        _environment.HasGateway ? await _client.GetTrustBundleAsync(cancellationToken).ConfigureAwait(false) : null;

    public void Dispose()
    {
        if (_ownsClient)
        {
            _client.Dispose();
        }
    }
}
