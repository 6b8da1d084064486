using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OpenCvSharp;

namespace EdgeMask.Module.Sources;

/// <summary>
/// Frames from a child process that writes raw 8-bit BGR pictures (W×H×3 bytes each, no header) to its stdout:
/// Debian's <c>ffmpeg</c> for rtsp/http/other URLs (OpenCvSharp's bundled FFmpeg has no network protocols), or
/// <c>gst-launch-1.0</c> for a GStreamer pipeline (Jetson hardware decoding). Each block is read straight into the
/// caller's Mat, so a steady stream copies nothing and allocates nothing. stderr is kept (last lines) for error
/// messages; <see cref="Interrupt"/>, <see cref="Close"/> and <see cref="Dispose"/> kill the process.
/// </summary>
public sealed partial class PipeFrameSource : IFrameSource
{
    private const int StderrLinesKept = 20;

    private readonly string _program;
    private readonly IReadOnlyList<string> _arguments;
    private readonly bool _sizeFromFfmpegHeader;
    private readonly TimeSpan _openTimeout;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private readonly Queue<string> _stderr = new();
    private Process? _process;
    private Stream? _stdout;
    private TaskCompletionSource? _headerSeen;
    private bool _inOutputSection;
    private bool _interrupted;
    private int _width, _height;
    private double _fps;

