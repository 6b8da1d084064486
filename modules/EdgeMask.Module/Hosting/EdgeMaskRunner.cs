using EdgeMask.Core.Events;
using EdgeMask.Inference.Runtime;
using EdgeMask.Messaging;
using EdgeMask.Messaging.Broker;
using EdgeMask.Messaging.Mqtt;
using EdgeMask.Module.Cli;
using EdgeMask.Module.Configuration;
using EdgeMask.Module.Pipeline;
using EdgeMask.Module.Sources;
using Microsoft.Extensions.Logging;
using OpenCvSharp;

namespace EdgeMask.Module.Hosting;

/// <summary>What <c>edgemask run</c> adds to the configuration: outputs of this one run.</summary>
public sealed record RunSettings
{
    public string? AnnotatePath { get; init; }
    public long? MaxFrames { get; init; }
    /// <summary>Overrides <c>snapshots.directory</c> of the configuration when set (<c>--snapshots</c>).</summary>
    public string? SnapshotDirectory { get; init; }
    public bool LiveView { get; init; } = true;
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(15);
}

/// <summary>A camera or service could not start; the message says which and why.</summary>
public sealed class RunStartException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Runs the configured cameras in one process: shared model sessions, one capture + pipeline per camera on its own
/// thread, store-and-forward publishing, metrics, and a live status view. Owns everything it starts.
/// </summary>
public sealed class EdgeMaskRunner : IAsyncDisposable
{
    private readonly EdgeMaskOptions _options;
    private readonly RunSettings _run;
    private readonly TextWriter _stderr;
    private readonly ILogger _logger;
    private readonly InferenceModels _models;
    private readonly StoreAndForward? _messaging;
    private MetricsServer? _metrics;
    private EdgeMask.Alarm.LocalAlarm? _alarm;
    private Snapshots.SnapshotStore? _snapshots;
    private readonly List<CameraRuntime> _cameras = [];
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _stop = new();

    public IReadOnlyList<CameraRuntime> Cameras => _cameras;
    public StoreAndForward? Messaging => _messaging;
    public MetricsServer? Metrics => _metrics;
    public ExecutionProviderKind ActiveProvider => _models.ActiveProvider;
    public EdgeMask.Alarm.LocalAlarm? Alarm => _alarm;
    public Snapshots.SnapshotStore? Snapshots => _snapshots;
    /// <summary>The shared model sessions (paths, manifest and sha256 for the module's reported properties).</summary>
    public InferenceModels Models => _models;

    private EdgeMaskRunner(EdgeMaskOptions options, RunSettings run, TextWriter stderr, ILogger logger, InferenceModels models,
        StoreAndForward? messaging, MetricsServer? metrics, TimeProvider time)
    {
        _options = options;
        _run = run;
        _stderr = stderr;
        _logger = logger;
        _models = models;
        _messaging = messaging;
        _metrics = metrics;
        _time = time;
    }

