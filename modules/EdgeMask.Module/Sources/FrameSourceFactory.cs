using Microsoft.Extensions.Logging;

namespace EdgeMask.Module.Sources;

/// <summary>Which reader a <c>--source</c> string selects.</summary>
public enum FrameSourceKind
{
    /// <summary>A video file, read by OpenCvSharp.</summary>
    File,
    /// <summary>A folder of images, played in name order.</summary>
    ImageFolder,
    /// <summary>A V4L2 camera: <c>/dev/videoN</c> or an index.</summary>
    Device,
    /// <summary>A URL (rtsp, http, …) or <c>ffmpeg:</c> input, decoded by an ffmpeg child process.</summary>
    Ffmpeg,
    /// <summary>A <c>gst:</c> pipeline run by gst-launch-1.0.</summary>
    GStreamer,
}

/// <summary>A parsed <c>--source</c> string.</summary>
public sealed record FrameSourceSpec(FrameSourceKind Kind, string Target)
{
    /// <summary>
    /// <c>gst:PIPELINE</c> / <c>gstreamer:PIPELINE</c> → GStreamer; <c>ffmpeg:INPUT</c> → ffmpeg whatever the input;
    /// digits or <c>/dev/video…</c> → device; <c>scheme://…</c> (rtsp, rtsps, http, https, rtmp, udp, srt, …) →
    /// ffmpeg; <c>file:</c>PATH or <c>file://</c>URI → file; an existing folder → image folder; anything else → file.
    /// </summary>
    public static FrameSourceSpec Parse(string source)
    {
        ArgumentNullException.ThrowIfNull(source);
        string s = source.Trim();
        if (s.Length == 0) throw new ArgumentException("The source is empty: give a file, folder, device or stream URL.", nameof(source));
        if ((StripPrefix(s, "gst:") ?? StripPrefix(s, "gstreamer:")) is { } pipeline)
            return new(FrameSourceKind.GStreamer, NotEmpty(pipeline, source));
        if (StripPrefix(s, "ffmpeg:") is { } input) return new(FrameSourceKind.Ffmpeg, NotEmpty(input, source));
        if (s.All(char.IsAsciiDigit)) return new(FrameSourceKind.Device, s);
        if (s.StartsWith("/dev/video", StringComparison.Ordinal)) return new(FrameSourceKind.Device, s);
        if (s.StartsWith("file://", StringComparison.OrdinalIgnoreCase)) s = new Uri(s).LocalPath;
        else if (StripPrefix(s, "file:") is { } path) s = path;
        else if (PipeFrameSource.IsNetworkUrl(s)) return new(FrameSourceKind.Ffmpeg, CheckUrl(s, source));
        return Directory.Exists(s) ? new(FrameSourceKind.ImageFolder, s) : new(FrameSourceKind.File, s);
    }

    /// <summary>The URL schemes ffmpeg reads live video from (anything else is a typo, refused at once rather than retried for ever).</summary>
    public static readonly IReadOnlySet<string> NetworkSchemes = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
    {
        "rtsp", "rtsps", "rtmp", "rtmps", "rtmpt", "http", "https", "udp", "tcp", "srt", "rtp", "mms", "mmsh", "mmst", "ftp", "sftp", "tls",
    };

    private static string CheckUrl(string url, string source)
    {
        string scheme = url[..url.IndexOf("://", StringComparison.Ordinal)];
        if (!NetworkSchemes.Contains(scheme))
            throw new ArgumentException($"The source '{PipeFrameSource.Redact(source)}' has the unknown scheme '{scheme}://'. Streams are read from "
                + string.Join(", ", NetworkSchemes.Order().Select(n => n + "://")) + " (or `ffmpeg:INPUT` for anything ffmpeg reads).", nameof(source));
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || string.IsNullOrEmpty(uri.Host) && !scheme.Equals("udp", StringComparison.OrdinalIgnoreCase))
            throw new ArgumentException($"The source '{PipeFrameSource.Redact(source)}' is not a valid URL (scheme://host[:port]/path).", nameof(source));
        return url;
    }

    private static string? StripPrefix(string s, string prefix) =>
        s.StartsWith(prefix, StringComparison.OrdinalIgnoreCase) ? s[prefix.Length..].Trim() : null;

    private static string NotEmpty(string rest, string source) =>
        rest.Length > 0 ? rest : throw new ArgumentException($"The source '{source}' has nothing after its prefix.", nameof(source));
}

/// <summary>Turns a <c>--source</c> string into the right <see cref="IFrameSource"/>.</summary>
public static class FrameSourceFactory
{
    /// <summary>Parses <paramref name="source"/> (see <see cref="FrameSourceSpec.Parse"/>) and creates its source, unopened.</summary>
    public static IFrameSource Create(string source, FrameSourceOptions? options = null, ILoggerFactory? loggers = null) =>
        Create(FrameSourceSpec.Parse(source), options, loggers);

    public static IFrameSource Create(FrameSourceSpec spec, FrameSourceOptions? options = null, ILoggerFactory? loggers = null)
    {
        options ??= new FrameSourceOptions();
        options.Validate();
        return spec.Kind switch
        {
            FrameSourceKind.File => VideoCaptureSource.ForFile(spec.Target, options, loggers?.CreateLogger<VideoCaptureSource>()),
            FrameSourceKind.Device => VideoCaptureSource.ForDevice(spec.Target, options, loggers?.CreateLogger<VideoCaptureSource>()),
            FrameSourceKind.ImageFolder => new ImageFolderSource(spec.Target, options, loggers?.CreateLogger<ImageFolderSource>()),
            FrameSourceKind.Ffmpeg => PipeFrameSource.ForFfmpeg(spec.Target, options, loggers?.CreateLogger<PipeFrameSource>()),
            FrameSourceKind.GStreamer => PipeFrameSource.ForGStreamer(spec.Target, options, loggers?.CreateLogger<PipeFrameSource>()),
            _ => throw new ArgumentOutOfRangeException(nameof(spec), spec.Kind, "Unknown source kind."),
        };
    }
}