    private PipeFrameSource(string description, bool isLive, string program, IReadOnlyList<string> arguments,
        bool sizeFromFfmpegHeader, int? width, int? height, double? fps, TimeSpan openTimeout, ILogger? logger)
    {
        Description = description;
        IsLive = isLive;
        _program = program;
        _arguments = arguments;
        _sizeFromFfmpegHeader = sizeFromFfmpegHeader;
        _width = width ?? 0;
        _height = height ?? 0;
        _fps = fps ?? 0;
        _openTimeout = openTimeout;
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>
    /// A stream or file decoded by ffmpeg. The frame size and rate come from ffmpeg's own description of its
    /// output (one connection: cameras and ffmpeg's HTTP server often serve a single client, so no ffprobe first);
    /// <see cref="FrameSourceOptions.Width"/>/<see cref="FrameSourceOptions.Height"/> make ffmpeg scale.
    /// </summary>
    public static PipeFrameSource ForFfmpeg(string url, FrameSourceOptions? options = null, ILogger? logger = null)
    {
        options ??= new FrameSourceOptions();
        options.Validate();
        return new PipeFrameSource(Redact(url), IsNetworkUrl(url), options.FfmpegPath, FfmpegArguments(url, options),
            sizeFromFfmpegHeader: true, null, null, null, options.OpenTimeout, logger);
    }

    /// <summary>
    /// A GStreamer pipeline run by <c>gst-launch-1.0 -q</c>, ending in <c>fdsink fd=1</c> after a conversion to
    /// BGR at <see cref="FrameSourceOptions.Width"/>×<see cref="FrameSourceOptions.Height"/> (required: raw
    /// GStreamer output carries no size).
    /// </summary>
    public static PipeFrameSource ForGStreamer(string pipeline, FrameSourceOptions? options = null, ILogger? logger = null)
    {
        options ??= new FrameSourceOptions();
        options.Validate();
        if (options.Width is not { } w || options.Height is not { } h)
            throw new Core.Tracking.InvalidOptionException("sources:width", options.Width,
                "a GStreamer source needs width and height (the raw pipe carries no frame size).");
        return new PipeFrameSource("gst:" + Redact(pipeline), isLive: true, options.GstLaunchPath, GStreamerArguments(pipeline, w, h),
            sizeFromFfmpegHeader: false, w, h, options.Fps, options.OpenTimeout, logger);
    }

    /// <summary>The ffmpeg command line: decode the first video stream to raw BGR on stdout.</summary>
    public static IReadOnlyList<string> FfmpegArguments(string url, FrameSourceOptions options)
    {
        // info level: the "Output #0 … rawvideo … WxH … fps" header is how the size is learned; -nostats keeps
        // the progress line off stderr.
        var args = new List<string> { "-nostdin", "-hide_banner", "-loglevel", "info", "-nostats" };
        if (url.StartsWith("rtsp", StringComparison.OrdinalIgnoreCase) && options.RtspTransport.Length > 0)
            args.AddRange(["-rtsp_transport", options.RtspTransport]);
        args.AddRange(["-i", url, "-map", "0:v:0", "-an", "-sn", "-dn"]);
        if (options.Width is { } w && options.Height is { } h)
            args.AddRange(["-vf", $"scale={w.ToString(CultureInfo.InvariantCulture)}:{h.ToString(CultureInfo.InvariantCulture)}"]);
        args.AddRange(["-f", "rawvideo", "-pix_fmt", "bgr24", "pipe:1"]);
        return args;
    }

    /// <summary>The gst-launch command line: the user's pipeline, forced to packed BGR at the configured size, to stdout.</summary>
    public static IReadOnlyList<string> GStreamerArguments(string pipeline, int width, int height)
    {
        // -q is essential: without it gst-launch prints its state changes on stdout, inside the raw frames.
        // videoconvert/videoscale pass through when the pipeline already ends in BGR at this size.
        string tail = FormattableString.Invariant($" ! videoconvert ! videoscale ! video/x-raw,format=BGR,width={width},height={height} ! fdsink fd=1 sync=false");
        return ["-q", pipeline.Trim() + tail];
    }

    public string Description { get; }
    public bool IsLive { get; }
    public double NominalFps => _fps;
    public long SkippedFrames => 0;

    /// <summary>The running child process (for tests and diagnostics).</summary>
    internal int? ProcessId
    {
        get { lock (_gate) return _process?.Id; }
    }

    /// <summary>The frame size in use (after <see cref="Open"/> for ffmpeg).</summary>
    public (int Width, int Height) FrameSize => (_width, _height);

    public void Open(CancellationToken cancellationToken)
    {
        Close();
        var header = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var psi = new ProcessStartInfo(_program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = false,
            UseShellExecute = false,
            CreateNoWindow = true,
        };
        foreach (var a in _arguments) psi.ArgumentList.Add(a);
        var process = new Process { StartInfo = psi, EnableRaisingEvents = true };
        process.ErrorDataReceived += (_, e) => OnStderr(e.Data);
        process.Exited += (_, _) => header.TrySetResult();
        lock (_gate)
        {
            _stderr.Clear();
            _inOutputSection = false;
            _interrupted = false;
            _headerSeen = header;
            if (_sizeFromFfmpegHeader) { _width = 0; _height = 0; }
        }
        try
        {
            process.Start();
        }
        catch (Win32Exception ex)
        {
            process.Dispose();
            throw new FrameSourceUnavailableException(Description, $"cannot start '{_program}' ({ex.Message})",
                _program.Contains("gst", StringComparison.Ordinal)
                    ? "Install GStreamer (gst-launch-1.0) or set sources:gstLaunchPath."
                    : "Install ffmpeg (`apt-get install ffmpeg`) or set sources:ffmpegPath.", ex, permanent: true);
        }
        process.BeginErrorReadLine();
        lock (_gate)
        {
            _process = process;
            _stdout = process.StandardOutput.BaseStream;
        }
        if (!_sizeFromFfmpegHeader) return;

        // ffmpeg describes its output once it has decoded the first picture: that is the proof the source works.
        bool signalled;
        try
        {
            signalled = header.Task.Wait(_openTimeout, cancellationToken);
        }
        catch (OperationCanceledException)
        {
            Close();
            throw;
        }
        // An early exit may be signalled before the stderr reader has passed on the header: let it finish.
        if (signalled && process.HasExited) process.WaitForExit();
        lock (_gate)
        {
            // Once the size is known, even an exited ffmpeg (a short file) left its frames in the pipe.
            if (_width > 0 && _height > 0 && !_interrupted) return;
        }
        string stderr = StderrTail();
        bool interrupted;
        lock (_gate) interrupted = _interrupted;
        Close();
        if (!signalled)
            throw new FrameSourceUnavailableException(Description, $"no video within {_openTimeout.TotalSeconds:0.#} s",
                "Check that the stream is up and reachable from this device (try `ffprobe URL`), or raise sources:openTimeout.");
        if (interrupted)
            throw new FrameSourceUnavailableException(Description, "opening was interrupted (no frame in time)", "Check that the stream is up.");
        throw new FrameSourceUnavailableException(Description, Explain(stderr), Hint(Description));
    }

    public FrameReadStatus Read(Mat destination, out TimeSpan? mediaPosition)
    {
        mediaPosition = null;
        Stream stdout;
        lock (_gate) stdout = _stdout ?? throw new InvalidOperationException("Read before Open.");
        if (_width <= 0 || _height <= 0) throw new InvalidOperationException("The frame size is unknown.");
        destination.Create(_height, _width, MatType.CV_8UC3);
        int length = checked(_width * _height * 3);
        int filled = 0;
        try
        {
            unsafe
            {
                // The Mat was just (re)created continuous, so its buffer is exactly one raw BGR frame.
                var buffer = new Span<byte>((void*)destination.Data, length);
                while (filled < length)
                {
                    int n = stdout.Read(buffer[filled..]);
                    if (n == 0) break;
                    filled += n;
                }
            }
        }
        catch (IOException ex)
        {
            throw new FrameSourceReadException(Description, $"the pipe from {_program} failed: {ex.Message}", ex);
        }
        catch (ObjectDisposedException ex)
        {
            throw new FrameSourceReadException(Description, $"{_program} was stopped", ex);
        }
        if (filled == length) return FrameReadStatus.Frame;
        return Ended(filled);
    }

    private FrameReadStatus Ended(int partialBytes)
    {
        Process? process;
        bool interrupted;
        lock (_gate) { process = _process; interrupted = _interrupted; }
        int? exitCode = null;
        if (process is not null && process.WaitForExit(TimeSpan.FromSeconds(5)))
        {
            process.WaitForExit(); // flushes the asynchronous stderr reader
            exitCode = process.ExitCode;
        }
        if (interrupted) throw new FrameSourceReadException(Description, $"{_program} was stopped by the watchdog");
        string stderr = StderrTail();
        if (exitCode == 0 && partialBytes == 0)
        {
            _logger.LogInformation("{Program} finished {Source}", _program, Description);
            return FrameReadStatus.EndOfStream;
        }
        string detail = stderr.Length > 0 ? Explain(stderr) : "no message";
        throw new FrameSourceReadException(Description,
            $"{_program} {(exitCode is { } c ? $"exited with code {c}" : "stopped writing")}{(partialBytes > 0 ? $" in the middle of a frame ({partialBytes} bytes)" : "")}: {detail}");
    }

    private void OnStderr(string? line)
    {
        if (line is null) return;
        TaskCompletionSource? toSignal = null;
        lock (_gate)
        {
            _stderr.Enqueue(line);
            while (_stderr.Count > StderrLinesKept) _stderr.Dequeue();
            if (!_sizeFromFfmpegHeader || _width > 0) return;
            if (line.StartsWith("Output #0", StringComparison.Ordinal)) _inOutputSection = true;
            else if (_inOutputSection && OutputVideoLine().Match(line) is { Success: true } m)
            {
                _width = int.Parse(m.Groups["w"].ValueSpan, CultureInfo.InvariantCulture);
                _height = int.Parse(m.Groups["h"].ValueSpan, CultureInfo.InvariantCulture);
                if (FpsPart().Match(line) is { Success: true } f && double.TryParse(f.Groups["fps"].ValueSpan, CultureInfo.InvariantCulture, out var fps))
                    _fps = fps;
                toSignal = _headerSeen;
            }
        }
        toSignal?.TrySetResult();
    }

    /// <summary>The last lines ffmpeg or GStreamer wrote on stderr.</summary>
    public string StderrTail()
    {
        lock (_gate) return string.Join('\n', _stderr);
    }

    // Keeps the last error-looking lines (the header lines of -loglevel info say nothing about a failure).
    private static string Explain(string stderr)
    {
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(l => !l.StartsWith("Input #", StringComparison.Ordinal) && !l.StartsWith("Stream", StringComparison.Ordinal)
                        && !l.StartsWith("Metadata", StringComparison.Ordinal) && !l.Contains(" : ", StringComparison.Ordinal))
            .TakeLast(3)
            .ToArray();
        return lines.Length == 0 ? "it ended without output" : string.Join(" | ", lines);
    }

    private static string Hint(string description) =>
        description.StartsWith("rtsp", StringComparison.OrdinalIgnoreCase)
            ? "Check the URL, credentials and that the camera is reachable (`ffprobe -rtsp_transport tcp URL`); try sources:rtspTransport=udp."
            : description.Contains("://", StringComparison.Ordinal)
                ? "Check the URL and that the server is up and reachable from this device (`ffprobe URL`)."
                : "Check the path and that ffmpeg can decode it (`ffprobe FILE`).";

    public void Interrupt()
    {
        lock (_gate)
        {
            _interrupted = true;
            Kill(_process);
            _headerSeen?.TrySetResult();
        }
    }

    public void Close()
    {
        Process? process;
        lock (_gate)
        {
            process = _process;
            _process = null;
            _stdout = null;
        }
        if (process is null) return;
        Kill(process);
        process.WaitForExit(TimeSpan.FromSeconds(5));
        process.Dispose();
    }

    public void Dispose() => Close();

    private void Kill(Process? process)
    {
        if (process is null) return;
        try
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException ex)
        {
            // Exited between the check and the kill: nothing left to stop.
            _logger.LogDebug(ex, "{Program} had already exited", _program);
        }
    }

    internal static bool IsNetworkUrl(string s) => UrlScheme().IsMatch(s) && !s.StartsWith("file:", StringComparison.OrdinalIgnoreCase);

    /// <summary>Hides the password of <c>scheme://user:password@host</c> so it never reaches logs or health reports.</summary>
    public static string Redact(string s) => UserInfo().Replace(s, "://${user}:***@");

    [GeneratedRegex(@"^[A-Za-z][A-Za-z0-9+.\-]*://")]
    private static partial Regex UrlScheme();

    [GeneratedRegex(@"://(?<user>[^:/@\s]+):[^@/\s]+@")]
    private static partial Regex UserInfo();

    [GeneratedRegex(@"Stream #\d+:\d+.*Video: rawvideo.*?(?<=[\s,])(?<w>\d{2,5})x(?<h>\d{2,5})(?=[\s,\[]|$)")]
    private static partial Regex OutputVideoLine();

    [GeneratedRegex(@"[\s,](?<fps>\d+(?:\.\d+)?) fps")]
    private static partial Regex FpsPart();
}
