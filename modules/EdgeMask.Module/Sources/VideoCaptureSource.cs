using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OpenCvSharp;

namespace EdgeMask.Module.Sources;

/// <summary>
/// A video file or a V4L2 camera read through OpenCvSharp's <see cref="VideoCapture"/>. Files use the bundled
/// FFmpeg backend (no network protocols: URLs go to <see cref="PipeFrameSource"/>); devices use V4L2, whose
/// reads time out on their own when a camera stops, so <see cref="Interrupt"/> has nothing to do.
/// </summary>
public sealed class VideoCaptureSource : IFrameSource
{
    private readonly string _target;
    private readonly int? _deviceIndex;
    private readonly FrameSourceOptions _options;
    private readonly ILogger _logger;
    private VideoCapture? _capture;
    private double _frameCount;
    private int _badReadsInRow;
    private long _skipped;

    private VideoCaptureSource(string target, int? deviceIndex, bool isLive, FrameSourceOptions options, ILogger? logger)
    {
        options.Validate();
        _target = target;
        _deviceIndex = deviceIndex;
        _options = options;
        _logger = logger ?? NullLogger.Instance;
        IsLive = isLive;
        Description = target;
    }

    /// <summary>A video file (anything OpenCV's bundled FFmpeg decodes: H.264 .mp4, MJPEG .avi, …).</summary>
    public static VideoCaptureSource ForFile(string path, FrameSourceOptions? options = null, ILogger? logger = null) =>
        new(path, null, isLive: false, options ?? new FrameSourceOptions(), logger);

    /// <summary>A V4L2 camera by path (<c>/dev/video0</c>) or index (<c>0</c>).</summary>
    public static VideoCaptureSource ForDevice(string pathOrIndex, FrameSourceOptions? options = null, ILogger? logger = null)
    {
        int? index = int.TryParse(pathOrIndex, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var i) ? i : null;
        string path = index is { } n ? $"/dev/video{n}" : pathOrIndex;
        return new(path, index, isLive: true, options ?? new FrameSourceOptions(), logger);
    }

    public string Description { get; }
    public bool IsLive { get; }
    public double NominalFps { get; private set; }
    public long SkippedFrames => Interlocked.Read(ref _skipped);

    public void Open(CancellationToken cancellationToken)
    {
        Close();
        cancellationToken.ThrowIfCancellationRequested();
        if (IsLive) OpenDevice();
        else OpenFile();
        _badReadsInRow = 0;
    }

    private void OpenFile()
    {
        if (Directory.Exists(_target))
            throw new FrameSourceUnavailableException(_target, "it is a folder", "Give a video file, or pass the folder itself as an image-folder source.");
        if (!File.Exists(_target))
            throw new FrameSourceUnavailableException(_target, "the file does not exist",
                $"Check the path (relative paths start at {Environment.CurrentDirectory}).");
        var capture = new VideoCapture(_target, VideoCaptureAPIs.FFMPEG);
        if (!capture.IsOpened())
        {
            capture.Dispose();
            throw new FrameSourceUnavailableException(_target, "OpenCV could not open it as a video",
                "Check that the file is a complete video OpenCV's FFmpeg decodes (H.264 .mp4, MJPEG .avi); play it with `ffprobe FILE` to see what it holds.");
        }
        _capture = capture;
        _frameCount = capture.Get(VideoCaptureProperties.FrameCount);
        NominalFps = SaneFps(capture.Fps);
        _logger.LogInformation("Opened video file {Source}: {Width}x{Height}, {Fps} frames/s, {FrameCount} frames",
            Description, capture.FrameWidth, capture.FrameHeight, NominalFps, _frameCount);
    }

    private void OpenDevice()
    {
        const string hint = "Check `ls -l /dev/video*`, that the container runs with `--device` for it, and that the user is in the `video` group.";
        if (OperatingSystem.IsLinux() && !File.Exists(_target))
            throw new FrameSourceUnavailableException(_target, "the device does not exist", hint);
        var capture = _deviceIndex is { } index
            ? new VideoCapture(index, VideoCaptureAPIs.V4L2)
            : new VideoCapture(_target, VideoCaptureAPIs.V4L2);
        if (!capture.IsOpened())
        {
            capture.Dispose();
            throw new FrameSourceUnavailableException(_target, "V4L2 could not open it (busy, not a capture device, or no permission)", hint);
        }
        // Requests, not guarantees: the driver picks the nearest mode it supports.
        if (_options.Width is { } w && _options.Height is { } h)
        {
            capture.Set(VideoCaptureProperties.FrameWidth, w);
            capture.Set(VideoCaptureProperties.FrameHeight, h);
        }
        if (_options.Fps is { } fps) capture.Set(VideoCaptureProperties.Fps, fps);
        _capture = capture;
        NominalFps = SaneFps(capture.Fps);
        _logger.LogInformation("Opened camera {Source}: {Width}x{Height}, {Fps} frames/s", Description, capture.FrameWidth, capture.FrameHeight, NominalFps);
    }

    public FrameReadStatus Read(Mat destination, out TimeSpan? mediaPosition)
    {
        mediaPosition = null;
        var capture = _capture ?? throw new InvalidOperationException("Read before Open.");
        while (true)
        {
            if (capture.Read(destination) && !destination.Empty())
            {
                if (_badReadsInRow > 0)
                {
                    // The failed reads were a corrupt stretch the decoder skipped, not the end.
                    Interlocked.Add(ref _skipped, _badReadsInRow);
                    _logger.LogWarning("Skipped {Count} undecodable frames in {Source}", _badReadsInRow, Description);
                    _badReadsInRow = 0;
                }
                ToBgr8(destination);
                if (!IsLive) mediaPosition = TimeSpan.FromMilliseconds(capture.PosMsec);
                return FrameReadStatus.Frame;
            }
            if (IsLive) throw new FrameSourceReadException(Description, "the camera returned no frame (unplugged, or no frame within the V4L2 timeout)");
            // A failed read at the last frame is the end; in the middle it is a corrupt segment: OpenCV keeps
            // consuming packets on each retry until the decoder finds an intact picture again.
            if (_frameCount > 0 && capture.PosFrames >= _frameCount) return FrameReadStatus.EndOfStream;
            if (++_badReadsInRow >= _options.MaxConsecutiveBadReads)
            {
                _logger.LogWarning("Gave up on {Source} after {Count} undecodable frames in a row at frame {Position} of {FrameCount}: treating it as ended",
                    Description, _badReadsInRow, capture.PosFrames, _frameCount);
                return FrameReadStatus.EndOfStream;
            }
        }
    }

    // Most devices deliver BGR already; a grey or BGRA one is converted so every consumer sees CV_8UC3.
    internal static void ToBgr8(Mat image)
    {
        if (image.Type() == MatType.CV_8UC3) return;
        var code = image.Channels() switch
        {
            1 => ColorConversionCodes.GRAY2BGR,
            4 => ColorConversionCodes.BGRA2BGR,
            _ => throw new FrameSourceReadException("image", $"unsupported pixel type {image.Type()}"),
        };
        if (image.Depth() != MatType.CV_8U) image.ConvertTo(image, MatType.MakeType(MatType.CV_8U, image.Channels()));
        Cv2.CvtColor(image, image, code);
    }

    private static double SaneFps(double fps) => double.IsFinite(fps) && fps is > 0 and <= 1000 ? fps : 0;

    public void Close()
    {
        _capture?.Dispose();
        _capture = null;
    }

    public void Interrupt()
    {
        // Releasing a VideoCapture while another thread reads it is unsafe; V4L2 reads time out by themselves.
    }

    public void Dispose() => Close();
}
