using EdgeMask.Core.Detection;
using EdgeMask.Core.Policy;
using EdgeMask.Core.Tracking;
using EdgeMask.Inference.Detection;
using EdgeMask.Inference.Runtime;
using EdgeMask.Messaging.Outbox;

namespace EdgeMask.Module.Configuration;

/// <summary>
/// The whole configuration of an EdgeMask device, one immutable snapshot. The same document comes from a config file
/// (<c>--config</c>), from command-line overrides, or from the module twin's desired properties; a change swaps the
/// whole snapshot. JSON is camelCase; unknown keys are errors (a typo must not silently fall back to a default).
/// </summary>
public sealed record EdgeMaskOptions
{
    /// <summary>Device id in topics and events.</summary>
    public string Device { get; init; } = "edgemask";
    /// <summary>Cameras by id. An object keyed by id (not a list) so a twin patch can change one camera.</summary>
    public IReadOnlyDictionary<string, CameraOptions> Cameras { get; init; } = new Dictionary<string, CameraOptions>();
    public InferenceSettings Inference { get; init; } = new();
    public DetectorSettings Detector { get; init; } = new();
    public ClassifierSettings Classifier { get; init; } = new();
    public FaceTrackerOptions Tracking { get; init; } = new();
    public ViolationPolicyOptions Violation { get; init; } = new();
    /// <summary>Which version of the event and stats documents is published (for consumers not yet able to read the current one).</summary>
    public ContractSettings Contract { get; init; } = new();
    public MqttSettings Mqtt { get; init; } = new();
    public OutboxOptions Outbox { get; init; } = new() { Path = "edgemask-outbox.db" };
    public StatsSettings Stats { get; init; } = new();
    public MetricsSettings Metrics { get; init; } = new();
    /// <summary>Warning light / buzzer on GPIO and spoken announcements (off by default: a device has to say which lines).</summary>
    public EdgeMask.Alarm.AlarmOptions Alarm { get; init; } = new();
    /// <summary>Violation snapshots: what is stored and published, privacy blurring, retention.</summary>
    public EdgeMask.Module.Snapshots.SnapshotOptions Snapshots { get; init; } = new();
    /// <summary>How sources are opened and decoded: ffmpeg/GStreamer programs, RTSP transport, output size, timeouts.</summary>
    public EdgeMask.Module.Sources.FrameSourceOptions Sources { get; init; } = new();
    /// <summary>The capture watchdog and frame queue of every camera.</summary>
    public CaptureSettings Capture { get; init; } = new();

    /// <summary>Throws <see cref="InvalidOptionException"/> naming the first bad key.</summary>
    public EdgeMaskOptions Validate()
    {
        if (!IsTopicSafe(Device)) throw new InvalidOptionException("device", Device, "must be a non-empty name without '/', '+', '#' or spaces (it is an MQTT topic level).");
        foreach (var (id, camera) in Cameras)
        {
            if (!IsTopicSafe(id)) throw new InvalidOptionException($"cameras:{id}", id, "a camera id must be a non-empty name without '/', '+', '#' or spaces.");
            camera.Validate($"cameras:{id}");
        }
        Inference.Validate("inference");
        Detector.Validate("detector");
        Classifier.Validate("classifier");
        Tracking.Validate("tracking");
        Violation.Validate("violation");
        Contract.Validate("contract");
        Mqtt.Validate("mqtt");
        Stats.Validate("stats");
        Metrics.Validate("metrics");
        Snapshots.Validate("snapshots");
        Sources.Validate("sources");
        Capture.Validate("capture");
        try { EdgeMask.Alarm.AlarmOptionsValidator.Validate(Alarm); }
        catch (EdgeMask.Alarm.AlarmConfigurationException ex) { throw new InvalidOptionException(ex.Key, null, ex.Problem); }
        if (string.IsNullOrWhiteSpace(Outbox.Path)) throw new InvalidOptionException("outbox:path", Outbox.Path, "must name the SQLite outbox file.");
        return this;
    }

    internal static bool IsTopicSafe(string? s) =>
        !string.IsNullOrWhiteSpace(s) && s.IndexOfAny(['/', '+', '#', ' ', '\t']) < 0 && s.Length <= 64;
}