    /// <param name="alarm">An alarm to drive (tests pass one over a recording GPIO driver); null: built from options.Alarm when enabled.</param>
    /// <param name="additionalTransports">More outbox destinations beside MQTT (the module's IoT Hub transport); not owned by the runner,
    /// so they outlive a restart with a new configuration. With one given, the outbox runs even when <c>mqtt.enabled</c> is false.</param>
    public static async Task<EdgeMaskRunner> StartAsync(EdgeMaskOptions options, RunSettings run, TextWriter stdout, TextWriter stderr,
        ILoggerFactory loggers, TimeProvider time, CancellationToken cancellationToken, EdgeMask.Alarm.LocalAlarm? alarm = null,
        IReadOnlyList<EdgeMask.Messaging.Outbox.IOutboxTransport>? additionalTransports = null)
    {
        var logger = loggers.CreateLogger("edgemask.run");
        var models = InferenceModels.Open(options.Inference, options.Classifier, logger);
        StoreAndForward? messaging = null;
        MetricsServer? metricsServer = null;
        EdgeMaskRunner? runner = null;
        try
        {
            if (options.Mqtt.Enabled || additionalTransports is { Count: > 0 })
            {
                messaging = await StartMessagingAsync(options, loggers, time, models.ActiveProvider, additionalTransports);
                if (messaging.Broker is not null)
                    logger.LogInformation("Embedded MQTT broker on {Address}:{Port}", options.Mqtt.EmbeddedAddress, options.Mqtt.Port);
            }
            runner = new EdgeMaskRunner(options, run, stderr, logger, models, messaging, null, time);
            if (options.Metrics.Enabled)
            {
                metricsServer = await MetricsServer.StartAsync(options.Metrics.Address, options.Metrics.Port, runner.Health, loggers, cancellationToken);
                logger.LogInformation("Metrics on {Address}metrics, health on {Address}healthz", metricsServer.Address, metricsServer.Address);
                runner._metrics = metricsServer;
            }
            if (alarm is null && options.Alarm.Enabled)
            {
                alarm = EdgeMask.Alarm.LocalAlarm.CreateForHardware(options.Alarm, time, loggers);
                await alarm.PrepareAnnouncementAsync(cancellationToken);
            }
            runner._alarm = alarm;
            var snapshotOptions = run.SnapshotDirectory is { } sd ? options.Snapshots with { Directory = sd } : options.Snapshots;
            if (snapshotOptions.Enabled)
                runner._snapshots = new Snapshots.SnapshotStore(snapshotOptions, loggers.CreateLogger<Snapshots.SnapshotStore>(), time);
            // Device-wide gauges are read when Prometheus scrapes, so they are current whether or not the live view runs.
            ScrapeSource.Attach(runner);
            var shared = new List<IPipelineSink> { new ConsoleEventSink(stdout) };
            if (alarm is not null) shared.Add(new AlarmSink(alarm));
            foreach (var (id, camera) in options.Cameras.Where(c => c.Value.Enabled))
                runner._cameras.Add(await CameraRuntime.StartAsync(id, camera, options, run, models, messaging, shared, alarm, runner._snapshots, loggers, time, cancellationToken));
            return runner;
        }
        catch (Exception ex)
        {
            if (runner is not null) { runner._alarm ??= alarm; await runner.DisposeAsync(); }
            else
            {
                alarm?.Dispose();
                if (metricsServer is not null) await metricsServer.DisposeAsync();
                if (messaging is not null) await messaging.DisposeAsync();
                models.Dispose();
            }
            if (ex is FrameSourceUnavailableException or IOException or EdgeMask.Messaging.MessagingOptionsException
                or EdgeMask.Alarm.AlarmConfigurationException or EdgeMask.Alarm.GpioLineUnavailableException)
                throw new RunStartException(ex.Message, ex);
            throw;
        }
    }

    private static async Task<StoreAndForward> StartMessagingAsync(EdgeMaskOptions o, ILoggerFactory loggers, TimeProvider time, ExecutionProviderKind provider,
        IReadOnlyList<EdgeMask.Messaging.Outbox.IOutboxTransport>? additionalTransports = null)
    {
        var mqtt = o.Mqtt;
        MqttPublisherOptions? external = !mqtt.Enabled || mqtt.Host is null ? null : new MqttPublisherOptions
        {
            Device = o.Device,
            Host = mqtt.Host,
            Port = mqtt.Port,
            ClientId = mqtt.ClientId,
            Username = mqtt.Username,
            Password = mqtt.Password,
            Tls = mqtt.Tls ? new MqttTlsOptions { CaFile = mqtt.CaFile, ClientCertificateFile = mqtt.ClientCertificateFile, ClientKeyFile = mqtt.ClientKeyFile } : null,
        };
        var options = new StoreAndForwardOptions
        {
            Device = o.Device,
            Outbox = o.Outbox,
            Mqtt = external,
            EmbeddedBroker = mqtt.Enabled && external is null ? new EmbeddedBrokerOptions { Address = mqtt.EmbeddedAddress, Port = mqtt.Port } : null,
        };
        string version = typeof(EdgeMaskRunner).Assembly.GetName().Version?.ToString() ?? "0";
        // The publisher sets device and state itself (online, or offline for the last will); this adds what we know.
        return await StoreAndForward.StartAsync(options, additionalTransports, loggers, time, state => new DeviceStatus
        {
            Device = o.Device,
            State = state,
            At = time.GetUtcNow(),
            Version = version,
            ExecutionProvider = ExecutionProviderOptions.ToName(provider),
        });
    }

