using EdgeMask.Core.Tracking;

namespace EdgeMask.Module.Sources;

/// <summary>How sources are opened and decoded. Immutable; validated with <see cref="Validate"/> at start.</summary>
public sealed record FrameSourceOptions
{
    /// <summary>RTSP lower transport passed to ffmpeg: <c>tcp</c> (default: survives NAT and loss), <c>udp</c>, or empty for ffmpeg's choice.</summary>
    public string RtspTransport { get; init; } = "tcp";

    /// <summary>Output width: ffmpeg scales to it (<c>-vf scale</c>), V4L2 devices are asked for it; required with GStreamer.</summary>
    public int? Width { get; init; }

    /// <summary>Output height (see <see cref="Width"/>).</summary>
    public int? Height { get; init; }

    /// <summary>Frame rate asked of V4L2 devices, declared for GStreamer pipelines (which cannot report one).</summary>
    public double? Fps { get; init; }

    /// <summary>Rate at which a folder of images plays as a slow camera (with realtime pacing).</summary>
    public double ImageFolderFps { get; init; } = 1.0;

    /// <summary>How long opening may take (ffmpeg connecting and decoding its first frame, a device starting).</summary>
    public TimeSpan OpenTimeout { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>
    /// Failed decodes in a row a file may have before it counts as ended. A corrupt segment makes OpenCV's
    /// decoder fail a few dozen reads before the next intact keyframe; a truncated file fails forever.
    /// </summary>
    public int MaxConsecutiveBadReads { get; init; } = 250;

    /// <summary>The ffmpeg program (Debian's: it has the network protocols OpenCvSharp's bundled FFmpeg lacks).</summary>
    public string FfmpegPath { get; init; } = "ffmpeg";

    /// <summary>The GStreamer launcher used for <c>gst:</c> sources.</summary>
    public string GstLaunchPath { get; init; } = "gst-launch-1.0";

    /// <summary>Throws <see cref="InvalidOptionException"/> naming the first bad key under <paramref name="section"/>.</summary>
    public void Validate(string section = "sources")
    {
        if (RtspTransport is not ("" or "tcp" or "udp" or "udp_multicast" or "http"))
            throw new InvalidOptionException($"{section}:rtspTransport", RtspTransport, "must be tcp, udp, udp_multicast, http or empty.");
        if (Width is < 16 or > 8192) throw new InvalidOptionException($"{section}:width", Width, "must be between 16 and 8192.");
        if (Height is < 16 or > 8192) throw new InvalidOptionException($"{section}:height", Height, "must be between 16 and 8192.");
        if (Width.HasValue != Height.HasValue)
            throw new InvalidOptionException($"{section}:{(Width.HasValue ? "height" : "width")}", null, "width and height must be set together.");
        if (Fps is not null && (!double.IsFinite(Fps.Value) || Fps <= 0 || Fps > 1000))
            throw new InvalidOptionException($"{section}:fps", Fps, "must be greater than 0 and at most 1000.");
        if (!double.IsFinite(ImageFolderFps) || ImageFolderFps <= 0 || ImageFolderFps > 1000)
            throw new InvalidOptionException($"{section}:imageFolderFps", ImageFolderFps, "must be greater than 0 and at most 1000.");
        if (OpenTimeout < TimeSpan.FromSeconds(1) || OpenTimeout > TimeSpan.FromMinutes(10))
            throw new InvalidOptionException($"{section}:openTimeout", OpenTimeout, "must be between 1 second and 10 minutes.");
        if (MaxConsecutiveBadReads is < 1 or > 100_000)
            throw new InvalidOptionException($"{section}:maxConsecutiveBadReads", MaxConsecutiveBadReads, "must be between 1 and 100000.");
        if (string.IsNullOrWhiteSpace(FfmpegPath)) throw new InvalidOptionException($"{section}:ffmpegPath", FfmpegPath, "must name the ffmpeg program.");
        if (string.IsNullOrWhiteSpace(GstLaunchPath)) throw new InvalidOptionException($"{section}:gstLaunchPath", GstLaunchPath, "must name gst-launch-1.0.");
    }
}

/// <summary>How a <see cref="CameraCapture"/> paces, buffers and recovers. Immutable; validated at start.</summary>
public sealed record CameraCaptureOptions
{
    /// <summary>Frames waiting for the consumer; when full the oldest is dropped (newest frame wins).</summary>
    public int ChannelCapacity { get; init; } = 2;

    /// <summary>No frame for this long from an open source counts as an outage: the source is closed and reopened (opening itself is bounded by sources:openTimeout).</summary>
    public TimeSpan StallTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>First wait before reopening a lost source; doubles after each failed attempt.</summary>
    public TimeSpan InitialBackoff { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Longest wait between reopen attempts.</summary>
    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Attempts per outage (or, for a live source never reached, at start) before it is declared failed (null: forever).</summary>
    public int? MaxReconnectAttempts { get; init; }

    /// <summary>Pace files and folders at their frame rate instead of reading as fast as possible. Live sources pace themselves.</summary>
    public bool Realtime { get; init; }

    /// <summary>
    /// For files and folders read as fast as possible (not <see cref="Realtime"/>): wait for the consumer when the
    /// channel is full instead of dropping, so every frame is processed and results do not depend on the machine's
    /// speed. Live sources and realtime files always drop (newest frame wins).
    /// </summary>
    public bool WaitForConsumerOnFiles { get; init; }

    /// <summary>Start a file or folder again at its end instead of ending the capture.</summary>
    public bool Loop { get; init; }


    /// <summary>Throws <see cref="InvalidOptionException"/> naming the first bad key under <paramref name="section"/>.</summary>
    public void Validate(string section = "capture")
    {
        if (ChannelCapacity is < 1 or > 64) throw new InvalidOptionException($"{section}:channelCapacity", ChannelCapacity, "must be between 1 and 64.");
        if (StallTimeout < TimeSpan.FromMilliseconds(500) || StallTimeout > TimeSpan.FromHours(1))
            throw new InvalidOptionException($"{section}:stallTimeout", StallTimeout, "must be between 0.5 seconds and 1 hour.");
        if (InitialBackoff < TimeSpan.FromMilliseconds(10) || InitialBackoff > TimeSpan.FromMinutes(10))
            throw new InvalidOptionException($"{section}:initialBackoff", InitialBackoff, "must be between 10 ms and 10 minutes.");
        if (MaxBackoff < InitialBackoff || MaxBackoff > TimeSpan.FromHours(1))
            throw new InvalidOptionException($"{section}:maxBackoff", MaxBackoff, "must be at least initialBackoff and at most 1 hour.");
        if (MaxReconnectAttempts is < 1) throw new InvalidOptionException($"{section}:maxReconnectAttempts", MaxReconnectAttempts, "must be at least 1 (or unset for forever).");
    }
}