/// <summary>One camera: where its frames come from and how fast to read a file.</summary>
public sealed record CameraOptions
{
    /// <summary>A video file, a folder of images, <c>/dev/videoN</c>, <c>rtsp://…</c>, <c>http://…</c>, or <c>gst:PIPELINE</c>.</summary>
    public string Source { get; init; } = "";
    public bool Enabled { get; init; } = true;
    /// <summary>Pace a file at its frame rate (as a camera would deliver it) instead of as fast as possible.</summary>
    public bool Realtime { get; init; }
    /// <summary>Run the detector on every Nth frame and let the tracker predict in between (null: detector setting).</summary>
    public int? DetectEveryNthFrame { get; init; }
    /// <summary>Zones of this camera (null: the violation policy's zones).</summary>
    public IReadOnlyList<ZoneOptions>? Zones { get; init; }
    /// <summary>Ignore zones of this camera: its posters and screens (null: the violation policy's ignore zones).</summary>
    public IReadOnlyList<ZoneOptions>? IgnoreZones { get; init; }
    /// <summary>Start a file or folder again at its end (a demo or test loop) instead of ending the camera.</summary>
    public bool Loop { get; init; }
    /// <summary>Output size of this camera's frames (overrides <c>sources:width</c>/<c>sources:height</c>): ffmpeg scales to it, V4L2 devices are asked for it.</summary>
    public int? Width { get; init; }
    /// <summary>See <see cref="Width"/>.</summary>
    public int? Height { get; init; }
    /// <summary>Frame rate asked of a V4L2 device or declared for a GStreamer pipeline (overrides <c>sources:fps</c>).</summary>
    public double? Fps { get; init; }

    /// <summary>The source options for this camera: the global <c>sources</c> section with this camera's size and rate.</summary>
    public EdgeMask.Module.Sources.FrameSourceOptions SourceOptionsFrom(EdgeMask.Module.Sources.FrameSourceOptions global) =>
        Width is null && Height is null && Fps is null
            ? global
            : global with { Width = Width ?? global.Width, Height = Height ?? global.Height, Fps = Fps ?? global.Fps };

    public void Validate(string section)
    {
        if (string.IsNullOrWhiteSpace(Source)) throw new InvalidOptionException($"{section}:source", Source, "must name a file, folder, device or stream URL.");
        // An unknown scheme or a malformed URL can never work: refused with the configuration, not retried for ever.
        try { EdgeMask.Module.Sources.FrameSourceSpec.Parse(Source); }
        catch (ArgumentException ex) { throw new InvalidOptionException($"{section}:source", EdgeMask.Module.Sources.PipeFrameSource.Redact(Source), ex.Message); }
        if (DetectEveryNthFrame is < 1 or > 30) throw new InvalidOptionException($"{section}:detectEveryNthFrame", DetectEveryNthFrame, "must be between 1 and 30.");
        if (Zones is not null || IgnoreZones is not null)
            new ViolationPolicyOptions { Zones = Zones ?? [], IgnoreZones = IgnoreZones ?? [] }.Validate(section);
        if (Width.HasValue || Height.HasValue || Fps.HasValue)
            new EdgeMask.Module.Sources.FrameSourceOptions { Width = Width, Height = Height, Fps = Fps }.Validate(section);
    }
}

/// <summary>
/// The <c>capture</c> section: how each camera's capture queues frames and recovers from a source that stops.
/// Pacing (realtime) and looping are per camera; these apply to every camera.
/// </summary>
public sealed record CaptureSettings
{
    // The capture's own defaults, so the config file and CameraCaptureOptions cannot drift apart.
    private static readonly EdgeMask.Module.Sources.CameraCaptureOptions Defaults = new();

