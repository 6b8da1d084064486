using OpenCvSharp;

namespace EdgeMask.Module.Hosting;

/// <summary>A JPEG of one camera frame and when it was captured.</summary>
public sealed record FrameJpeg(byte[] Jpeg, int Width, int Height, DateTimeOffset CapturedAt);

/// <summary>
/// The <c>captureSnapshot</c> hook of one camera. The worker offers every frame; a frame is only encoded when someone
/// waits for one or when the kept JPEG is older than <see cref="RefreshInterval"/>, so the hot path pays one volatile
/// read and a clock read per frame. Keeping a recent JPEG (rather than a frame) means a snapshot can still be answered
/// after a file source ended or while a stream reconnects, with its capture time so the caller sees how old it is.
/// </summary>
public sealed class CameraFrameTap(TimeProvider time)
{
    /// <summary>How old the kept JPEG may get while frames flow (one encode per interval is negligible next to inference).</summary>
    public static readonly TimeSpan RefreshInterval = TimeSpan.FromSeconds(10);

    private readonly Lock _gate = new();
    private TaskCompletionSource<FrameJpeg>? _waiting;
    private FrameJpeg? _last;
    private long _lastEncodedTicks = long.MinValue;
    private int _pending;

    /// <summary>The most recent JPEG kept, if any frame was seen.</summary>
    public FrameJpeg? Last
    {
        get
        {
            lock (_gate) return _last;
        }
    }

    /// <summary>Called on the camera's worker thread with the frame just processed (not kept, not modified).</summary>
    public void Offer(Mat frame, DateTimeOffset capturedAt)
    {
        long now = time.GetTimestamp();
        bool due = Volatile.Read(ref _pending) != 0
            || Volatile.Read(ref _lastEncodedTicks) == long.MinValue
            || time.GetElapsedTime(Volatile.Read(ref _lastEncodedTicks), now) >= RefreshInterval;
        if (!due || frame.Empty()) return;
        Cv2.ImEncode(".jpg", frame, out var jpeg, new ImageEncodingParam(ImwriteFlags.JpegQuality, 85));
        var result = new FrameJpeg(jpeg, frame.Width, frame.Height, capturedAt);
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
            return await task.WaitAsync(timeout, time, cancellationToken);
        }
        catch (TimeoutException)
        {
            return null;
        }
    }
}
