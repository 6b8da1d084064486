using EdgeMask.IoTHub.Authentication;

namespace EdgeMask.IoTHub.Edge;

/// <summary>
/// The environment IoT Edge's agent gives every module container: identity, edgeHub's host and the workload socket.
/// </summary>
public sealed record IoTEdgeEnvironment
{
    public const string WorkloadUriVariable = "IOTEDGE_WORKLOADURI";
    public const string HubHostNameVariable = "IOTEDGE_IOTHUBHOSTNAME";
    public const string GatewayHostNameVariable = "IOTEDGE_GATEWAYHOSTNAME";
    public const string DeviceIdVariable = "IOTEDGE_DEVICEID";
    public const string ModuleIdVariable = "IOTEDGE_MODULEID";
    public const string GenerationIdVariable = "IOTEDGE_MODULEGENERATIONID";
    public const string ApiVersionVariable = "IOTEDGE_APIVERSION";
    public const string AuthSchemeVariable = "IOTEDGE_AUTHSCHEME";

    /// <summary>The workload API version used when <c>IOTEDGE_APIVERSION</c> is absent (the sign/trust-bundle contract used here).</summary>
    public const string DefaultWorkloadApiVersion = "2019-01-30";

    public required Uri WorkloadUri { get; init; }
    public required string HubHostName { get; init; }
    /// <summary>
    /// edgeHub's host name as the module sees it (the edge device's host name, an alias of edgeHub on the module
    /// network); null when <c>IOTEDGE_GATEWAYHOSTNAME</c> is not set, and the module then talks to the hub directly.
    /// </summary>
    public string? GatewayHostName { get; init; }

    /// <summary>True behind edgeHub: the connection goes to the gateway and its certificate chains to the edge trust bundle.</summary>
    public bool HasGateway => !string.IsNullOrEmpty(GatewayHostName);
    public required string DeviceId { get; init; }
    public required string ModuleId { get; init; }
    public required string GenerationId { get; init; }
    public string ApiVersion { get; init; } = DefaultWorkloadApiVersion;
    public string AuthScheme { get; init; } = "sasToken";

    public IoTHubIdentity Identity => new(HubHostName, DeviceId, ModuleId, GatewayHostName);

    /// <summary>True when the process runs as an IoT Edge module (the variables the module host switches on are set).</summary>
    public static bool IsPresent(Func<string, string?>? getVariable = null)
    {
        getVariable ??= Environment.GetEnvironmentVariable;
        return !string.IsNullOrEmpty(getVariable(WorkloadUriVariable)) && !string.IsNullOrEmpty(getVariable(ModuleIdVariable));
    }

    /// <summary>Reads the <c>IOTEDGE_*</c> variables; every error names the variable.</summary>
    /// <exception cref="IoTHubConfigurationException">A variable is missing or malformed, or the auth scheme is not <c>sasToken</c>.</exception>
    public static IoTEdgeEnvironment FromEnvironment(Func<string, string?>? getVariable = null)
    {
        getVariable ??= Environment.GetEnvironmentVariable;

        string Required(string name) => getVariable(name) is { Length: > 0 } v
            ? v
            : throw new IoTHubConfigurationException(name, "not set; is this process running as an IoT Edge module?");

        var uriText = Required(WorkloadUriVariable);
        if (!Uri.TryCreate(uriText, UriKind.Absolute, out var uri) || (uri.Scheme != "unix" && uri.Scheme != "http"))
        {
            throw new IoTHubConfigurationException(WorkloadUriVariable, $"expected unix:///path/workload.sock or http://host:port, got '{uriText}'.");
        }

        var scheme = getVariable(AuthSchemeVariable) is { Length: > 0 } s ? s : "sasToken";
        if (!scheme.Equals("sasToken", StringComparison.OrdinalIgnoreCase))
        {
            throw new IoTHubConfigurationException(AuthSchemeVariable, $"'{scheme}' is not supported; only sasToken (tokens signed by the workload API).");
        }

        var hub = Required(HubHostNameVariable);
        return new IoTEdgeEnvironment
        {
            WorkloadUri = uri,
            HubHostName = hub,
            // Without a gateway variable the module talks to the hub directly (e.g. a module identity run off-device).
            GatewayHostName = getVariable(GatewayHostNameVariable) is { Length: > 0 } g ? g : null,
            DeviceId = Required(DeviceIdVariable),
            ModuleId = Required(ModuleIdVariable),
            GenerationId = Required(GenerationIdVariable),
            ApiVersion = getVariable(ApiVersionVariable) is { Length: > 0 } a ? a : DefaultWorkloadApiVersion,
            AuthScheme = scheme,
        };
    }
}
