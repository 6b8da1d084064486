using System.Text.Json;
using System.Text.Json.Nodes;
using EdgeMask.Inference.Runtime;
using EdgeMask.Module.Configuration;
using EdgeMask.Module.Pipeline;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace EdgeMask.Module.Hosting;

/// <summary>
/// The process's model sessions (detector, classifier), opened once at start and shared by every camera. They are
/// reopened (<see cref="ReloadAsync"/>) only when the <c>inference</c> or <c>classifier</c> section changes, or — under
/// TensorRT — when a configuration or a camera's first frames need shapes the engines were not built for (a planned
/// rebuild); the old sessions keep serving every camera until the new ones are open and warmed up, each camera moves
/// over at its next frame boundary, and the old sessions close when the last camera let go of them (leases are
/// counted, so no session is ever disposed under a running camera thread).
/// </summary>
/// <remarks>
/// Under TensorRT the sessions are opened with explicit optimization profiles from an <see cref="EnginePlan"/> (the
/// cameras' frame sizes through <c>detector.scale</c>, the classifier's batch 1 … <c>inference.classifierMaxBatch</c>)
/// and warmed up over them, so each engine is built — or loaded from the engine cache — before a camera uses it.
/// </remarks>
public sealed class ModelService : IModelSource, IHostedService, IAsyncDisposable
{
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private readonly SemaphoreSlim _opening = new(1, 1);
    private readonly LearnedFrameSizes _learned;
    private EdgeMaskOptions _options;
    private CountedModelSet? _current;
    private InferenceModels? _models;
    private readonly List<CountedModelSet> _retired = [];
    private long _generation;
    private long _sessionsOpened;
    private bool _stopped;
    private PlannedRebuild? _rebuild;
    private Task _rebuilding = Task.CompletedTask;

    public ModelService(EdgeMaskOptions options, ILoggerFactory loggers)
    {
        _options = options;
        _logger = loggers.CreateLogger("edgemask.models");
        _learned = new LearnedFrameSizes(options.Inference.ToProviderOptions().TensorRtCacheDirectory, _logger);
    }

    /// <summary>The generation in force (0 before start).</summary>
    public long Generation => Interlocked.Read(ref _generation);

    /// <summary>ONNX Runtime sessions opened since the process started (a settings change that reopens none leaves it alone).</summary>
    public long SessionsOpened => Interlocked.Read(ref _sessionsOpened);

    /// <summary>The sessions in force: paths, manifest, provider, engine plan (for status and reported properties).</summary>
    public InferenceModels Current
    {
        get { lock (_gate) return _models ?? throw new InvalidOperationException("The models are not open yet."); }
    }

    /// <summary>The configuration a planned rebuild plans from (the last applied; see <see cref="ConfigurationApplied"/>).</summary>
    public EdgeMaskOptions Options
    {
        get { lock (_gate) return _options; }
    }

    /// <summary>Generations replaced but still held by a camera.</summary>
    public int RetiredGenerationsOpen
    {
        get { lock (_gate) return _retired.Count(r => !r.IsDisposed); }
    }

    /// <summary>The last planned rebuild (a camera delivered frames outside the TensorRT profile), null when none happened.</summary>
    public PlannedRebuild? LastPlannedRebuild
    {
        get { lock (_gate) return _rebuild; }
    }

    /// <summary>Completes when the planned rebuild under way (if any) has ended (tests, shutdown).</summary>
    public Task PlannedRebuildTask
    {
        get { lock (_gate) return _rebuilding; }
    }

    public IModelLease Acquire()
    {
        lock (_gate)
        {
            if (_stopped || _current is null) throw new ObjectDisposedException(nameof(ModelService), "The models are closed (the device is stopping).");
            return _current.TryLease() ?? throw new InvalidOperationException("The current model generation is closed.");
        }
    }

    /// <summary>The engine plan of <paramref name="options"/>, with the frame sizes learned from cameras so far.</summary>
    public EnginePlan PlanFor(EdgeMaskOptions options) => EnginePlan.For(options, _learned.Sizes);

