using System.Diagnostics;
using System.Net;
using EdgeMask.IoTHub.Authentication;

namespace EdgeMask.IoTHub.Tests;

public class SasTokenTests
{
    // The key is the 32 bytes 00..1f. The expected signatures were computed outside .NET, twice, and agree:
    //   printf '%s' "$sr\n$se" | openssl dgst -sha256 -mac HMAC -macopt hexkey:000102…1f -binary | base64
    //   python3: base64(hmac.new(bytes(range(32)), f"{quote(uri, safe='')}\n{se}", sha256))
    private const string Key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    [Fact]
    public void Create_DeviceResourceUri_MatchesOpensslVector()
    {
        var token = SasTokenBuilder.Create("myhub.azure-devices.net/devices/device1", Key, DateTimeOffset.FromUnixTimeSeconds(1456971697));

        Assert.Equal(
            "SharedAccessSignature sr=myhub.azure-devices.net%2Fdevices%2Fdevice1&sig=eJpcmROW6N%2BBPekLfcdlfPjxTZq8tewbLShoRG%2BfwZg%3D&se=1456971697",
            token.Value);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1456971697), token.ExpiresAt);
    }

    [Fact]
    public void Create_ModuleIdentityWithMixedCaseHost_KeepsHostAndIdsAsNamedAndMatchesVector()
    {
        // edgeHub compares the audience's host with IOTEDGE_IOTHUBHOSTNAME ordinally: a lower-cased host is refused.
        var identity = new IoTHubIdentity("MyHub.Azure-Devices.NET", "Jetson-01", "edgemask", null);

        var token = SasTokenBuilder.Create(identity.ResourceUri, Key, DateTimeOffset.FromUnixTimeSeconds(1767225600));

        Assert.Equal("MyHub.Azure-Devices.NET/devices/Jetson-01/modules/edgemask", identity.ResourceUri);
        Assert.Equal(
            "SharedAccessSignature sr=MyHub.Azure-Devices.NET%2Fdevices%2FJetson-01%2Fmodules%2Fedgemask&sig=eGgWfVdI%2BbILV0TH8%2FjtaKE6XZv%2FC60Hs2qG0N5CRLc%3D&se=1767225600",
            token.Value);
    }

    [Fact]
    public void Create_WithPolicyName_AppendsSkn()
    {
        var token = SasTokenBuilder.Create("myhub.azure-devices.net/devices/device1", Key, DateTimeOffset.FromUnixTimeSeconds(1456971697), "device");

        Assert.EndsWith("&se=1456971697&skn=device", token.Value);
        Assert.Contains("&sig=eJpcmROW6N%2BBPekLfcdlfPjxTZq8tewbLShoRG%2BfwZg%3D&", token.Value);
    }

    [Fact]
    public void Create_Signature_DecodesToOpensslDigestOfStringToSign()
    {
        // Independent check at test time when openssl is on the machine (it is on Debian CI images).
        var openssl = new[] { "/usr/bin/openssl", "/bin/openssl" }.FirstOrDefault(File.Exists);
        if (openssl is null)
        {
            return;
        }

        var expiry = DateTimeOffset.FromUnixTimeSeconds(1900000000);
        var uri = "hub-x.azure-devices.net/devices/cam box/modules/m1";
        var token = SasTokenBuilder.Create(uri, Key, expiry);
        var sr = token.Value.Split("sr=")[1].Split('&')[0];
        var sig = WebUtility.UrlDecode(token.Value.Split("sig=")[1].Split('&')[0]);

        var psi = new ProcessStartInfo(openssl, ["dgst", "-sha256", "-mac", "HMAC", "-macopt", "hexkey:" + Convert.ToHexString(Convert.FromBase64String(Key)), "-binary"])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
        };
        using var process = Process.Start(psi)!;
        process.StandardInput.Write(sr + "\n1900000000");
        process.StandardInput.Close();
        using var output = new MemoryStream();
        process.StandardOutput.BaseStream.CopyTo(output);
        process.WaitForExit();

        Assert.Equal("hub-x.azure-devices.net%2Fdevices%2Fcam%20box%2Fmodules%2Fm1", sr);
        Assert.Equal(Convert.ToBase64String(output.ToArray()), sig);
    }

    [Fact]
    public void Create_KeyNotBase64_ThrowsConfigurationErrorNamingTheKey()
    {
        var e = Assert.Throws<IoTHubConfigurationException>(() =>
            SasTokenBuilder.Create("h/devices/d", "not*base64", DateTimeOffset.UtcNow.AddHours(1)));

        Assert.Equal("SharedAccessKey", e.Key);
    }

    [Fact]
    public void ToString_Token_DoesNotLeakTheSignature()
    {
        var token = SasTokenBuilder.Create("h/devices/d", Key, DateTimeOffset.FromUnixTimeSeconds(1900000000));

        Assert.DoesNotContain("sig", token.ToString());
    }
}
