using EdgeMask.IoTHub.Authentication;
using EdgeMask.IoTHub.Edge;

namespace EdgeMask.IoTHub.Tests;

public class ConnectionStringTests
{
    private const string Key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    [Fact]
    public void Parse_DeviceConnectionString_ReadsEveryPart()
    {
        var cs = IoTHubConnectionString.Parse($"HostName=contoso.azure-devices.net;DeviceId=MyDevice01;SharedAccessKey={Key}");

        Assert.Equal("contoso.azure-devices.net", cs.HostName);
        Assert.Equal("MyDevice01", cs.DeviceId);
        Assert.Null(cs.ModuleId);
        Assert.Equal(Key, cs.SharedAccessKey);
        Assert.Equal("MyDevice01", cs.Identity.ClientId);
        Assert.Equal("contoso.azure-devices.net/MyDevice01/?api-version=2021-04-12", cs.Identity.UserName());
    }

    [Fact]
    public void Parse_ModuleConnectionStringWithGateway_ConnectsToGatewayButNamesHub()
    {
        var cs = IoTHubConnectionString.Parse(
            $" HostName=contoso.azure-devices.net ; DeviceId=jetson;ModuleId=edgemask;SharedAccessKey={Key};GatewayHostName=edge-box ");

        Assert.Equal("edgemask", cs.ModuleId);
        Assert.Equal("edge-box", cs.Identity.ConnectHostName);
        Assert.Equal("jetson/edgemask", cs.Identity.ClientId);
        Assert.Equal("contoso.azure-devices.net/jetson/edgemask/?api-version=2021-04-12", cs.Identity.UserName());
        Assert.Equal("contoso.azure-devices.net/devices/jetson/modules/edgemask", cs.Identity.ResourceUri);
    }

    [Fact]
    public void Parse_PolicyKey_KeepsKeyName()
    {
        var cs = IoTHubConnectionString.Parse($"HostName=h.azure-devices.net;DeviceId=d;SharedAccessKeyName=device;SharedAccessKey={Key}");

        Assert.Equal("device", cs.SharedAccessKeyName);
    }

    [Theory]
    [InlineData("DeviceId=d;SharedAccessKey=" + Key, "HostName")]
    [InlineData("HostName=h;SharedAccessKey=" + Key, "DeviceId")]
    [InlineData("HostName=h;DeviceId=d", "SharedAccessKey")]
    [InlineData("HostName=h;DeviceId=d;SharedAccessKey=" + Key + ";Colour=blue", "Colour")]
    [InlineData("HostName=h;DeviceId=d;DeviceId=e;SharedAccessKey=" + Key, "DeviceId")]
    [InlineData("HostName=h;DeviceId=;SharedAccessKey=" + Key, "DeviceId")]
    [InlineData("HostName=h;DeviceId=d;SharedAccessKey=%%%", "SharedAccessKey")]
    [InlineData("HostName=h;DeviceId=d;SharedAccessSignature=SharedAccessSignature sr=x", "SharedAccessSignature")]
    [InlineData("HostName=https://h;DeviceId=d;SharedAccessKey=" + Key, "HostName")]
    [InlineData("garbage", "garbage")]
    public void Parse_InvalidConnectionString_ErrorNamesTheKey(string text, string key)
    {
        var e = Assert.Throws<IoTHubConfigurationException>(() => IoTHubConnectionString.Parse(text));

        Assert.Equal(key, e.Key);
    }

    [Fact]
    public void ToString_ConnectionString_HidesTheKey()
    {
        var cs = IoTHubConnectionString.Parse($"HostName=h;DeviceId=d;SharedAccessKey={Key}");

        Assert.DoesNotContain(Key, cs.ToString());
    }

    [Fact]
    public void FromEnvironment_AllVariables_ReadsEdgeIdentity()
    {
        var env = EdgeEnvironment();

        var edge = IoTEdgeEnvironment.FromEnvironment(env.GetValueOrDefault);

        Assert.True(IoTEdgeEnvironment.IsPresent(env.GetValueOrDefault));
        Assert.Equal(new Uri("unix:///var/run/iotedge/workload.sock"), edge.WorkloadUri);
        Assert.Equal("/var/run/iotedge/workload.sock", edge.WorkloadUri.LocalPath);
        Assert.Equal("jetson/edgemask", edge.Identity.ClientId);
        Assert.Equal("edge-box", edge.Identity.ConnectHostName);
        Assert.Equal("2019-01-30", edge.ApiVersion);
        Assert.Equal("637000000000000000", edge.GenerationId);
    }

    [Theory]
    [InlineData("IOTEDGE_DEVICEID")]
    [InlineData("IOTEDGE_MODULEGENERATIONID")]
    [InlineData("IOTEDGE_IOTHUBHOSTNAME")]
    public void FromEnvironment_MissingVariable_ErrorNamesIt(string missing)
    {
        var env = EdgeEnvironment();
        env.Remove(missing);

        var e = Assert.Throws<IoTHubConfigurationException>(() => IoTEdgeEnvironment.FromEnvironment(env.GetValueOrDefault));

        Assert.Equal(missing, e.Key);
    }

    [Fact]
    public void FromEnvironment_X509AuthScheme_IsRefusedWithReason()
    {
        var env = EdgeEnvironment();
        env["IOTEDGE_AUTHSCHEME"] = "x509";

        var e = Assert.Throws<IoTHubConfigurationException>(() => IoTEdgeEnvironment.FromEnvironment(env.GetValueOrDefault));

        Assert.Equal("IOTEDGE_AUTHSCHEME", e.Key);
    }

    [Fact]
    public void IsPresent_PlainProcess_IsFalse()
    {
        Assert.False(IoTEdgeEnvironment.IsPresent(_ => null));
    }

    [Fact]
    public async Task Create_NoConnectionStringNoEdgeEnvironment_ErrorNamesWorkloadVariable()
    {
        var e = Assert.Throws<IoTHubConfigurationException>(() => EdgeMask.IoTHub.Mqtt.IoTHubMqttClient.Create(null, getVariable: _ => null));

        Assert.Equal("IOTEDGE_WORKLOADURI", e.Key);
        await using var fromEnv = EdgeMask.IoTHub.Mqtt.IoTHubMqttClient.Create(null, getVariable: EdgeEnvironment().GetValueOrDefault);
        Assert.Equal("jetson/edgemask", fromEnv.Identity.ClientId);
        await using var fromString = EdgeMask.IoTHub.Mqtt.IoTHubMqttClient.Create($"HostName=h;DeviceId=d;SharedAccessKey={Key}", getVariable: EdgeEnvironment().GetValueOrDefault);
        Assert.Equal("d", fromString.Identity.ClientId);
    }

    internal static Dictionary<string, string?> EdgeEnvironment() => new()
    {
        ["IOTEDGE_WORKLOADURI"] = "unix:///var/run/iotedge/workload.sock",
        ["IOTEDGE_IOTHUBHOSTNAME"] = "contoso.azure-devices.net",
        ["IOTEDGE_GATEWAYHOSTNAME"] = "edge-box",
        ["IOTEDGE_DEVICEID"] = "jetson",
        ["IOTEDGE_MODULEID"] = "edgemask",
        ["IOTEDGE_MODULEGENERATIONID"] = "637000000000000000",
        ["IOTEDGE_APIVERSION"] = "2019-01-30",
        ["IOTEDGE_AUTHSCHEME"] = "sasToken",
    };
}