    /// <summary>Runs until every camera's source ends (files) or <paramref name="cancellationToken"/> fires, then ends open episodes and drains the outbox.</summary>
    public async Task RunToCompletionAsync(CancellationToken cancellationToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stop.Token);
        Task? live = _run.LiveView ? Task.Run(() => LiveViewAsync(linked.Token), CancellationToken.None) : null;
        try
        {
            await Task.WhenAll(_cameras.Select(c => c.Worker));
        }
        finally
        {
            await _stop.CancelAsync();
            if (live is not null) await live.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
        if (_messaging is not null)
        {
            using var drain = new CancellationTokenSource(_run.DrainTimeout);
            try
            {
                await _messaging.WaitUntilDrainedAsync(drain.Token);
            }
            catch (OperationCanceledException)
            {
                var m = _messaging.GetMetrics();
                _logger.LogWarning("Not every message was delivered within {Timeout}; {Pending} stay in the outbox for the next start",
                    _run.DrainTimeout, m.Destinations.Sum(d => d.Depth));
            }
        }
        PrintSummary();
    }

    /// <summary>
    /// The runner whose device-wide gauges a Prometheus scrape refreshes. prometheus-net can add a before-collect
    /// callback but never remove one, so one callback is registered per process and reads the current runner: a
    /// callback per runner would keep every runner a twin update replaced alive, and refresh them all on each scrape.
    /// </summary>
    private static class ScrapeSource
    {
        private static EdgeMaskRunner? s_current;
        private static int s_registered;

        public static void Attach(EdgeMaskRunner runner)
        {
            Volatile.Write(ref s_current, runner);
            if (Interlocked.Exchange(ref s_registered, 1) == 0)
                Prometheus.Metrics.DefaultRegistry.AddBeforeCollectCallback(() => Volatile.Read(ref s_current)?.UpdateScrapedMetrics());
        }

        public static void Detach(EdgeMaskRunner runner) => Interlocked.CompareExchange(ref s_current, null, runner);

        public static bool IsCurrent(EdgeMaskRunner runner) => ReferenceEquals(Volatile.Read(ref s_current), runner);
    }

    /// <summary>Whether a scrape refreshes this runner's gauges (tests).</summary>
    internal bool IsScrapeSource => ScrapeSource.IsCurrent(this);

    private void UpdateScrapedMetrics()
    {
        if (_disposed) return;
        if (_messaging is { } m) MessagingMetricsExport.Update(m.GetMetrics());
        if (_alarm is { } a) AlarmMetricsExport.Update(a.Snapshot());
    }

    private (bool Healthy, object Details) Health()
    {
        var cameras = _cameras.Select(c => c.Capture.Health).ToList();
        bool healthy = cameras.All(h => h.State is CameraHealthState.Ok or CameraHealthState.Ended);
        var messaging = _messaging?.GetMetrics();
        return (healthy, new
        {
            status = healthy ? "ok" : "degraded",
            executionProvider = ExecutionProviderOptions.ToName(_models.ActiveProvider),
            cameras = cameras.Select(h => h.ToReport()),
            outbox = messaging?.Destinations.Select(d => new { d.Destination, d.Connected, d.Depth }),
        });
    }