    /// <summary>Opens, verifies and (off the CPU) warms up the models; throws <see cref="Inference.Models.ModelException"/> naming the file and the fix.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var plan = PlanFor(_options);
        var models = await Task.Run(() => Open(_options, plan, 1), cancellationToken).ConfigureAwait(false);
        lock (_gate)
        {
            _models = models;
            _current = new CountedModelSet(models, models);
            Interlocked.Exchange(ref _generation, 1);
        }
    }

    /// <summary>Whether <paramref name="next"/> needs other sessions than those open (see <see cref="ReloadReason"/>).</summary>
    public bool NeedsReload(EdgeMaskOptions next) => ReloadReason(next) is not null;

    /// <summary>
    /// Why <paramref name="next"/> needs other sessions, or null: the <c>inference</c> section changed, or which
    /// classifier runs (<c>classifier.enabled</c>, <c>classifier.modelFile</c>); or, under TensorRT, a camera's frames
    /// (its size, <c>detector.scale</c>) fall outside the engine's profile.
    /// Off TensorRT any shape runs as it comes, so frame sizes never reopen anything.
    /// </summary>
    public string? ReloadReason(EdgeMaskOptions next)
    {
        EdgeMaskOptions current;
        InferenceModels? models;
        lock (_gate)
        {
            current = _options;
            models = _models;
        }
        if (!SameOptions.As(next.Inference, current.Inference)) return "the inference section changed";
        // On the CPU the threads are the run's whole budget; under TensorRT or CUDA they only serve the few nodes left to
        // the CPU, not worth reopening (and re-warming) the engines for when a camera comes or goes.
        int threadsNext = next.Inference.ThreadsPerRun(next.Cameras.Count);
        if (models is { ActiveProvider: ExecutionProviderKind.Cpu } && threadsNext != models.IntraOpThreads)
            return $"the cameras' share of the CPU changed ({models.IntraOpThreads} → {threadsNext} threads per model run, for {next.Cameras.Count} camera(s))";
        // Only what opens a session: which classifier, if any. How often faces are classified is a live camera setting.
        if (next.Classifier.Enabled != current.Classifier.Enabled || next.Classifier.ModelFile != current.Classifier.ModelFile)
            return "the classifier changed";
        return models is null ? null : ProfileReloadReason(models.ActiveProvider, models.Plan, PlanFor(next));
    }

    /// <summary>
    /// Why engines built for <paramref name="inForce"/> on <paramref name="provider"/> cannot run <paramref name="next"/>
    /// without building a new engine mid-stream, or null. Only TensorRT builds engines for fixed shape ranges.
    /// </summary>
    public static string? ProfileReloadReason(ExecutionProviderKind provider, EnginePlan? inForce, EnginePlan next)
    {
        if (provider != ExecutionProviderKind.TensorRT || inForce is null || inForce.Covers(next)) return null;
        if (next.ClassifierMaxBatch != inForce.ClassifierMaxBatch)
            return $"the classifier's batch cap changes from {inForce.ClassifierMaxBatch} to {next.ClassifierMaxBatch}";
        var range = inForce.DetectorProfile("input").Inputs[0];
        var outside = next.FrameSizes.Zip(next.DetectorInputs())
            .Where(p => !range.Covers([1, 3, p.Second.Height, p.Second.Width]))
            .Select(p => $"{p.First.Camera ?? "a camera"} {p.First.Width}x{p.First.Height} → detector input {p.Second.Width}x{p.Second.Height}")
            .Distinct();
        return $"frames outside the TensorRT detector profile ({string.Join(", ", outside)})";
    }

    /// <summary>
    /// The configuration now in force, applied without new sessions (cameras added or resized inside the profile): a
    /// planned rebuild later plans from it, so it keeps every configured camera size.
    /// </summary>
    public void ConfigurationApplied(EdgeMaskOptions options)
    {
        lock (_gate)
        {
            if (SameOptions.As(options.Inference, _options.Inference) && SameOptions.As(options.Classifier, _options.Classifier)) _options = options;
        }
    }

    /// <summary>
    /// Opens sessions for <paramref name="next"/> (the old ones keep serving meanwhile) and makes them current. On
    /// failure nothing changes and the error is thrown (<see cref="Inference.Models.ModelException"/>,
    /// <see cref="Inference.Runtime.ExecutionProviderUnavailableException"/>).
    /// </summary>
    public async Task ReloadAsync(EdgeMaskOptions next, CancellationToken cancellationToken)
    {
        await _opening.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await ReloadCoreAsync(next, ReloadReason(next) ?? "requested", cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _opening.Release();
        }
    }

    private async Task ReloadCoreAsync(EdgeMaskOptions next, string reason, CancellationToken cancellationToken)
    {
        long generation = Generation + 1;
        EnginePlan? inForce;
        lock (_gate) inForce = _models?.Plan;
        // Cameras move over one by one, each at its next frame, some still on their previous settings for a frame.
        var plan = PlanFor(next).Spanning(inForce);
        var models = await Task.Run(() => Open(next, plan, generation), cancellationToken).ConfigureAwait(false);
        CountedModelSet? old;
        lock (_gate)
        {
            if (_stopped)
            {
                models.Dispose();
                throw new ObjectDisposedException(nameof(ModelService));
            }
            old = _current;
            _models = models;
            _current = new CountedModelSet(models, models);
            _options = next;
            if (old is not null) _retired.Add(old);
            _retired.RemoveAll(r => r.IsDisposed);
            Interlocked.Exchange(ref _generation, generation);
        }
        // The service's own reference: the old sessions close as soon as the last camera moved to the new ones.
        old?.Release();
        _logger.LogInformation("Model generation {Generation} open ({Provider}) because {Reason}; cameras move to it at their next frame",
            generation, models.ExecutionProvider, reason);
    }

    /// <summary>
    /// A camera delivered a frame whose detector input the TensorRT engine was not built for (camera thread, once per
    /// size): the size is learned (and kept beside the engines) and a rebuild covering it is planned in the background;
    /// the camera's frames of that size are skipped until it is open, every other camera runs on.
    /// </summary>
    internal void OnFrameOutsideProfile(int width, int height)
    {
        if (!_learned.Add(width, height)) return;
        lock (_gate)
        {
            if (_stopped) return;
            _logger.LogWarning("A camera delivers {Width}x{Height} frames, outside the TensorRT detector profile: rebuilding the engines for it (set cameras.<id>.width/height to plan it at start-up)",
                width, height);
            _rebuild = new PlannedRebuild($"a camera delivered {width}x{height} frames, outside the TensorRT profile", DateTimeOffset.UtcNow, null, null);
            var previous = _rebuilding;
            _rebuilding = Task.Run(async () =>
            {
                await previous.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                await PlannedRebuildAsync(width, height).ConfigureAwait(false);
            });
        }
    }

    private async Task PlannedRebuildAsync(int width, int height)
    {
        await _opening.WaitAsync().ConfigureAwait(false);
        try
        {
            EdgeMaskOptions options;
            InferenceModels? models;
            lock (_gate)
            {
                if (_stopped) return;
                options = _options;
                models = _models;
            }
            // Another reload may have covered the size meanwhile.
            if (models is not null && models.Covers(width, height))
            {
                lock (_gate) _rebuild = _rebuild! with { CompletedAt = DateTimeOffset.UtcNow };
                return;
            }
            string reason = $"a camera delivered {width}x{height} frames, outside the TensorRT profile";
            try
            {
                await ReloadCoreAsync(options, reason, CancellationToken.None).ConfigureAwait(false);
                lock (_gate) _rebuild = _rebuild! with { CompletedAt = DateTimeOffset.UtcNow };
            }
            catch (Exception ex) when (ex is not OutOfMemoryException and not ObjectDisposedException)
            {
                _logger.LogError(ex, "The planned rebuild for {Width}x{Height} frames failed: {Error}; that camera's frames stay skipped", width, height, ex.Message);
                lock (_gate) _rebuild = _rebuild! with { CompletedAt = DateTimeOffset.UtcNow, Error = ex.Message };
            }
        }
        finally
        {
            _opening.Release();
        }
    }

    private InferenceModels Open(EdgeMaskOptions options, EnginePlan plan, long generation)
    {
        // The sessions serve every camera at once: each run gets the cameras' share of the CPUs (inference.intraOpThreads 0).
        var inference = options.Inference with { IntraOpThreads = options.Inference.ThreadsPerRun(options.Cameras.Count) };
        var models = InferenceModels.Open(inference, options.Classifier, _logger, generation, plan, OnFrameOutsideProfile);
        Interlocked.Add(ref _sessionsOpened, models.SessionCount);
        return models;
    }

    /// <summary>
    /// The inference engines in force for <c>/healthz</c> and the twin's <c>runtime.inference</c>: provider, generation,
    /// the frame sizes planned (and where each came from), per model the TensorRT profile, engine cache hit or build and
    /// warm-up, and the last planned rebuild. Off TensorRT there are no profiles and no engine cache, and it says so.
    /// </summary>
    public JsonObject Report()
    {
        InferenceModels? models;
        PlannedRebuild? rebuild;
        lock (_gate)
        {
            models = _models;
            rebuild = _rebuild;
        }
        if (models is null) return new JsonObject { ["state"] = "opening" };
        bool trt = models.ActiveProvider == ExecutionProviderKind.TensorRT;
        var report = new JsonObject
        {
            ["provider"] = models.ExecutionProvider,
            ["generation"] = models.Generation,
            ["classifierMaxBatch"] = models.ClassifierMaxBatch,
            // CPU threads each model run may use (inference.intraOpThreads, or the CPUs shared among the cameras).
            ["intraOpThreads"] = models.IntraOpThreads,
            ["frameSizes"] = models.Plan is { } plan && trt
                ? new JsonArray([.. plan.FrameSizes.Select(s => (JsonNode)new JsonObject
                {
                    ["camera"] = s.Camera,
                    ["size"] = $"{s.Width}x{s.Height}",
                    ["origin"] = s.Origin.ToString().ToLowerInvariant(),
                })])
                : null,
            ["engines"] = JsonSerializer.SerializeToNode(models.Engines(), ConfigLoader.JsonOptions),
            ["plannedRebuild"] = rebuild is null ? null : JsonSerializer.SerializeToNode(rebuild, ConfigLoader.JsonOptions),
        };
        return report;
    }

    /// <summary>Releases the current generation; sessions a camera still holds (a camera thread that did not stop in time) stay open.</summary>
    public Task StopAsync(CancellationToken cancellationToken)
    {
        CountedModelSet? current;
        List<CountedModelSet> held;
        lock (_gate)
        {
            if (_stopped) return Task.CompletedTask;
            _stopped = true;
            current = _current;
            _current = null;
        }
        current?.Release();
        lock (_gate) held = _retired.Where(r => !r.IsDisposed).ToList();
        if (current is { IsDisposed: false }) held.Add(current);
        if (held.Count > 0)
            _logger.LogWarning("{Count} model generation(s) still used by a camera thread that did not stop: their sessions are left to the process exit", held.Count);
        return Task.CompletedTask;
    }

    public ValueTask DisposeAsync() => new(StopAsync(CancellationToken.None));
}

/// <summary>A rebuild of the engines the device planned itself because a camera delivered frames outside the profile.</summary>
/// <param name="Reason">Which frames.</param>
/// <param name="StartedAt">When it was planned.</param>
/// <param name="CompletedAt">When the rebuilt sessions were open (or the rebuild failed); null while it runs.</param>
/// <param name="Error">Why it failed (that camera's frames of that size stay skipped), or null.</param>
public sealed record PlannedRebuild(string Reason, DateTimeOffset StartedAt, DateTimeOffset? CompletedAt, string? Error);
