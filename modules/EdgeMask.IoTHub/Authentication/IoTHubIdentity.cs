namespace EdgeMask.IoTHub.Authentication;

/// <summary>
/// Who connects and where. <see cref="HubHostName"/> goes into the MQTT user name and the token's resource URI;
/// <see cref="GatewayHostName"/> (edgeHub), when set, is the host the TCP/TLS connection goes to.
/// </summary>
public sealed record IoTHubIdentity(string HubHostName, string DeviceId, string? ModuleId, string? GatewayHostName)
{
    /// <summary>The documented MQTT api-version for the user name ("Communicate with an IoT hub using the MQTT protocol").</summary>
    public const string MqttApiVersion = "2021-04-12";

    /// <summary>The host the connection is made to: the gateway when there is one, else the hub.</summary>
    public string ConnectHostName => string.IsNullOrEmpty(GatewayHostName) ? HubHostName : GatewayHostName;

    /// <summary>MQTT client id: <c>{device}</c> or <c>{device}/{module}</c>.</summary>
    public string ClientId => string.IsNullOrEmpty(ModuleId) ? DeviceId : $"{DeviceId}/{ModuleId}";

    /// <summary>MQTT user name: <c>{hub}/{device}/?api-version=…</c> or <c>{hub}/{device}/{module}/?api-version=…</c>.</summary>
    public string UserName(string apiVersion = MqttApiVersion) => $"{HubHostName}/{ClientId}/?api-version={apiVersion}";

    public string ResourceUri => SasTokenBuilder.ResourceUri(HubHostName, DeviceId, ModuleId);
}
