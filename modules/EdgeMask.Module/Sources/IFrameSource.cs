using OpenCvSharp;

namespace EdgeMask.Module.Sources;

/// <summary>What one <see cref="IFrameSource.Read"/> produced.</summary>
public enum FrameReadStatus
{
    /// <summary>The destination holds a new 8-bit BGR picture.</summary>
    Frame,
    /// <summary>No more frames: the end of a file or folder, or a live stream that closed.</summary>
    EndOfStream,
}

/// <summary>
/// A camera, file, folder or stream that fills caller-owned Mats. Not thread-safe except <see cref="Interrupt"/>:
/// one capture loop calls <see cref="Open"/>, <see cref="Read"/> and <see cref="Close"/>; a watchdog on another
/// thread may call <see cref="Interrupt"/> to unblock a stalled <see cref="Read"/>.
/// </summary>
public interface IFrameSource : IDisposable
{
    /// <summary>Names the source for logs and errors, with any password in a URL hidden.</summary>
    string Description { get; }

    /// <summary>A camera or network stream (reconnected forever) rather than a file or folder (ends).</summary>
    bool IsLive { get; }

    /// <summary>Frames per second the source declares (0 when unknown); known after <see cref="Open"/>.</summary>
    double NominalFps { get; }

    /// <summary>Frames that could not be decoded and were skipped (corrupt segments, unreadable images).</summary>
    long SkippedFrames { get; }

    /// <summary>Opens (or reopens after <see cref="Close"/>) the source. Throws <see cref="FrameSourceUnavailableException"/>.</summary>
    void Open(CancellationToken cancellationToken);

    /// <summary>
    /// Blocks until the next picture is written into <paramref name="destination"/> (reallocated only when its
    /// size or type differs) or the stream ends. Throws <see cref="FrameSourceReadException"/> on a read failure.
    /// </summary>
    FrameReadStatus Read(Mat destination, out TimeSpan? mediaPosition);

    /// <summary>Releases the device, file or child process; the source may be opened again.</summary>
    void Close();

    /// <summary>Called from another thread when no frame arrived for too long: makes a pending <see cref="Read"/> return.</summary>
    void Interrupt();
}