    private async Task LiveViewAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(2), _time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                var m = _messaging?.GetMetrics();
                foreach (var c in _cameras)
                {
                    var k = c.Pipeline.Counters;
                    _stderr.WriteLine($"[{c.Id}] {c.Capture.Health.StateName,-12} {k.Fps,5:0.0} fps  {k.LatencyMs,6:0.0} ms  faces {k.FacesInLastFrame,2}  violations {k.Active} active / {k.ViolationStarts} started  dropped {c.Capture.FramesDropped}  frames {k.Frames}"
                        + (m is null ? "" : $"  outbox {m.Destinations.Sum(d => d.Depth)}"));
                }
            }
        }
        catch (OperationCanceledException) { }
    }

    private void PrintSummary()
    {
        foreach (var c in _cameras)
        {
            var k = c.Pipeline.Counters;
            _stderr.WriteLine($"[{c.Id}] done: {k.Frames} frames, {c.Capture.FramesDropped} dropped, {k.Faces} faces, {k.ViolationStarts} violations, {k.EventCount} events");
        }
    }

    private volatile bool _disposed;

    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;
        ScrapeSource.Detach(this);
        await _stop.CancelAsync();
        foreach (var c in _cameras) await c.DisposeAsync();
        if (_alarm is not null)
        {
            // Safe state: every line off before the process goes.
            await _alarm.StopAsync(CancellationToken.None);
            await _alarm.DisposeAsync();
        }
        if (_metrics is not null) await _metrics.DisposeAsync();
        if (_messaging is not null) await _messaging.DisposeAsync();
        _snapshots?.Dispose();
        _models.Dispose();
        _stop.Dispose();
    }
}

