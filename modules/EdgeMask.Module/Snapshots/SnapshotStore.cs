using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMask.Module.Snapshots;

/// <summary>
/// Snapshot JPEGs on disk under <c>&lt;Directory&gt;/&lt;camera&gt;/&lt;yyyy-MM-dd&gt;/&lt;id&gt;-{crop|frame}.jpg</c>, with
/// retention (files, bytes, age; oldest deleted first) applied before every write and every
/// <see cref="SnapshotOptions.RetentionInterval"/>. One store serves every camera of the process.
/// </summary>
/// <remarks>
/// Storage problems never escape into the pipeline: a full disk, a read-only or missing folder make
/// <see cref="Save"/> return <see cref="SnapshotStatus.Failed"/> (logged at most once per
/// <see cref="SnapshotOptions.FailureLogInterval"/> per kind of failure), and the next write tries again, so
/// snapshots come back by themselves once space is freed. The constructor indexes the folder and applies the limits;
/// <see cref="Start"/> starts the periodic sweep. Files are written to a hidden temporary name, flushed to
/// the device, then renamed: a reader or a crash never sees half a JPEG. Thread-safe; writes are serialized (one
/// snapshot per violation start or improvement is far below what a disk can take).
/// </remarks>
public sealed partial class SnapshotStore : IDisposable
{
    private const string TempPrefix = ".";
    private const string TempSuffix = ".tmp";

    private readonly SnapshotOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly ISnapshotFileSystem _fs;
    private readonly object _gate = new();
    private readonly SortedDictionary<string, Entry> _index = new(StringComparer.Ordinal);
    private readonly Dictionary<string, FailureLogState> _failureLog = new(StringComparer.Ordinal);
    private ITimer? _timer;
    private int _files;
    private long _bytes;
    private long _failedWrites;
    private int _failuresSinceSuccess;
    private bool _disposed;

    public SnapshotStore(SnapshotOptions options, ILogger<SnapshotStore>? logger = null, TimeProvider? time = null,
        ISnapshotFileSystem? fileSystem = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options.Validate();
        _logger = logger ?? (ILogger)NullLogger.Instance;
        _time = time ?? TimeProvider.System;
        _fs = fileSystem ?? PhysicalSnapshotFileSystem.Instance;
        RootDirectory = Path.GetFullPath(_options.Directory);
        if (!_options.Enabled) return;

        // A folder that is missing or unwritable at start is not fatal: the store keeps trying on every write and
        // sweep, and the pipeline runs without snapshots meanwhile.
        lock (_gate) Sweep();
    }