    /// <summary>Frames waiting for the pipeline; when full the oldest is dropped (newest frame wins).</summary>
    public int ChannelCapacity { get; init; } = Defaults.ChannelCapacity;
    /// <summary>No frame for this long from an open source counts as an outage: the source is closed and reopened.</summary>
    public TimeSpan StallTimeout { get; init; } = Defaults.StallTimeout;
    /// <summary>First wait before reopening a lost source; doubles after each failed attempt.</summary>
    public TimeSpan InitialBackoff { get; init; } = Defaults.InitialBackoff;
    /// <summary>Longest wait between reopen attempts.</summary>
    public TimeSpan MaxBackoff { get; init; } = Defaults.MaxBackoff;
    /// <summary>Reopen attempts per outage before a live camera is declared failed (null: retry forever, as a camera on a wall should).</summary>
    public int? MaxReconnectAttempts { get; init; } = Defaults.MaxReconnectAttempts;

    /// <summary>The capture options of one camera.</summary>
    public EdgeMask.Module.Sources.CameraCaptureOptions ToCaptureOptions(CameraOptions camera) => new()
    {
        ChannelCapacity = ChannelCapacity,
        StallTimeout = StallTimeout,
        InitialBackoff = InitialBackoff,
        MaxBackoff = MaxBackoff,
        MaxReconnectAttempts = MaxReconnectAttempts,
        Realtime = camera.Realtime,
        Loop = camera.Loop,
        // A file read "as fast as possible" is an analysis of the whole file: wait for the pipeline instead of
        // dropping frames (live sources and realtime files still drop: newest frame wins).
        WaitForConsumerOnFiles = !camera.Realtime,
    };

    public void Validate(string section) => ToCaptureOptions(new CameraOptions()).Validate(section);
}

/// <summary>Where the models are and which execution provider runs them.</summary>
public sealed record InferenceSettings
{
    /// <summary>Models folder (null: EDGEMASK_MODELS, models/ beside the program, or the checkout's models/).</summary>
    public string? ModelsDirectory { get; init; }
    /// <summary>A RetinaFace ONNX with the stock contract to use instead of the manifest's (e.g. a fine-tuned one).</summary>
    public string? DetectorFile { get; init; }
    /// <summary><c>auto</c>, <c>tensorrt</c>, <c>cuda</c> or <c>cpu</c>.</summary>
    public string ExecutionProvider { get; init; } = "auto";
    public bool ExecutionProviderStrict { get; init; }
    /// <summary>
    /// Where TensorRT keeps built engines, their <c>.profile</c> files, the timing cache and the frame sizes learned
    /// from cameras (null: <c>EDGEMASK_TRT_CACHE</c>, which the Jetson image sets to its volume <c>/app/data/trt-cache</c>).
    /// </summary>
    public string? TensorRtCacheDirectory { get; init; }
    public bool TensorRtFp16 { get; init; } = true;
    /// <summary>
    /// Faces per classifier run at most: a frame with more faces is classified in several runs. Under TensorRT the
    /// classifier's engine is built for batch 1 … this, once, so a crowd never makes the provider build a new one.
    /// </summary>
    public int ClassifierMaxBatch { get; init; } = EdgeMask.Inference.Classification.MaskClassifier.DefaultMaxBatch;
    /// <summary>
    /// CPU threads per model session; 0 = the CPUs the process may use (a container's CPU limit counts) shared among the
    /// cameras: the sessions serve every camera, and cameras run them at the same time, so each run gets
    /// CPUs ÷ cameras threads (at least 1) — see <see cref="ThreadsPerRun"/>.
    /// </summary>
    public int IntraOpThreads { get; init; }

    /// <summary>
    /// The intra-op threads a session is opened with for <paramref name="cameras"/> cameras: <see cref="IntraOpThreads"/>
    /// when set, else the CPUs ÷ cameras (at least 1). Every camera thread calls the shared sessions itself, and ONNX
    /// Runtime's caller thread works in its own run beside the session's pool: with two cameras on two cores and two
    /// threads per session, three threads want two cores. Measured on the sample, two cameras at 15 frames/s on 2
    /// cores, six runs each: 39–126 of 1,728 frames dropped with 2 threads per session (median 68), 18–77 with 1
    /// (median 33) (README, "Detection accuracy and speed").
    /// </summary>
    public int ThreadsPerRun(int cameras) =>
        IntraOpThreads > 0 ? IntraOpThreads : Math.Max(1, Environment.ProcessorCount / Math.Max(1, cameras));
    /// <summary>Let idle ONNX Runtime threads spin between runs (see <see cref="ExecutionProviderOptions.IntraOpSpinning"/>): off, because two models and the decoders share the cores.</summary>
    public bool IntraOpSpinning { get; init; }

