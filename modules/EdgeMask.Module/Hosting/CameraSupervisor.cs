using System.Text.Json;
using EdgeMask.Module.Configuration;
using EdgeMask.Module.Pipeline;
using EdgeMask.Module.Sources;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace EdgeMask.Module.Hosting;

/// <summary>What applying a configuration did to the cameras.</summary>
public sealed record CameraChanges(IReadOnlyList<string> Started, IReadOnlyList<string> Stopped, IReadOnlyList<string> Restarted,
    IReadOnlyList<string> Updated, IReadOnlyDictionary<string, string> Failed)
{
    public static CameraChanges None { get; } = new([], [], [], [], new Dictionary<string, string>());
}

/// <summary>
/// Runs the configured cameras, one <see cref="CameraWorker"/> each, and applies a new configuration as a difference:
/// a camera added is started, one removed (or disabled) is stopped, one whose <b>source</b> settings changed
/// (<c>source</c>, <c>enabled</c>, <c>realtime</c>, <c>loop</c>, <c>width</c>/<c>height</c>/<c>fps</c>, the
/// <c>sources</c> and <c>capture</c> sections, the device id) is restarted — and every other camera keeps running and
/// takes the new live settings (detector, tracking, violation policy, its zones, stats interval) at its next frame.
/// Owns its workers.
/// </summary>
public sealed class CameraSupervisor : IHostedService
{
    /// <summary>How long <see cref="ApplyAsync"/> waits for the running cameras to take new settings (a frame, or a tick without one).</summary>
    public static readonly TimeSpan SettingsAckTimeout = TimeSpan.FromSeconds(5);

    private readonly DeviceHostSettings _host;
    private readonly ModelService _models;
    private readonly MessagingService _messaging;
    private readonly AlarmService _alarm;
    private readonly SnapshotService _snapshots;
    private readonly CameraHealthBoard _board;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly IPipelineSink _sink;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, CameraWorker> _workers = new(StringComparer.Ordinal);
    private readonly TaskCompletionSource _allEnded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private EdgeMaskOptions _options;
    private long _version = 1;
    private readonly StationaryFacesFile _learnt;
    private int _savePending;

    public CameraSupervisor(EdgeMaskOptions options, DeviceHostSettings host, ModelService models, MessagingService messaging, AlarmService alarm,
        SnapshotService snapshots, CameraHealthBoard board, ILoggerFactory loggers, TimeProvider time)
    {
        _options = options;
        _host = host;
        _models = models;
        _messaging = messaging;
        _alarm = alarm;
        _snapshots = snapshots;
        _board = board;
        _loggers = loggers;
        _logger = loggers.CreateLogger("edgemask.cameras");
        _time = time;
        // Beside the outbox: the module's state volume on a device, the working folder of `edgemask run`.
        _learnt = new StationaryFacesFile(Path.GetDirectoryName(Path.GetFullPath(options.Outbox.Path))!, _logger);
        // Each event reaches the console first (what an operator watches), then the outbox, then the alarm.
        _sink = new CompositeSink([new ConsoleEventSink(host.Stdout), messaging, alarm], _logger);
    }

    /// <summary>The cameras in force, by id order.</summary>
    public IReadOnlyList<CameraWorker> Cameras
    {
        get
        {
            lock (_gate) return _workers.Values.OrderBy(w => w.Id, StringComparer.Ordinal).ToList();
        }
    }

    public CameraWorker? Find(string id)
    {
        lock (_gate) return _workers.GetValueOrDefault(id);
    }

    /// <summary>Completes when every camera started at launch has ended (files, <c>--max-frames</c>): <c>run</c> stops then.</summary>
    public Task AllEnded => _allEnded.Task;

