using System.Buffers;
using EdgeMask.Core.Geometry;
using EdgeMask.Core.Tracking;
using EdgeMask.Module.Snapshots;
using OpenCvSharp;

namespace EdgeMask.Module.Hosting;

/// <summary>
/// A JPEG of one camera frame, when it was captured, and how its faces were anonymized (<see cref="Privacy"/> as
/// configured, <see cref="BlurredFaces"/> faces actually covered).
/// </summary>
public sealed record FrameJpeg(byte[] Jpeg, int Width, int Height, DateTimeOffset CapturedAt,
    SnapshotPrivacy Privacy = SnapshotPrivacy.None, int BlurredFaces = 0);

/// <summary>
/// The <c>captureSnapshot</c> hook of one camera. The worker offers every frame; a frame is only kept when someone
/// waits for one or when the kept JPEG is older than <see cref="RefreshInterval"/>, so the hot path pays one volatile
/// read and a clock read per frame. A kept frame is copied and encoded on the thread pool, never on the camera thread. Keeping a recent JPEG (rather than a frame) means a snapshot can still be answered
/// after a file source ended or while a stream reconnects, with its capture time so the caller sees how old it is.
/// </summary>
/// <remarks>
/// An operator's capture leaves the device like a violation snapshot does, so it follows the same
/// <see cref="SnapshotOptions.Privacy"/>: every face the camera's tracker holds in that frame is anonymized (with no
/// violator, BlurOthers covers every face too) by this tap's own <see cref="SnapshotRenderer"/> before the copy is
/// encoded. The unblurred copy is freed right after.
/// </remarks>
public sealed class CameraFrameTap : IDisposable
{
    /// <summary>How old the kept JPEG may get while frames flow (one encode per interval is negligible next to inference).</summary>
    public static readonly TimeSpan RefreshInterval = TimeSpan.FromSeconds(10);

    private readonly TimeProvider _time;
    private readonly SnapshotRenderer _renderer;
    private readonly Lock _gate = new();
    // Held while rendering, so Dispose never frees the renderer under an encode (and readers of Last never wait for one).
    private readonly Lock _renderGate = new();
    private TaskCompletionSource<FrameJpeg>? _waiting;
    private FrameJpeg? _last;
    private long _lastEncodedTicks = long.MinValue;
    private int _pending;
    private int _encoding;
    private bool _disposed;

    /// <param name="time">Clock for the refresh interval and the waits.</param>
    /// <param name="snapshots">Privacy mode, blur and JPEG quality (the <c>snapshots</c> section; default: its defaults).</param>
    public CameraFrameTap(TimeProvider time, SnapshotOptions? snapshots = null)
    {
        _time = time;
        // Only the full frame is rendered here: no image for the snapshot topic.
        _renderer = new SnapshotRenderer((snapshots ?? new SnapshotOptions()) with { Publish = SnapshotPublishImage.None });
    }

    /// <summary>The privacy mode applied to the frames this tap keeps.</summary>
    public SnapshotPrivacy Privacy => _renderer.Options.Privacy;

    /// <summary>The most recent JPEG kept, if any frame was seen.</summary>
    public FrameJpeg? Last
    {
        get
        {
            lock (_gate) return _last;
        }
    }

    /// <summary>
    /// Called on the camera's worker thread with the frame just processed (not kept, not modified) and the tracker's
    /// faces in it; their boxes are only read when the frame is encoded.
    /// </summary>
    public void Offer(Mat frame, DateTimeOffset capturedAt, ReadOnlySpan<FaceTrack> faces)
    {
        if (!IsDue(out _)) return;
        BoxF[] boxes = ArrayPool<BoxF>.Shared.Rent(Math.Max(1, faces.Length));
        try
        {
            for (int i = 0; i < faces.Length; i++) boxes[i] = faces[i].Box;
            Offer(frame, capturedAt, boxes.AsSpan(0, faces.Length));
        }
        finally
        {
            ArrayPool<BoxF>.Shared.Return(boxes);
        }
    }

    /// <summary>As <see cref="Offer(Mat, DateTimeOffset, ReadOnlySpan{FaceTrack})"/> with the face boxes themselves.</summary>
    public void Offer(Mat frame, DateTimeOffset capturedAt, ReadOnlySpan<BoxF> faces)
    {
        if (!IsDue(out long now) || frame.Empty()) return;
        // One encode at a time: while one runs, the next frames are not due yet for this tap.
        if (Interlocked.CompareExchange(ref _encoding, 1, 0) != 0) return;
        var copy = frame.Clone();
        var boxes = faces.ToArray();
        ThreadPool.UnsafeQueueUserWorkItem(_ => Encode(copy, boxes, capturedAt, now), null);
    }

    private void Encode(Mat copy, BoxF[] faces, DateTimeOffset capturedAt, long now)
    {
        FrameJpeg result;
        try
        {
            lock (_renderGate)
            {
                if (_disposed) return;
                var rendered = _renderer.RenderScene(copy, faces);
                result = new FrameJpeg(rendered.FrameJpeg!, copy.Width, copy.Height, capturedAt, rendered.Privacy, rendered.BlurredFaces);
            }
        }
        catch (OpenCVException)
        {
            // The next due frame tries again; a capture request waits for it.
            return;
        }
        finally
        {
            copy.Dispose();
            Volatile.Write(ref _encoding, 0);
        }
        TaskCompletionSource<FrameJpeg>? waiting;
        lock (_gate)
        {
            _last = result;
            waiting = _waiting;
            _waiting = null;
            Volatile.Write(ref _pending, 0);
            Volatile.Write(ref _lastEncodedTicks, now);
        }
        waiting?.TrySetResult(result);
    }

    private bool IsDue(out long now)
    {
        now = _time.GetTimestamp();
        return Volatile.Read(ref _pending) != 0
            || Volatile.Read(ref _lastEncodedTicks) == long.MinValue
            || _time.GetElapsedTime(Volatile.Read(ref _lastEncodedTicks), now) >= RefreshInterval;
    }

    /// <summary>Waits for the next frame the camera delivers (null when none arrives within <paramref name="timeout"/>).</summary>
    public async Task<FrameJpeg?> NextAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        Task<FrameJpeg> task;
        lock (_gate)
        {
            _waiting ??= new TaskCompletionSource<FrameJpeg>(TaskCreationOptions.RunContinuationsAsynchronously);
            task = _waiting.Task;
            Volatile.Write(ref _pending, 1);
        }
        try
        {
            return await task.WaitAsync(timeout, _time, cancellationToken);
        }
        catch (TimeoutException)
        {
            return null;
        }
    }

    /// <summary>Call after the camera's worker has stopped offering frames; an encode in flight finishes first or is skipped.</summary>
    public void Dispose()
    {
        lock (_renderGate)
        {
            if (_disposed) return;
            _disposed = true;
            _renderer.Dispose();
        }
    }
}
