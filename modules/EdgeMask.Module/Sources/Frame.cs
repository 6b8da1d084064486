using OpenCvSharp;

namespace EdgeMask.Module.Sources;

/// <summary>
/// One captured picture: an 8-bit BGR <see cref="Mat"/> (CV_8UC3) with its sequence number and times. Whoever
/// holds a frame owns it and must dispose it exactly once; disposing hands the frame and its <see cref="Mat"/> back
/// to the <see cref="FramePool"/> it came from, so a steady stream reuses a handful of buffers. Do not touch a
/// frame (or keep its <see cref="Image"/>) after disposing it: the pool gives the same object to the next capture.
/// Clone the Mat to keep a picture longer.
/// </summary>
public sealed class Frame : IDisposable
{
    private readonly FramePool? _pool;
    // 1 while a holder owns the frame, 0 once it is back in the pool: a second Dispose by the same holder is a no-op.
    private int _rented;

    internal Frame(FramePool? pool)
    {
        _pool = pool;
        Image = new Mat();
    }

    /// <summary>The picture, 8-bit BGR (CV_8UC3), continuous.</summary>
    public Mat Image { get; }

    /// <summary>Sequence number given by the capture, counting from 0 and never reset by a reconnection.</summary>
    public long Index { get; internal set; }

    /// <summary>When the frame was read, from the capture's <see cref="TimeProvider"/>.</summary>
    public DateTimeOffset CapturedAt { get; internal set; }

    /// <summary>
    /// The capture's monotonic timestamp (<see cref="TimeProvider.GetTimestamp"/>) at <see cref="CapturedAt"/>: how much
    /// time really passed between two frames, when the wall clock was set in between (NTP).
    /// </summary>
    public long CapturedTimestamp { get; internal set; }

    /// <summary>Position in the media for files (null for live sources and image folders).</summary>
    public TimeSpan? MediaPosition { get; internal set; }

    public int Width => Image.Width;
    public int Height => Image.Height;

    internal void MarkRented() => Volatile.Write(ref _rented, 1);

    /// <summary>Returns the frame to its pool (or frees its buffer when the pool is gone or full).</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _rented, 0) == 0) return;
        if (_pool is null) Image.Dispose();
        else _pool.Return(this);
    }

    internal void ReleaseNative() => Image.Dispose();
}

/// <summary>
/// Recycles <see cref="Frame"/>s (and their native buffers) between a capture loop and its consumer, so capture does
/// not allocate per frame in steady state: a reused Mat of the same size is filled in place by
/// <c>VideoCapture.Read</c> or the raw-pipe reader. Thread-safe. Keeps at most <see cref="MaxRetained"/> idle frames;
/// frames returned beyond that, or after the pool is disposed, are freed.
/// </summary>
public sealed class FramePool : IDisposable
{
    private readonly Stack<Frame> _idle;
    private readonly Lock _gate = new();
    private long _created;
    private long _outstanding;
    private bool _disposed;

    public FramePool(int maxRetained = 8)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxRetained, 1);
        MaxRetained = maxRetained;
        _idle = new Stack<Frame>(maxRetained);
    }

    public int MaxRetained { get; }

    /// <summary>Frames (each with its own native buffer) created since the pool was made: bounded in a steady stream.</summary>
    public long Created => Interlocked.Read(ref _created);

    /// <summary>Frames rented and not yet disposed.</summary>
    public long Outstanding => Interlocked.Read(ref _outstanding);

    /// <summary>Idle frames waiting in the pool.</summary>
    public int Retained { get { lock (_gate) return _idle.Count; } }

    /// <summary>A frame whose <see cref="Frame.Image"/> may hold any earlier picture; the reader overwrites it.</summary>
    public Frame Rent()
    {
        Frame? frame = null;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_idle.Count > 0) frame = _idle.Pop();
        }
        if (frame is null)
        {
            frame = new Frame(this);
            Interlocked.Increment(ref _created);
        }
        frame.Index = 0;
        frame.CapturedAt = default;
        frame.CapturedTimestamp = 0;
        frame.MediaPosition = null;
        frame.MarkRented();
        Interlocked.Increment(ref _outstanding);
        return frame;
    }

    /// <summary>Set whenever a frame comes back: a producer waiting for its consumer re-checks then.</summary>
    internal ManualResetEventSlim? ReturnSignal { get; set; }

    internal void Return(Frame frame)
    {
        Interlocked.Decrement(ref _outstanding);
        ReturnSignal?.Set();
        lock (_gate)
        {
            if (!_disposed && _idle.Count < MaxRetained)
            {
                _idle.Push(frame);
                return;
            }
        }
        frame.ReleaseNative();
    }

    /// <summary>Frees the idle frames; frames still held are freed when their holders dispose them.</summary>
    public void Dispose()
    {
        Frame[] idle;
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            idle = _idle.ToArray();
            _idle.Clear();
        }
        foreach (var f in idle) f.ReleaseNative();
    }
}
