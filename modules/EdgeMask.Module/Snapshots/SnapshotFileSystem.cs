namespace EdgeMask.Module.Snapshots;

/// <summary>
/// The few file operations the snapshot store uses. The seam exists so tests can make the disk fail the way a full
/// disk does (an <see cref="IOException"/> with ENOSPC in the middle of a write) without root or a real full disk.
/// </summary>
public interface ISnapshotFileSystem
{
    void CreateDirectory(string path);

    /// <summary>A new file for writing; fails if it exists.</summary>
    Stream CreateNew(string path);

    /// <summary>Renames within one folder; fails if <paramref name="destination"/> exists.</summary>
    void Move(string source, string destination);

    void DeleteFile(string path);

    /// <summary>Removes the folder when it is empty; false (and no error) when it is not.</summary>
    bool DeleteDirectoryIfEmpty(string path);

    bool FileExists(string path);
    bool DirectoryExists(string path);
    long GetLength(string path);
    byte[] ReadAllBytes(string path);
    IEnumerable<string> EnumerateDirectories(string path);
    IEnumerable<string> EnumerateFiles(string path);
}

/// <summary>The real file system.</summary>
public sealed class PhysicalSnapshotFileSystem : ISnapshotFileSystem
{
    public static PhysicalSnapshotFileSystem Instance { get; } = new();

    public void CreateDirectory(string path) => Directory.CreateDirectory(path);

    public Stream CreateNew(string path) =>
        new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 0);

    public void Move(string source, string destination) => File.Move(source, destination, overwrite: false);

    public void DeleteFile(string path) => File.Delete(path);

    public bool DeleteDirectoryIfEmpty(string path)
    {
        if (!Directory.Exists(path) || Directory.EnumerateFileSystemEntries(path).Any()) return false;
        Directory.Delete(path, recursive: false);
        return true;
    }

    public bool FileExists(string path) => File.Exists(path);
    public bool DirectoryExists(string path) => Directory.Exists(path);
    public long GetLength(string path) => new FileInfo(path).Length;
    public byte[] ReadAllBytes(string path) => File.ReadAllBytes(path);
    public IEnumerable<string> EnumerateDirectories(string path) => Directory.EnumerateDirectories(path);
    public IEnumerable<string> EnumerateFiles(string path) => Directory.EnumerateFiles(path);
}