    /// <summary>Starts every enabled camera at once. A file or folder that cannot be read fails the start (nothing else can fix it).</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var cameras = _options.Cameras.Where(c => c.Value.Enabled).ToList();
        // A live source whose decoder is not installed can never work: refused now, like a file that cannot be read
        // (which the capture's own start refuses below).
        foreach (var (id, camera) in cameras)
        {
            if (SourcePreflight.Check(camera.Source, camera.SourceOptionsFrom(_options.Sources), cancellationToken, readFiles: false) is { } problem)
                throw new CameraStartException(id, problem);
        }
        var workers = cameras.Select(c => CreateWorker(c.Key, c.Value, _options, _version)).ToList();
        var starts = workers.Select(w => w.StartAsync(cancellationToken)).ToList();
        try
        {
            await Task.WhenAll(starts).ConfigureAwait(false);
        }
        catch
        {
            await Task.WhenAll(workers.Zip(starts).Where(p => p.Second.IsCompletedSuccessfully).Select(p => p.First.StopAsync(_host.CameraStopTimeout))).ConfigureAwait(false);
            var failed = workers.Zip(starts).First(p => p.Second.IsFaulted);
            throw new CameraStartException(failed.First.Id, failed.Second.Exception!.InnerException!);
        }
        lock (_gate)
        {
            foreach (var w in workers) Add(w);
        }
        _ = Task.WhenAll(workers.Select(w => w.Completion)).ContinueWith(_ => _allEnded.TrySetResult(), TaskScheduler.Default);
    }

    private void Add(CameraWorker worker)
    {
        _workers[worker.Id] = worker;
        _board.Set(worker.Id, () => worker.Health);
    }

    private CameraWorker CreateWorker(string id, CameraOptions camera, EdgeMaskOptions options, long version)
    {
        var context = new CameraWorkerContext
        {
            Models = _models,
            Sink = _sink,
            Snapshots = () => _snapshots.Current,
            Heartbeat = _alarm.Heartbeat,
            PipelineStopped = _alarm.PipelineStopped,
            OutboxDepth = _messaging.OutboxDepth,
            Run = _host.Run,
            Time = _time,
            Loggers = _loggers,
        };
        var worker = new CameraWorker(id, () =>
        {
            var capture = CameraCapture.Create(id, camera.Source, camera.SourceOptionsFrom(options.Sources), options.Capture.ToCaptureOptions(camera), _time, _loggers);
            // The device status (retained, dashboard) follows the cameras' health: connecting, ok, reconnecting, failed.
            capture.HealthChanged += _ => _messaging.PublishStatus();
            return capture;
        }, SettingsFor(options, id, camera, version), context, SourceKey(options, camera)) { Source = camera.Source };
        // Pictures this camera learnt before a restart (of the module, or of the camera for a capture setting).
        worker.StationaryMemory.Restore(_learnt.For(id, camera.Source), _time.GetUtcNow());
        worker.StationaryMemory.Changed += ScheduleSaveLearnt;
        return worker;
    }

    /// <summary>Saves the learnt pictures a second after a change (a burst of changes makes one write), off the camera thread.</summary>
    private void ScheduleSaveLearnt()
    {
        if (Interlocked.Exchange(ref _savePending, 1) == 1) return;
        _ = Task.Run(async () =>
        {
            await Task.Delay(TimeSpan.FromSeconds(1), _time).ConfigureAwait(false);
            Interlocked.Exchange(ref _savePending, 0);
            SaveLearnt([]);
        });
    }

    /// <summary>Writes the learnt pictures of the cameras in force and of <paramref name="leaving"/> (cameras being restarted).</summary>
    private void SaveLearnt(IEnumerable<CameraWorker> leaving)
    {
        List<CameraWorker> workers;
        lock (_gate) workers = [.. _workers.Values, .. leaving.Where(l => !_workers.ContainsKey(l.Id))];
        _learnt.Save(workers.Select(w => (w.Id, w.Source, w.StationaryFaces)));
    }

    /// <summary>The live settings of camera <paramref name="id"/> under <paramref name="options"/>.</summary>
    public static CameraPipelineSettings SettingsFor(EdgeMaskOptions options, string id, CameraOptions camera, long version) => new()
    {
        Device = options.Device,
        Camera = id,
        DetectEveryNthFrame = camera.DetectEveryNthFrame ?? options.Detector.DetectEveryNthFrame,
        Detector = options.Detector.ToDetectorOptions(),
        Tracking = options.Tracking,
        Violation = camera.Zones is null && camera.IgnoreZones is null
            ? options.Violation
            : options.Violation with { Zones = camera.Zones ?? options.Violation.Zones, IgnoreZones = camera.IgnoreZones ?? options.Violation.IgnoreZones },
        ClassifySmallFaces = options.Classifier.ClassifySmallFaces,
        ClassifySettledEveryNthFrame = options.Classifier.SettledEveryNthFrame,
        StatsInterval = options.Stats.Interval,
        Version = version,
    };

    /// <summary>What decides whether a camera must be restarted: its source settings, the global source and capture sections, the device id.</summary>
    public static string SourceKey(EdgeMaskOptions options, CameraOptions camera) => JsonSerializer.Serialize(new
    {
        options.Device,
        Camera = camera with { DetectEveryNthFrame = null, Zones = null, IgnoreZones = null },
        options.Sources,
        options.Capture,
    }, ConfigLoader.JsonOptions);

    /// <summary>
    /// Applies <paramref name="next"/> as a difference (see the class summary) and waits until every running camera took
    /// the new settings (version <paramref name="version"/>). A camera that cannot start is reported in
    /// <see cref="CameraChanges.Failed"/> with its health <c>failed</c>; the others are not affected.
    /// </summary>
    public async Task<CameraChanges> ApplyAsync(EdgeMaskOptions next, long version, CancellationToken cancellationToken)
    {
        List<CameraWorker> toStop = [], keep = [];
        List<(string Id, CameraOptions Camera)> toStart = [];
        lock (_gate)
        {
            foreach (var (id, worker) in _workers)
            {
                if (!next.Cameras.TryGetValue(id, out var camera) || !camera.Enabled || SourceKey(next, camera) != worker.SourceKey) toStop.Add(worker);
                else keep.Add(worker);
            }
            foreach (var (id, camera) in next.Cameras)
            {
                if (camera.Enabled && (!_workers.ContainsKey(id) || toStop.Any(w => w.Id == id))) toStart.Add((id, camera));
            }
            foreach (var w in toStop) _workers.Remove(w.Id);
            _options = next;
            _version = version;
        }

        // Live settings first, so the cameras that stay are on the new values while the others restart.
        foreach (var w in keep)
        {
            var camera = next.Cameras[w.Id];
            w.UpdateSettings(SettingsFor(next, w.Id, camera, version));
        }
        await Task.WhenAll(toStop.Select(async w =>
        {
            await w.StopAsync(_host.CameraStopTimeout).ConfigureAwait(false);
            await w.DisposeAsync().ConfigureAwait(false);
            if (!toStart.Any(s => s.Id == w.Id))
            {
                w.RemoveMetrics();
                _board.Remove(w.Id);
            }
        })).ConfigureAwait(false);
        // A camera restarted for a capture setting takes its pictures along (restored below when its source is the same);
        // a camera removed leaves the file.
        if (toStop.Count > 0) SaveLearnt(toStop.Where(w => toStart.Any(s => s.Id == w.Id)));

        var failed = new Dictionary<string, string>(StringComparer.Ordinal);
        var started = await Task.WhenAll(toStart.Select(async s =>
        {
            var worker = CreateWorker(s.Id, s.Camera, next, version);
            try
            {
                await worker.StartAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is FrameSourceUnavailableException or FrameSourceReadException or ArgumentException or IOException)
            {
                _logger.LogError("Camera {Camera} cannot start: {Error}", s.Id, ex.Message);
                lock (failed) failed[s.Id] = ex.Message;
            }
            lock (_gate) Add(worker);
            return worker;
        })).ConfigureAwait(false);

        var acks = await Task.WhenAll(keep.Select(w => w.WaitForSettingsAsync(version, SettingsAckTimeout, cancellationToken))).ConfigureAwait(false);
        var late = keep.Where((_, i) => !acks[i]).Select(w => w.Id).ToList();
        if (late.Count > 0) _logger.LogWarning("Cameras {Cameras} did not take settings version {Version} within {Timeout}", string.Join(", ", late), version, SettingsAckTimeout);

        var startedIds = toStart.Select(s => s.Id).ToHashSet(StringComparer.Ordinal);
        return new CameraChanges(
            Started: toStart.Where(s => !toStop.Any(w => w.Id == s.Id)).Select(s => s.Id).ToList(),
            Stopped: toStop.Where(w => !startedIds.Contains(w.Id)).Select(w => w.Id).ToList(),
            Restarted: toStop.Where(w => startedIds.Contains(w.Id)).Select(w => w.Id).ToList(),
            Updated: keep.Select(w => w.Id).ToList(),
            Failed: failed);
    }

    /// <summary>Stops every camera at once (capture first, the frame in flight completes, open episodes end); bounded by the camera stop timeout.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        List<CameraWorker> workers;
        lock (_gate) workers = _workers.Values.ToList();
        var ended = await Task.WhenAll(workers.Select(w => w.StopAsync(_host.CameraStopTimeout))).ConfigureAwait(false);
        SaveLearnt([]);
        foreach (var w in workers.Where((_, i) => ended[i])) await w.DisposeAsync().ConfigureAwait(false);
        _allEnded.TrySetResult();
    }
}

/// <summary>A camera could not start; the message names it and says why (a file that does not exist, …).</summary>
public sealed class CameraStartException : Exception
{
    public CameraStartException(string camera, Exception inner) : base($"Camera {camera} cannot start: {inner.Message}", inner) => Camera = camera;

    public CameraStartException(string camera, string reason) : base($"Camera {camera} cannot start: {reason}") => Camera = camera;

    public string Camera { get; }
}
