using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace EdgeMask.IoTHub.Authentication;

/// <summary>A shared access signature and the instant it stops being accepted.</summary>
public sealed record SasToken(string Value, DateTimeOffset ExpiresAt)
{
    /// <summary>Never print the token itself: it is a bearer credential until it expires.</summary>
    public override string ToString() => $"SasToken(expires {ExpiresAt:O})";
}

/// <summary>
/// Builds IoT Hub SAS tokens as documented in "Control access to IoT Hub with shared access signatures":
/// <c>SharedAccessSignature sr={URL-encoded resourceURI}&amp;sig={signature}&amp;se={expiry}[&amp;skn={policyName}]</c>, where the
/// signature is base64(HMAC-SHA256(base64-decoded key, "{URL-encoded resourceURI}\n{expiry}")) and is itself URL-encoded.
/// </summary>
public static class SasTokenBuilder
{
    /// <summary>
    /// The resource URI (the token's audience) of a device (<c>{hub}/devices/{device}</c>) or module
    /// (<c>{hub}/devices/{device}/modules/{module}</c>), exactly as the identity names them: edgeHub compares the
    /// audience's host with <c>IOTEDGE_IOTHUBHOSTNAME</c> and the ids with the identity case-sensitively
    /// (DeviceScopeTokenAuthenticator.ValidateAudience, ordinal <c>Equals</c>), and the SDK's SharedAccessSignatureBuilder
    /// does not change case either, so lower-casing "MyHub.azure-devices.net" or "MyJetson" would be refused.
    /// </summary>
    public static string ResourceUri(string hubHostName, string deviceId, string? moduleId)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(hubHostName);
        ArgumentException.ThrowIfNullOrWhiteSpace(deviceId);
        var uri = hubHostName + "/devices/" + deviceId;
        return string.IsNullOrEmpty(moduleId) ? uri : uri + "/modules/" + moduleId;
    }

    /// <summary>
    /// Percent-encodes like JavaScript's encodeURIComponent (upper-case hex, '/' → %2F). IoT Hub and edgeHub verify the
    /// signature over the <c>sr</c> value exactly as sent (edgeHub defers decoding "to preserve the casing of the escape
    /// characters"), so any consistent encoding works as long as the same string is signed and sent.
    /// </summary>
    public static string Encode(string value) => Uri.EscapeDataString(value);

    /// <summary>Seconds since the Unix epoch, as the <c>se</c> field wants them.</summary>
    public static long ToExpiry(DateTimeOffset expiresAt) => expiresAt.ToUnixTimeSeconds();

    /// <summary>The string the key signs: <c>{URL-encoded resourceURI} + "\n" + {expiry}</c>.</summary>
    public static string StringToSign(string encodedResourceUri, long expiry) =>
        encodedResourceUri + "\n" + expiry.ToString(CultureInfo.InvariantCulture);

    /// <summary>base64(HMAC-SHA256(key, UTF-8(stringToSign))).</summary>
    public static string Sign(ReadOnlySpan<byte> key, string stringToSign) =>
        Convert.ToBase64String(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(stringToSign)));

    /// <summary>Assembles the token from an already computed base64 signature (e.g. one the workload API returned).</summary>
    public static string Format(string encodedResourceUri, string signatureBase64, long expiry, string? keyName)
    {
        var token = "SharedAccessSignature sr=" + encodedResourceUri + "&sig=" + Encode(signatureBase64) +
                    "&se=" + expiry.ToString(CultureInfo.InvariantCulture);
        return string.IsNullOrEmpty(keyName) ? token : token + "&skn=" + Encode(keyName);
    }

    /// <summary>A complete token for <paramref name="resourceUri"/> signed with a base64 key.</summary>
    /// <exception cref="IoTHubConfigurationException">The key is not valid base64.</exception>
    public static SasToken Create(string resourceUri, string base64Key, DateTimeOffset expiresAt, string? keyName = null)
    {
        var key = DecodeKey(base64Key, "SharedAccessKey");
        var encoded = Encode(resourceUri);
        var expiry = ToExpiry(expiresAt);
        var signature = Sign(key, StringToSign(encoded, expiry));
        return new SasToken(Format(encoded, signature, expiry, keyName), DateTimeOffset.FromUnixTimeSeconds(expiry));
    }

    internal static byte[] DecodeKey(string base64Key, string settingName)
    {
        try
        {
            var key = Convert.FromBase64String(base64Key);
            if (key.Length == 0)
            {
                throw new IoTHubConfigurationException(settingName, "the key is empty.");
            }

            return key;
        }
        catch (FormatException e)
        {
            throw new IoTHubConfigurationException(settingName, $"the key is not valid base64 ({e.Message}).");
        }
    }
}
