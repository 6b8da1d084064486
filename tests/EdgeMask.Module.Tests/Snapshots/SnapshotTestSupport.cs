using System.Collections.Concurrent;
using EdgeMask.Core.Evaluation;
using EdgeMask.Core.Geometry;
using EdgeMask.Module.Snapshots;
using EdgeMask.Tests.Shared;
using Microsoft.Extensions.Logging;
using OpenCvSharp;
using LogLevel = Microsoft.Extensions.Logging.LogLevel;

namespace EdgeMask.Module.Tests.Snapshots;

/// <summary>A real photo of the voc853 set with its annotated faces: two masked bystanders and one unmasked violator.</summary>
internal sealed class VocPhoto : IDisposable
{
    // maksssksksss83: 400×306, faces of 75–112 px, far enough apart that grown blur boxes do not touch each other.
    public const int ImageNumber = 83;

    public VocPhoto()
    {
        Frame = Cv2.ImRead(TestPaths.VocImage(ImageNumber), ImreadModes.Color);
        if (Frame.Empty()) throw new FileNotFoundException("The voc853 photo is missing.", TestPaths.VocImage(ImageNumber));
        VocAnnotation voc = VocAnnotation.Load(TestPaths.VocAnnotation(ImageNumber));
        Faces = voc.Objects.Select(o => o.Box).ToArray();
        Violator = voc.Objects.Single(o => o.Name == "without_mask").Box;
        Others = voc.Objects.Where(o => o.Name != "without_mask").Select(o => o.Box).ToArray();
    }

    public Mat Frame { get; }
    public BoxF[] Faces { get; }
    public BoxF Violator { get; }
    public BoxF[] Others { get; }

    public void Dispose() => Frame.Dispose();
}

/// <summary>A clock the test moves by hand; its timers fire inside <see cref="Advance"/>.</summary>
internal sealed class ManualTimeProvider(DateTimeOffset start) : TimeProvider
{
    private readonly List<ManualTimer> _timers = new();
    private readonly DateTimeOffset _start = start;
    private DateTimeOffset _now = start;
    // The wall clock's steps (NTP setting the clock): moves GetUtcNow only, not the monotonic timestamp or the timers.
    private TimeSpan _wallStep;

    public override DateTimeOffset GetUtcNow() => _now + _wallStep;

    /// <summary>Monotonic, in ticks, moved by <see cref="Advance"/> only (as a machine's monotonic clock is not moved by NTP).</summary>
    public override long GetTimestamp() => (_now - _start).Ticks;

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    /// <summary>The system clock is set by <paramref name="by"/> (forward or back), as NTP does at a Jetson's first sync.</summary>
    public void StepWallClock(TimeSpan by) => _wallStep += by;

    public int ActiveTimers { get { lock (_timers) return _timers.Count(t => t.DueAt is not null); } }

    public void Advance(TimeSpan by)
    {
        DateTimeOffset target = _now + by;
        while (true)
        {
            ManualTimer? next;
            lock (_timers) next = _timers.Where(t => t.DueAt is { } d && d <= target).OrderBy(t => t.DueAt).FirstOrDefault();
            if (next is null) break;
            _now = next.DueAt!.Value;
            next.Fire();
        }
        _now = target;
    }

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new ManualTimer(this, callback, state);
        timer.Change(dueTime, period);
        lock (_timers) _timers.Add(timer);
        return timer;
    }

    private sealed class ManualTimer(ManualTimeProvider owner, TimerCallback callback, object? state) : ITimer
    {
        private TimeSpan _period;
        public DateTimeOffset? DueAt { get; private set; }

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            DueAt = dueTime == Timeout.InfiniteTimeSpan ? null : owner._now + dueTime;
            _period = period;
            return true;
        }

        public void Fire()
        {
            DueAt = _period == Timeout.InfiniteTimeSpan || _period == TimeSpan.Zero ? null : DueAt + _period;
            callback(state);
        }

        public void Dispose() => DueAt = null;
        public ValueTask DisposeAsync() { Dispose(); return ValueTask.CompletedTask; }
    }
}

