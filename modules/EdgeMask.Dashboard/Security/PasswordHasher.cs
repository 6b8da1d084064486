using System.Security.Cryptography;
using System.Text;

namespace EdgeMask.Dashboard.Security;

/// <summary>
/// PBKDF2-HMAC-SHA256 password hashes in the text form <c>pbkdf2-sha256$&lt;iterations&gt;$&lt;salt b64&gt;$&lt;hash b64&gt;</c>,
/// so the configuration never holds a password.
/// </summary>
public static class PasswordHasher
{
    private const string Prefix = "pbkdf2-sha256";
    // OWASP's 2023 recommendation for PBKDF2-HMAC-SHA256; a sign-in costs ~0.1 s here, which also slows guessing.
    public const int DefaultIterations = 600_000;
    private const int SaltBytes = 16;
    private const int HashBytes = 32;

    public static string Hash(string password, int iterations = DefaultIterations)
    {
        ArgumentException.ThrowIfNullOrEmpty(password);
        ArgumentOutOfRangeException.ThrowIfLessThan(iterations, 1);
        var salt = RandomNumberGenerator.GetBytes(SaltBytes);
        var hash = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, iterations, HashAlgorithmName.SHA256, HashBytes);
        return $"{Prefix}${iterations}${Convert.ToBase64String(salt)}${Convert.ToBase64String(hash)}";
    }

    public static bool Verify(string password, string encoded)
    {
        if (!TryParse(encoded, out var iterations, out var salt, out var expected))
        {
            return false;
        }
        var actual = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, iterations, HashAlgorithmName.SHA256, expected.Length);
        return CryptographicOperations.FixedTimeEquals(actual, expected);
    }

    public static bool IsWellFormed(string encoded) => TryParse(encoded, out _, out _, out _);

    private static bool TryParse(string encoded, out int iterations, out byte[] salt, out byte[] hash)
    {
        iterations = 0;
        salt = [];
        hash = [];
        var parts = encoded.Split('$');
        if (parts.Length != 4 || parts[0] != Prefix || !int.TryParse(parts[1], out iterations) || iterations < 1)
        {
            return false;
        }
        try
        {
            salt = Convert.FromBase64String(parts[2]);
            hash = Convert.FromBase64String(parts[3]);
        }
        catch (FormatException)
        {
            return false;
        }
        return salt.Length >= 8 && hash.Length >= 16;
    }
}

/// <summary>API keys are random 256-bit strings; the configuration keeps only their SHA-256 (<c>sha256:&lt;hex&gt;</c>).</summary>
public static class ApiKeyHasher
{
    private const string Prefix = "sha256:";

    public static string NewKey() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(32))
        .TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public static string Hash(string key) => Prefix + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    public static bool IsWellFormed(string encoded) =>
        encoded.StartsWith(Prefix, StringComparison.Ordinal) && encoded.Length == Prefix.Length + 64
        && encoded.AsSpan(Prefix.Length).ContainsAnyExcept("0123456789abcdefABCDEF") == false;

    public static bool Matches(string presentedKey, IReadOnlyList<string> configuredHashes)
    {
        var presented = Encoding.ASCII.GetBytes(Hash(presentedKey));
        var matched = false;
        foreach (var configured in configuredHashes)
        {
            // Compare against every configured hash in constant time so timing tells nothing about which key is close.
            matched |= CryptographicOperations.FixedTimeEquals(presented, Encoding.ASCII.GetBytes(configured.ToLowerInvariant()));
        }
        return matched;
    }
}
