using System.Globalization;
using System.Security.Cryptography;

namespace EdgeMask.Module.Snapshots;

/// <summary>
/// Snapshot ids: <c>yyyyMMddTHHmmssfffZ-xxxxxxxx</c>, the UTC creation time to the millisecond and 40 random bits in
/// lower-case base32 (<c>a-z2-7</c>). URL- and file-name-safe, sortable by time (retention deletes the smallest
/// first), and the date folder of a snapshot follows from its id alone.
/// </summary>
public static class SnapshotId
{
    public const int Length = TimeLength + 1 + RandomLength;
    private const string TimeFormat = "yyyyMMdd'T'HHmmssfff'Z'";
    private const int TimeLength = 19;
    private const int RandomLength = 8;
    private const string Base32 = "abcdefghijklmnopqrstuvwxyz234567";

    public static string New(DateTimeOffset now)
    {
        Span<byte> random = stackalloc byte[5];
        RandomNumberGenerator.Fill(random);
        ulong bits = 0;
        foreach (byte b in random) bits = (bits << 8) | b;
        Span<char> id = stackalloc char[Length];
        if (!now.UtcDateTime.TryFormat(id, out int written, TimeFormat, CultureInfo.InvariantCulture) || written != TimeLength)
            throw new InvalidOperationException($"The time {now:o} does not format as a snapshot id.");
        id[TimeLength] = '-';
        for (int i = RandomLength - 1; i >= 0; i--, bits >>= 5) id[TimeLength + 1 + i] = Base32[(int)(bits & 31)];
        return new string(id);
    }

    /// <summary>Whether <paramref name="id"/> has the exact id form (so it is safe to use in a path) and when it was made.</summary>
    public static bool TryParse(string? id, out DateTimeOffset createdAt)
    {
        createdAt = default;
        if (id is null || id.Length != Length || id[TimeLength] != '-') return false;
        foreach (char c in id.AsSpan(TimeLength + 1))
            if (!((c >= 'a' && c <= 'z') || (c >= '2' && c <= '7'))) return false;
        if (!DateTime.TryParseExact(id.AsSpan(0, TimeLength), TimeFormat, CultureInfo.InvariantCulture,
                DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out DateTime t)) return false;
        createdAt = new DateTimeOffset(t, TimeSpan.Zero);
        return true;
    }

    /// <summary>The date folder name (UTC) of a snapshot made at <paramref name="createdAt"/>.</summary>
    public static string DateFolder(DateTimeOffset createdAt) =>
        createdAt.UtcDateTime.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
}