    public void Validate(string section)
    {
        try { ExecutionProviderOptions.Parse(ExecutionProvider); }
        catch (ArgumentException ex) { throw new InvalidOptionException($"{section}:executionProvider", ExecutionProvider, ex.Message); }
        if (IntraOpThreads is < 0 or > 64) throw new InvalidOptionException($"{section}:intraOpThreads", IntraOpThreads, "must be between 0 and 64.");
        if (ClassifierMaxBatch is < 1 or > MaxClassifierBatch)
            throw new InvalidOptionException($"{section}:classifierMaxBatch", ClassifierMaxBatch, $"must be between 1 and {MaxClassifierBatch} (faces per classifier run; more faces are classified in several runs).");
        if (TensorRtCacheDirectory is not null && string.IsNullOrWhiteSpace(TensorRtCacheDirectory))
            throw new InvalidOptionException($"{section}:tensorRtCacheDirectory", TensorRtCacheDirectory, "must name a folder (a volume on the device), or be null for EDGEMASK_TRT_CACHE.");
    }

    /// <summary>The largest <see cref="ClassifierMaxBatch"/>: the engine's activations grow with it, and a frame has rarely more faces.</summary>
    public const int MaxClassifierBatch = 256;

    public ExecutionProviderOptions ToProviderOptions()
    {
        var options = new ExecutionProviderOptions
        {
            Preference = ExecutionProviderOptions.Parse(ExecutionProvider),
            Strict = ExecutionProviderStrict,
            TensorRtFp16 = TensorRtFp16,
            IntraOpThreads = IntraOpThreads,
            IntraOpSpinning = IntraOpSpinning,
        };
        return TensorRtCacheDirectory is null ? options : options with { TensorRtCacheDirectory = TensorRtCacheDirectory };
    }
}

/// <summary>RetinaFace post-processing and input size.</summary>
public sealed record DetectorSettings
{
    public float ScoreThreshold { get; init; } = 0.5f;
    public float NmsIoU { get; init; } = 0.4f;
    /// <summary>Input scale; 2 finds small faces at 4× the cost.</summary>
    public float Scale { get; init; } = 1f;
    public int? TargetLongSide { get; init; }
    /// <summary>Run the detector on every Nth frame; the tracker predicts the frames between.</summary>
    public int DetectEveryNthFrame { get; init; } = 1;

    public void Validate(string section)
    {
        try { ToDetectorOptions().Validate(); }
        catch (ArgumentException ex) { throw new InvalidOptionException(section, null, ex.Message); }
        if (DetectEveryNthFrame is < 1 or > 30) throw new InvalidOptionException($"{section}:detectEveryNthFrame", DetectEveryNthFrame, "must be between 1 and 30.");
    }

    public DetectorOptions ToDetectorOptions() => new()
    {
        Thresholds = new DetectionThresholds { ScoreThreshold = ScoreThreshold, NmsIoU = NmsIoU },
        Sizing = new InputSizing { Scale = Scale, TargetLongSide = TargetLongSide },
    };
}

/// <summary>The mask classifier.</summary>
public sealed record ClassifierSettings
{
    /// <summary>Off: faces are tracked but never classified, so no violation is raised (a detection-only deployment).</summary>
    public bool Enabled { get; init; } = true;
    /// <summary>Another classifier ONNX with the same contract (null: the manifest's).</summary>
    public string? ModelFile { get; init; }
    /// <summary>
    /// Also classify faces smaller than <c>violation.minFaceSize</c> (they can never start a violation; classifying them
    /// only adds them to the label counts and compliance rate, at one classifier run per face).
    /// </summary>
    public bool ClassifySmallFaces { get; init; }
    /// <summary>
    /// A face whose track's violation window is settled (N frames agreeing) is classified on every Nth frame only
    /// (1: every face, every frame). Most of a crowd is settled, and the classifier is most of a crowd frame's cost.
    /// </summary>
    public int SettledEveryNthFrame { get; init; } = 3;

