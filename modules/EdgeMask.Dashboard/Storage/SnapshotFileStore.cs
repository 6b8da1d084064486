namespace EdgeMask.Dashboard.Storage;

/// <summary>
/// Snapshot JPEGs as files under one directory, named by their (sanitized) id, so both stores keep only a row
/// per snapshot. Writes go through a temporary file and a rename, so a reader never sees half a JPEG.
/// </summary>
public sealed class SnapshotFileStore
{
    public SnapshotFileStore(string directory)
    {
        Directory = Path.GetFullPath(directory);
        System.IO.Directory.CreateDirectory(Directory);
    }

    public string Directory { get; }

    public static bool IsSafeId(string id) =>
        id.Length is > 0 and <= 128 && id.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.') && id[0] != '.';

    /// <returns>The file name (relative to <see cref="Directory"/>) the snapshot is kept in.</returns>
    public async Task<string> WriteAsync(string id, ReadOnlyMemory<byte> jpeg, CancellationToken cancellationToken)
    {
        if (!IsSafeId(id))
        {
            throw new ArgumentException($"Snapshot id '{id}' is not a safe file name.", nameof(id));
        }
        var fileName = id + ".jpg";
        var path = Path.Combine(Directory, fileName);
        if (File.Exists(path))
        {
            return fileName;
        }
        var temporary = Path.Combine(Directory, $".{id}.{Guid.NewGuid():N}.tmp");
        await File.WriteAllBytesAsync(temporary, jpeg.ToArray(), cancellationToken);
        File.Move(temporary, path, overwrite: true);
        return fileName;
    }

    public string? PathOf(string fileName)
    {
        var path = Path.GetFullPath(Path.Combine(Directory, fileName));
        return path.StartsWith(Directory + Path.DirectorySeparatorChar, StringComparison.Ordinal) && File.Exists(path) ? path : null;
    }

    public bool Delete(string fileName)
    {
        var path = PathOf(fileName);
        if (path is null)
        {
            return false;
        }
        File.Delete(path);
        return true;
    }
}