/// <summary>One camera: its capture, its pipeline and the worker thread between them.</summary>
public sealed class CameraRuntime : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly VideoWriter? _annotate;
    private EdgeMask.Alarm.LocalAlarm? _alarm;

    public string Id { get; }
    public CameraCapture Capture { get; }
    public CameraPipeline Pipeline { get; }
    public Task Worker { get; private set; } = Task.CompletedTask;
    /// <summary>Keeps a JPEG of a recent frame, faces anonymized, for the module's <c>captureSnapshot</c> method (no cost per frame otherwise).</summary>
    public CameraFrameTap FrameTap { get; }

    private CameraRuntime(string id, CameraCapture capture, CameraPipeline pipeline, VideoWriter? annotate, CameraFrameTap frameTap)
    {
        Id = id;
        Capture = capture;
        Pipeline = pipeline;
        _annotate = annotate;
        FrameTap = frameTap;
    }

    internal static async Task<CameraRuntime> StartAsync(string id, CameraOptions camera, EdgeMaskOptions options, RunSettings run,
        InferenceModels models, StoreAndForward? messaging, IReadOnlyList<IPipelineSink> sharedSinks, EdgeMask.Alarm.LocalAlarm? alarm,
        Snapshots.SnapshotStore? snapshots, ILoggerFactory loggers, TimeProvider time, CancellationToken ct)
    {
        var logger = loggers.CreateLogger($"edgemask.camera.{id}");
        var capture = CameraCapture.Create(id, camera.Source, camera.SourceOptionsFrom(options.Sources),
            options.Capture.ToCaptureOptions(camera), time, loggers);
        try
        {
            await capture.StartAsync(ct);
            var sinks = new List<IPipelineSink>(sharedSinks);
            if (messaging is not null) sinks.Add(new PublisherSink(messaging.Publisher, options.Contract.Version, options.Violation.IncorrectCounts));
            var settings = new CameraPipelineSettings
            {
                Device = options.Device,
                Camera = id,
                DetectEveryNthFrame = camera.DetectEveryNthFrame ?? options.Detector.DetectEveryNthFrame,
                Tracking = options.Tracking,
                Violation = camera.Zones is null ? options.Violation : options.Violation with { Zones = camera.Zones },
                StatsInterval = options.Stats.Interval,
                ExecutionProvider = ExecutionProviderOptions.ToName(models.ActiveProvider),
            };
            var pipeline = new CameraPipeline(settings, models.CreateDetector(options.Detector.ToDetectorOptions()), models.CreateClassifier(),
                new CompositeSink(sinks, logger),
                snapshots is null ? null : new PublishingSnapshotter(new Snapshots.CameraSnapshotter(snapshots, options.Device, id, loggers.CreateLogger<Snapshots.CameraSnapshotter>()), messaging?.Publisher),
                time, logger,
                () => capture.FramesDropped, () => capture.Health.StateName);
            VideoWriter? writer = null;
            if (run.AnnotatePath is { } path)
            {
                if (options.Cameras.Count(c => c.Value.Enabled) > 1) throw new RunStartException("--annotate writes one video: use it with one camera.");
                Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
            }
            var runtime = new CameraRuntime(id, capture, pipeline, writer, new CameraFrameTap(time, options.Snapshots)) { _alarm = alarm };
            runtime.Worker = Task.Factory.StartNew(() => runtime.WorkAsync(run, new CameraMetrics(id), logger),
                CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();
            return runtime;
        }
        catch
        {
            await capture.DisposeAsync();
            throw;
        }
    }

    private async Task WorkAsync(RunSettings run, CameraMetrics metrics, ILogger logger)
    {
        VideoWriter? writer = null;
        long processed = 0;
        try
        {
            await foreach (var frame in Capture.Frames.ReadAllAsync(_stop.Token))
            {
                using (frame)
                {
                    Pipeline.ProcessFrame(frame.Image, frame.Index, frame.CapturedAt);
                    FrameTap.Offer(frame.Image, frame.CapturedAt, Pipeline.Tracks);
                    // The alarm's watchdog switches this camera's lines off if the heartbeats stop (a hung pipeline).
                    _alarm?.Heartbeat(Id);
                    metrics.Observe(Pipeline.Counters, Capture.FramesDropped, Capture.State == CameraHealthState.Ok, Pipeline.Counters.LatencyMs);
                    if (run.AnnotatePath is { } path)
                    {
                        writer ??= OpenWriter(path, frame.Image, Capture.Source.NominalFps);
                        AnnotateTracks(frame.Image);
                        writer.Write(frame.Image);
                    }
                }
                if (run.MaxFrames is { } max && ++processed >= max) break;
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested) { }
        catch (Exception ex) when (ex is FrameSourceUnavailableException or FrameSourceReadException)
        {
            logger.LogError("Camera {Camera} stopped: {Reason}", Id, ex.Message);
        }
        finally
        {
            Pipeline.Complete();
            _alarm?.PipelineStopped(Id);
            writer?.Dispose();
        }
    }

    private static VideoWriter OpenWriter(string path, Mat first, double fps)
    {
        var writer = new VideoWriter(path, FourCC.MJPG, fps is > 0 and < 240 ? fps : 15, first.Size());
        if (!writer.IsOpened()) throw new IOException($"Cannot write the annotated video {path} (use a .avi file name).");
        return writer;
    }

    private static readonly Scalar Unknown = new(200, 200, 200);

    /// <summary>Draws confirmed tracks: box coloured by the latest label, "#id label p".</summary>
    private void AnnotateTracks(Mat image)
    {
        int thickness = Math.Max(1, image.Height / 360);
        foreach (var track in Pipeline.Tracks)
        {
            if (!track.IsConfirmed) continue;
            var b = track.Box;
            var cls = track.Observation.Classification;
            var colour = cls is null ? Unknown : Cli.Annotator.ColourOf(cls.Value.Label);
            Cv2.Rectangle(image, new Rect((int)b.X1, (int)b.Y1, Math.Max(1, (int)b.Width), Math.Max(1, (int)b.Height)), colour, thickness);
            string label = cls is null ? $"#{track.Id}" : $"#{track.Id} {cls.Value.LabelText} {cls.Value.Probability:0.00}";
            var origin = new Point((int)b.X1, Math.Max(12, (int)b.Y1 - 4));
            Cv2.PutText(image, label, origin, HersheyFonts.HersheySimplex, 0.45 * thickness, Scalar.Black, thickness + 2, LineTypes.AntiAlias);
            Cv2.PutText(image, label, origin, HersheyFonts.HersheySimplex, 0.45 * thickness, colour, thickness, LineTypes.AntiAlias);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await Worker.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await Capture.DisposeAsync();
        Pipeline.Dispose();
        FrameTap.Dispose();
        _annotate?.Dispose();
        _stop.Dispose();
    }
}