    public void Validate(string section)
    {
        if (ModelFile is not null && string.IsNullOrWhiteSpace(ModelFile)) throw new InvalidOptionException($"{section}:modelFile", ModelFile, "must name a file or be null.");
        if (SettledEveryNthFrame is < 1 or > 8) throw new InvalidOptionException($"{section}:settledEveryNthFrame", SettledEveryNthFrame, "must be between 1 (every frame) and 8.");
    }
}

/// <summary>
/// The published contract: <see cref="Version"/> 2 (default) writes <c>edgemask.event/2</c> and <c>edgemask.stats/2</c>
/// (label <c>incorrect</c>, the three probabilities, <c>incorrect.*</c> events); 1 writes the documents of earlier
/// releases for consumers that have not been upgraded: a badly worn mask is then a no_mask violation (or, with
/// <c>violation:incorrectCounts</c> compliant, masked), and <c>incorrect.*</c> events are <c>violation.*</c>.
/// </summary>
public sealed record ContractSettings
{
    public int Version { get; init; } = EdgeMask.Core.Events.EventContract.CurrentVersion;

    public void Validate(string section)
    {
        if (Version is < EdgeMask.Core.Events.EventContract.OldestVersion or > EdgeMask.Core.Events.EventContract.CurrentVersion)
            throw new InvalidOptionException($"{section}:version", Version,
                $"must be {EdgeMask.Core.Events.EventContract.CurrentVersion} (edgemask.event/2, the default) or {EdgeMask.Core.Events.EventContract.OldestVersion} (edgemask.event/1, for consumers not yet upgraded).");
    }
}

/// <summary>Where events go over MQTT: the embedded broker (default) or an external one.</summary>
public sealed record MqttSettings
{
    public bool Enabled { get; init; } = true;
    /// <summary>External broker host; null = start the embedded broker on <see cref="EmbeddedAddress"/>:<see cref="Port"/>.</summary>
    public string? Host { get; init; }
    public int Port { get; init; } = 1883;
    public string EmbeddedAddress { get; init; } = "127.0.0.1";
    public string? ClientId { get; init; }
    public string? Username { get; init; }
    public string? Password { get; init; }
    public bool Tls { get; init; }
    public string? CaFile { get; init; }
    public string? ClientCertificateFile { get; init; }
    public string? ClientKeyFile { get; init; }

    public void Validate(string section)
    {
        if (Port is < 1 or > 65535) throw new InvalidOptionException($"{section}:port", Port, "must be a TCP port (1–65535).");
        if (Host is not null && string.IsNullOrWhiteSpace(Host)) throw new InvalidOptionException($"{section}:host", Host, "must be a host name, or null for the embedded broker.");
        if (CaFile is not null && !File.Exists(CaFile)) throw new InvalidOptionException($"{section}:caFile", CaFile, "no such file.");
        if (ClientCertificateFile is not null && !File.Exists(ClientCertificateFile)) throw new InvalidOptionException($"{section}:clientCertificateFile", ClientCertificateFile, "no such file.");
    }
}

/// <summary>Periodic per-camera statistics on the stats topic.</summary>
public sealed record StatsSettings
{
    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(10);

    public void Validate(string section)
    {
        if (Interval < TimeSpan.FromSeconds(1) || Interval > TimeSpan.FromHours(1))
            throw new InvalidOptionException($"{section}:interval", Interval, "must be between 00:00:01 and 01:00:00.");
    }
}

/// <summary>Prometheus <c>/metrics</c> and <c>/healthz</c>.</summary>
public sealed record MetricsSettings
{
    public bool Enabled { get; init; } = true;
    /// <summary>Loopback by default: metrics are for the local collector, not the network.</summary>
    public string Address { get; init; } = "127.0.0.1";
    public int Port { get; init; } = 9464;

    public void Validate(string section)
    {
        if (Port is < 0 or > 65535) throw new InvalidOptionException($"{section}:port", Port, "must be 0 (any free port) or a TCP port.");
        if (!System.Net.IPAddress.TryParse(Address, out _) && Address != "localhost")
            throw new InvalidOptionException($"{section}:address", Address, "must be an IP address to listen on.");
    }
}