    /// <summary>Starts the periodic retention sweep (every <see cref="SnapshotOptions.RetentionInterval"/>; once; no-op when disabled).</summary>
    public void Start()
    {
        if (!_options.Enabled) return;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_timer is not null) throw new InvalidOperationException("The snapshot store is already started.");
            _timer = _time.CreateTimer(static s => ((SnapshotStore)s!).PeriodicSweep(), this,
                _options.RetentionInterval, _options.RetentionInterval);
        }
    }

    public SnapshotOptions Options => _options;

    /// <summary>The absolute root folder.</summary>
    public string RootDirectory { get; }

    public int FileCount { get { lock (_gate) return _files; } }
    public long TotalBytes { get { lock (_gate) return _bytes; } }
    public int SnapshotCount { get { lock (_gate) return _index.Count; } }

    /// <summary>Writes that failed since start (a metric).</summary>
    public long FailedWrites => Interlocked.Read(ref _failedWrites);

    /// <summary>
    /// Stores the images of <paramref name="rendered"/> for <paramref name="camera"/>. Never throws for storage
    /// problems: the result says <see cref="SnapshotStatus.Failed"/> and why.
    /// </summary>
    public SnapshotResult Save(string camera, RenderedSnapshot rendered)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(camera);
        ArgumentNullException.ThrowIfNull(rendered);
        if (!_options.Enabled) return SnapshotResult.Disabled;
        if (rendered.CropJpeg is null && rendered.FrameJpeg is null)
            return SnapshotResult.Failure(camera, "nothing to store (the crop is empty and the frame is not stored)");

        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            DateTimeOffset now = _time.GetUtcNow();
            string id = SnapshotId.New(now);
            while (_index.ContainsKey(id)) id = SnapshotId.New(now);
            int newFiles = (rendered.CropJpeg is null ? 0 : 1) + (rendered.FrameJpeg is null ? 0 : 1);
            long newBytes = (rendered.CropJpeg?.LongLength ?? 0) + (rendered.FrameJpeg?.LongLength ?? 0);
            if ((_options.MaxFiles > 0 && newFiles > _options.MaxFiles) || (_options.MaxTotalBytes > 0 && newBytes > _options.MaxTotalBytes))
            {
                Interlocked.Increment(ref _failedWrites);
                LogTooLarge(_logger, camera, newBytes, _options.MaxTotalBytes, _options.MaxFiles);
                return SnapshotResult.Failure(camera, $"a snapshot of {newBytes} bytes in {newFiles} files exceeds the retention limits");
            }
            // Room is made before writing, so the folder never goes over its limits, not even for a moment.
            Enforce(now, newFiles, newBytes);

            string folder = CameraFolder(camera);
            string dir = Path.Combine(RootDirectory, folder, SnapshotId.DateFolder(now));
            string? cropPath = null, framePath = null;
            string? writing = dir;
            try
            {
                _fs.CreateDirectory(dir);
                if (rendered.CropJpeg is { } crop)
                {
                    writing = Path.Combine(dir, FileName(id, SnapshotImageKind.Crop));
                    WriteAtomically(writing, crop);
                    cropPath = writing;
                }
                if (rendered.FrameJpeg is { } frame)
                {
                    writing = Path.Combine(dir, FileName(id, SnapshotImageKind.Frame));
                    WriteAtomically(writing, frame);
                    framePath = writing;
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // Half a snapshot is no snapshot: the event will say "none", so the crop must not linger alone.
                if (cropPath is not null) TryDelete(cropPath);
                Interlocked.Increment(ref _failedWrites);
                _failuresSinceSuccess++;
                StorageFailure kind = Classify(ex);
                ReportFailure(kind, "write", writing ?? dir, ex);
                return SnapshotResult.Failure(camera, $"{Describe(kind)}: {ex.Message}");
            }

            if (_failuresSinceSuccess > 0)
            {
                LogRecovered(_logger, _failuresSinceSuccess, RootDirectory);
                _failuresSinceSuccess = 0;
            }
            var entry = new Entry(id, folder, now)
            {
                CropPath = cropPath,
                CropBytes = rendered.CropJpeg?.LongLength ?? 0,
                FramePath = framePath,
                FrameBytes = rendered.FrameJpeg?.LongLength ?? 0,
            };
            Add(entry);
            return new SnapshotResult(SnapshotStatus.Stored, id, camera, now, cropPath, framePath, entry.Bytes,
                rendered.Blurred, rendered.PublishJpeg, null);
        }
    }

    /// <summary>
    /// The snapshot with this id, or null when there is none (also for a string that is not an id, so input from a
    /// direct method or a URL can be passed straight in: only well-formed ids ever reach a path).
    /// </summary>
    public StoredSnapshot? Find(string? id)
    {
        if (!SnapshotId.TryParse(id, out DateTimeOffset createdAt)) return null;
        lock (_gate)
        {
            if (_index.TryGetValue(id!, out Entry? e)) return e.ToStoredSnapshot();
            // Not indexed (written by another process sharing the folder, or after the last sweep): look on disk.
            string date = SnapshotId.DateFolder(createdAt);
            try
            {
                if (!_fs.DirectoryExists(RootDirectory)) return null;
                foreach (string camDir in _fs.EnumerateDirectories(RootDirectory))
                {
                    string dir = Path.Combine(camDir, date);
                    string crop = Path.Combine(dir, FileName(id!, SnapshotImageKind.Crop));
                    string frame = Path.Combine(dir, FileName(id!, SnapshotImageKind.Frame));
                    bool hasCrop = _fs.FileExists(crop), hasFrame = _fs.FileExists(frame);
                    if (!hasCrop && !hasFrame) continue;
                    long bytes = (hasCrop ? _fs.GetLength(crop) : 0) + (hasFrame ? _fs.GetLength(frame) : 0);
                    return new StoredSnapshot(id!, Path.GetFileName(camDir), createdAt, hasCrop ? crop : null, hasFrame ? frame : null, bytes);
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                ReportFailure(Classify(ex), "find", RootDirectory, ex);
            }
            return null;
        }
    }

    /// <summary>The JPEG bytes of one image of a snapshot, or null when the snapshot, that image or the disk is not there.</summary>
    public byte[]? Read(string? id, SnapshotImageKind kind)
    {
        string? path = Find(id)?.PathOf(kind);
        if (path is null) return null;
        try
        {
            return _fs.ReadAllBytes(path);
        }
        catch (FileNotFoundException)
        {
            return null; // deleted by retention between Find and here
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            lock (_gate) ReportFailure(Classify(ex), "read", path, ex);
            return null;
        }
    }

    /// <summary>Re-reads the folder and applies the limits now (also done every <see cref="SnapshotOptions.RetentionInterval"/>).</summary>
    public RetentionReport EnforceRetention()
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_options.Enabled) return new RetentionReport(0, 0, 0, 0, 0);
            return Sweep();
        }
    }

    private void PeriodicSweep()
    {
        lock (_gate)
        {
            if (_disposed) return;
            Sweep();
        }
    }

    /// <summary>Rescans the disk into the index (dropping stale temporary files), then enforces the limits.</summary>
    private RetentionReport Sweep()
    {
        try
        {
            _fs.CreateDirectory(RootDirectory);
            Rescan();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            ReportFailure(Classify(ex), "scan", RootDirectory, ex);
        }
        return Enforce(_time.GetUtcNow(), 0, 0);
    }

    private void Rescan()
    {
        _index.Clear();
        _files = 0;
        _bytes = 0;
        foreach (string camDir in _fs.EnumerateDirectories(RootDirectory))
        {
            string folder = Path.GetFileName(camDir);
            foreach (string dateDir in _fs.EnumerateDirectories(camDir))
            {
                foreach (string path in _fs.EnumerateFiles(dateDir))
                {
                    string name = Path.GetFileName(path);
                    if (name.StartsWith(TempPrefix, StringComparison.Ordinal) && name.EndsWith(TempSuffix, StringComparison.Ordinal))
                    {
                        // Every write happens under the lock this scan holds, so a temporary file is a crash's leftover.
                        TryDelete(path);
                        continue;
                    }
                    if (!TryParseFileName(name, out string id, out SnapshotImageKind kind, out DateTimeOffset createdAt)) continue;
                    long length = _fs.GetLength(path);
                    if (!_index.TryGetValue(id, out Entry? e))
                    {
                        e = new Entry(id, folder, createdAt);
                        _index.Add(id, e);
                    }
                    if (kind == SnapshotImageKind.Crop) { e.CropPath = path; e.CropBytes = length; }
                    else { e.FramePath = path; e.FrameBytes = length; }
                    _files++;
                    _bytes += length;
                }
            }
        }
    }

    /// <summary>Deletes whole snapshots, oldest first, until the age limit holds and <paramref name="newFiles"/>/<paramref name="newBytes"/> more would fit.</summary>
    private RetentionReport Enforce(DateTimeOffset now, int newFiles, long newBytes)
    {
        int deletedSnapshots = 0, deletedFiles = 0;
        long deletedBytes = 0;
        DateTimeOffset? oldestAllowed = _options.MaxAge > TimeSpan.Zero ? now - _options.MaxAge : null;
        while (_index.Count > 0)
        {
            Entry oldest = _index.First().Value;
            bool tooOld = oldestAllowed is { } limit && oldest.CreatedAt < limit;
            bool tooMany = _options.MaxFiles > 0 && _files + newFiles > _options.MaxFiles;
            bool tooBig = _options.MaxTotalBytes > 0 && _bytes + newBytes > _options.MaxTotalBytes;
            if (!tooOld && !tooMany && !tooBig) break;
            Remove(oldest);
            deletedSnapshots++;
            deletedFiles += oldest.FileCount;
            deletedBytes += oldest.Bytes;
            string? dir = null;
            if (oldest.CropPath is { } c) { TryDelete(c); dir = Path.GetDirectoryName(c); }
            if (oldest.FramePath is { } f) { TryDelete(f); dir = Path.GetDirectoryName(f); }
            if (dir is not null) TryDeleteEmptyDirectory(dir);
        }
        if (deletedSnapshots > 0)
            LogRetention(_logger, deletedSnapshots, deletedFiles, deletedBytes, _files, _bytes);
        return new RetentionReport(deletedSnapshots, deletedFiles, deletedBytes, _files, _bytes);
    }

    private void WriteAtomically(string path, byte[] bytes)
    {
        string temp = Path.Combine(Path.GetDirectoryName(path)!, TempPrefix + Path.GetFileName(path) + TempSuffix);
        try
        {
            using (Stream s = _fs.CreateNew(temp))
            {
                s.Write(bytes);
                // On the device before the rename, or a power cut could leave a complete name over an empty file.
                if (s is FileStream fileStream) fileStream.Flush(flushToDisk: true);
                else s.Flush();
            }
            _fs.Move(temp, path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            TryDelete(temp);
            throw;
        }
    }

    private void TryDelete(string path)
    {
        try
        {
            _fs.DeleteFile(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            ReportFailure(Classify(ex), "delete", path, ex);
        }
    }

    private void TryDeleteEmptyDirectory(string dir)
    {
        try
        {
            _fs.DeleteDirectoryIfEmpty(dir);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Someone wrote into it meanwhile, or it is not ours to delete: an empty folder costs nothing.
            LogDirectoryKept(_logger, dir, ex.Message);
        }
    }

    private void Add(Entry e)
    {
        _index.Add(e.Id, e);
        _files += e.FileCount;
        _bytes += e.Bytes;
    }

    private void Remove(Entry e)
    {
        _index.Remove(e.Id);
        _files -= e.FileCount;
        _bytes -= e.Bytes;
    }

    private void ReportFailure(StorageFailure kind, string operation, string path, Exception ex)
    {
        string key = kind + "/" + operation;
        DateTimeOffset now = _time.GetUtcNow();
        if (!_failureLog.TryGetValue(key, out FailureLogState? state))
        {
            state = new FailureLogState();
            _failureLog.Add(key, state);
        }
        if (state.LastLoggedAt is { } last && now - last < _options.FailureLogInterval)
        {
            state.Suppressed++;
            return;
        }
        LogStorageFailure(_logger, ex, operation, Describe(kind), path, state.Suppressed);
        state.LastLoggedAt = now;
        state.Suppressed = 0;
    }

    /// <summary>Sorts an I/O error into what an operator should do about it.</summary>
    public static StorageFailure Classify(Exception ex) => ex switch
    {
        UnauthorizedAccessException => StorageFailure.AccessDenied,
        DirectoryNotFoundException => StorageFailure.FolderMissing,
        FileNotFoundException => StorageFailure.FolderMissing,
        // errno ENOSPC (28) and EDQUOT (122) on Linux; ERROR_DISK_FULL (112) and ERROR_HANDLE_DISK_FULL (39) on Windows.
        IOException io when (io.HResult & 0xFFFF) is 28 or 122 or 112 or 39 => StorageFailure.DiskFull,
        // errno EROFS (30): the file system is mounted read-only.
        IOException io when (io.HResult & 0xFFFF) is 30 => StorageFailure.ReadOnly,
        _ => StorageFailure.IOError,
    };

    private static string Describe(StorageFailure kind) => kind switch
    {
        StorageFailure.DiskFull => "disk full",
        StorageFailure.AccessDenied => "access denied",
        StorageFailure.FolderMissing => "folder missing",
        StorageFailure.ReadOnly => "read-only file system",
        _ => "I/O error",
    };

    /// <summary>The camera's folder name: letters, digits, '.', '-', '_' only, so no camera id can point outside the root.</summary>
    public static string CameraFolder(string camera)
    {
        Span<char> chars = camera.Length <= 64 ? stackalloc char[camera.Length] : new char[64];
        for (int i = 0; i < chars.Length; i++)
        {
            char c = camera[i];
            chars[i] = char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_';
        }
        string name = new(chars);
        return name.Trim('.').Length == 0 ? "_" + name.Replace('.', '_') : name;
    }

    public static string FileName(string id, SnapshotImageKind kind) =>
        id + (kind == SnapshotImageKind.Crop ? "-crop.jpg" : "-frame.jpg");

    private static bool TryParseFileName(string name, out string id, out SnapshotImageKind kind, out DateTimeOffset createdAt)
    {
        id = "";
        kind = default;
        createdAt = default;
        if (name.EndsWith("-crop.jpg", StringComparison.Ordinal)) kind = SnapshotImageKind.Crop;
        else if (name.EndsWith("-frame.jpg", StringComparison.Ordinal)) kind = SnapshotImageKind.Frame;
        else return false;
        if (name.Length != SnapshotId.Length + (kind == SnapshotImageKind.Crop ? "-crop.jpg".Length : "-frame.jpg".Length)) return false;
        id = name[..SnapshotId.Length];
        return SnapshotId.TryParse(id, out createdAt);
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
        }
        _timer?.Dispose();
    }

    private sealed class Entry(string id, string cameraFolder, DateTimeOffset createdAt)
    {
        public string Id { get; } = id;
        public string CameraFolder { get; } = cameraFolder;
        public DateTimeOffset CreatedAt { get; } = createdAt;
        public string? CropPath { get; set; }
        public long CropBytes { get; set; }
        public string? FramePath { get; set; }
        public long FrameBytes { get; set; }
        public int FileCount => (CropPath is null ? 0 : 1) + (FramePath is null ? 0 : 1);
        public long Bytes => CropBytes + FrameBytes;

        public StoredSnapshot ToStoredSnapshot() => new(Id, CameraFolder, CreatedAt, CropPath, FramePath, Bytes);
    }

    private sealed class FailureLogState
    {
        public DateTimeOffset? LastLoggedAt { get; set; }
        public int Suppressed { get; set; }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Snapshot {Operation} failed ({Failure}) at {Path}; events go on without snapshots until storage recovers ({Suppressed} similar failures not logged since the last report)")]
    private static partial void LogStorageFailure(ILogger logger, Exception exception, string operation, string failure, string path, int suppressed);

    [LoggerMessage(Level = LogLevel.Information, Message = "Snapshot storage recovered after {Failures} failed writes under {Root}")]
    private static partial void LogRecovered(ILogger logger, int failures, string root);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Snapshot of camera {Camera} ({Bytes} bytes) not stored: larger than the retention limits ({MaxTotalBytes} bytes, {MaxFiles} files)")]
    private static partial void LogTooLarge(ILogger logger, string camera, long bytes, long maxTotalBytes, int maxFiles);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Snapshot retention deleted {Snapshots} snapshots ({Files} files, {Bytes} bytes); {RemainingFiles} files, {RemainingBytes} bytes kept")]
    private static partial void LogRetention(ILogger logger, int snapshots, int files, long bytes, int remainingFiles, long remainingBytes);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Snapshot folder {Path} kept: {Reason}")]
    private static partial void LogDirectoryKept(ILogger logger, string path, string reason);
}

/// <summary>Kinds of storage failure, each logged (rate-limited) on its own.</summary>
public enum StorageFailure
{
    DiskFull,
    AccessDenied,
    FolderMissing,
    ReadOnly,
    IOError,
}
