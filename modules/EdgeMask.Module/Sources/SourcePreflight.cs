using OpenCvSharp;

namespace EdgeMask.Module.Sources;

/// <summary>
/// Tells at once whether a source can never work here, before a camera is started or a configuration accepted: a file
/// or folder that cannot be read (it does not exist, it is not a video, it holds no image), a malformed URL or an unknown
/// scheme, a decoder program (ffmpeg, gst-launch-1.0) that is not installed. A live source that is merely down is not
/// such a source: it is retried while the device runs.
/// </summary>
public static class SourcePreflight
{
    /// <summary>Null when the source may work; else the message a user needs (the same as a failed open's).</summary>
    /// <param name="readFiles">Also open files and folders and read a frame (false when the caller is about to open them anyway).</param>
    public static string? Check(string source, FrameSourceOptions options, CancellationToken cancellationToken, bool readFiles = true)
    {
        FrameSourceSpec spec;
        try
        {
            spec = FrameSourceSpec.Parse(source);
        }
        catch (ArgumentException ex)
        {
            return ex.Message;
        }
        return spec.Kind switch
        {
            FrameSourceKind.File or FrameSourceKind.ImageFolder => readFiles ? ReadOneFrame(spec, options, cancellationToken) : null,
            FrameSourceKind.Ffmpeg => ProgramMissing(spec, options.FfmpegPath, "Install ffmpeg (`apt-get install ffmpeg`) or set sources:ffmpegPath."),
            FrameSourceKind.GStreamer => ProgramMissing(spec, options.GstLaunchPath, "Install GStreamer (gst-launch-1.0) or set sources:gstLaunchPath."),
            _ => null,
        };
    }

    private static string? ReadOneFrame(FrameSourceSpec spec, FrameSourceOptions options, CancellationToken cancellationToken)
    {
        using var source = FrameSourceFactory.Create(spec, options);
        try
        {
            source.Open(cancellationToken);
            using var image = new Mat();
            source.Read(image, out _);
            return null;
        }
        catch (Exception ex) when (ex is FrameSourceUnavailableException or FrameSourceReadException)
        {
            return ex.Message;
        }
        finally
        {
            source.Close();
        }
    }

    private static string? ProgramMissing(FrameSourceSpec spec, string program, string hint)
    {
        if (FindProgram(program) is not null) return null;
        return new FrameSourceUnavailableException(PipeFrameSource.Redact(spec.Target), $"cannot start '{program}' (not found)", hint, permanent: true).Message;
    }

    /// <summary>The full path of <paramref name="program"/> (as given when it has a '/', else found on PATH), or null.</summary>
    public static string? FindProgram(string program)
    {
        if (program.Contains('/')) return File.Exists(program) ? Path.GetFullPath(program) : null;
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, program);
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }
}