/// <summary>Keeps every log entry so tests can check what an operator would see.</summary>
internal sealed class RecordingLogger<T> : ILogger<T>
{
    public ConcurrentQueue<(LogLevel Level, string Message, Exception? Exception)> Entries { get; } = new();

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        Entries.Enqueue((logLevel, formatter(state, exception), exception));

    public int Count(LogLevel level) => Entries.Count(e => e.Level == level);
}

/// <summary>
/// The real file system, except that while <see cref="DiskFull"/> is set every write runs out of space part-way,
/// with the same exception .NET raises on Linux for ENOSPC (an <see cref="IOException"/> whose HResult is 28).
/// </summary>
internal sealed class DiskFullFileSystem : ISnapshotFileSystem
{
    public const int Enospc = 28;
    private readonly PhysicalSnapshotFileSystem _real = PhysicalSnapshotFileSystem.Instance;

    public volatile bool DiskFull;
    public int FailedWrites;

    public Stream CreateNew(string path)
    {
        Stream real = _real.CreateNew(path);
        return DiskFull ? new FillingStream(real, this) : real;
    }

    public void CreateDirectory(string path) => _real.CreateDirectory(path);
    public void Move(string source, string destination) => _real.Move(source, destination);
    public void DeleteFile(string path) => _real.DeleteFile(path);
    public bool DeleteDirectoryIfEmpty(string path) => _real.DeleteDirectoryIfEmpty(path);
    public bool FileExists(string path) => _real.FileExists(path);
    public bool DirectoryExists(string path) => _real.DirectoryExists(path);
    public long GetLength(string path) => _real.GetLength(path);
    public byte[] ReadAllBytes(string path) => _real.ReadAllBytes(path);
    public IEnumerable<string> EnumerateDirectories(string path) => _real.EnumerateDirectories(path);
    public IEnumerable<string> EnumerateFiles(string path) => _real.EnumerateFiles(path);

    /// <summary>Writes the first 1000 bytes, then reports the device full, as a filling disk does.</summary>
    private sealed class FillingStream(Stream inner, DiskFullFileSystem owner) : Stream
    {
        private long _written;
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => inner.Length;
        public override long Position { get => inner.Position; set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            int room = (int)Math.Max(0, 1000 - _written);
            inner.Write(buffer[..Math.Min(room, buffer.Length)]);
            _written += Math.Min(room, buffer.Length);
            if (buffer.Length > room)
            {
                Interlocked.Increment(ref owner.FailedWrites);
                throw new IOException("No space left on device", Enospc);
            }
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing) inner.Dispose();
            base.Dispose(disposing);
        }
    }
}

internal static class SnapshotFiles
{
    /// <summary>Every file under <paramref name="root"/>, relative, sorted.</summary>
    public static string[] All(string root) => Directory.Exists(root)
        ? Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories).Select(p => Path.GetRelativePath(root, p)).Order(StringComparer.Ordinal).ToArray()
        : [];

    public static Mat Decode(byte[] jpeg)
    {
        Mat m = Cv2.ImDecode(jpeg, ImreadModes.Color);
        Assert.False(m.Empty(), "the JPEG decodes");
        return m;
    }

    /// <summary>Mean absolute difference per channel value of two images over a rectangle.</summary>
    public static double MeanAbsDiff(Mat a, Mat b, Rect rect)
    {
        using var ra = new Mat(a, rect);
        using var rb = new Mat(b, rect);
        using var diff = new Mat();
        Cv2.Absdiff(ra, rb, diff);
        Scalar mean = Cv2.Mean(diff);
        return (mean.Val0 + mean.Val1 + mean.Val2) / 3;
    }

    public static Rect Inner(BoxF box, int inset) =>
        new((int)MathF.Ceiling(box.X1) + inset, (int)MathF.Ceiling(box.Y1) + inset,
            (int)box.Width - 2 * inset - 1, (int)box.Height - 2 * inset - 1);
}
