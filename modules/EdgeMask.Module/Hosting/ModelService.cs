using EdgeMask.Module.Configuration;
using EdgeMask.Module.Pipeline;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace EdgeMask.Module.Hosting;

/// <summary>
/// The process's model sessions (detector, classifier), opened once at start and shared by every camera. Only a
/// change of the <c>inference</c> or <c>classifier</c> section reopens them (<see cref="ReloadAsync"/>), and then the
/// old sessions keep serving every camera until the new ones are open; each camera moves over at its next frame
/// boundary, and the old sessions close when the last camera let go of them (leases are counted, so no session is
/// ever disposed under a running camera thread).
/// </summary>
public sealed class ModelService : IModelSource, IHostedService, IAsyncDisposable
{
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private InferenceSettings _inference;
    private ClassifierSettings _classifier;
    private CountedModelSet? _current;
    private InferenceModels? _models;
    private readonly List<CountedModelSet> _retired = [];
    private long _generation;
    private long _sessionsOpened;
    private bool _stopped;

    public ModelService(EdgeMaskOptions options, ILoggerFactory loggers)
    {
        _inference = options.Inference;
        _classifier = options.Classifier;
        _logger = loggers.CreateLogger("edgemask.models");
    }

    /// <summary>The generation in force (0 before start).</summary>
    public long Generation => Interlocked.Read(ref _generation);

    /// <summary>ONNX Runtime sessions opened since the process started (a settings change that reopens none leaves it alone).</summary>
    public long SessionsOpened => Interlocked.Read(ref _sessionsOpened);

    /// <summary>The sessions in force: paths, manifest, provider (for status and reported properties).</summary>
    public InferenceModels Current
    {
        get { lock (_gate) return _models ?? throw new InvalidOperationException("The models are not open yet."); }
    }

    /// <summary>Generations replaced but still held by a camera.</summary>
    public int RetiredGenerationsOpen
    {
        get { lock (_gate) return _retired.Count(r => !r.IsDisposed); }
    }

    public IModelLease Acquire()
    {
        lock (_gate)
        {
            if (_stopped || _current is null) throw new ObjectDisposedException(nameof(ModelService), "The models are closed (the device is stopping).");
            return _current.TryLease() ?? throw new InvalidOperationException("The current model generation is closed.");
        }
    }

    /// <summary>Opens and verifies the models; throws <see cref="Inference.Models.ModelException"/> naming the file and the fix.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var models = await Task.Run(() => Open(_inference, _classifier, 1), cancellationToken).ConfigureAwait(false);
        lock (_gate)
        {
            _models = models;
            _current = new CountedModelSet(models, models);
            Interlocked.Exchange(ref _generation, 1);
        }
    }

    /// <summary>Whether <paramref name="next"/> needs other sessions than those open.</summary>
    public bool NeedsReload(EdgeMaskOptions next)
    {
        lock (_gate) return !SameOptions.As(next.Inference, _inference) || !SameOptions.As(next.Classifier, _classifier);
    }

    /// <summary>
    /// Opens sessions for <paramref name="next"/> (the old ones keep serving meanwhile) and makes them current. On
    /// failure nothing changes and the error is thrown (<see cref="Inference.Models.ModelException"/>,
    /// <see cref="Inference.Runtime.ExecutionProviderUnavailableException"/>).
    /// </summary>
    public async Task ReloadAsync(EdgeMaskOptions next, CancellationToken cancellationToken)
    {
        long generation = Generation + 1;
        var models = await Task.Run(() => Open(next.Inference, next.Classifier, generation), cancellationToken).ConfigureAwait(false);
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
            _inference = next.Inference;
            _classifier = next.Classifier;
            if (old is not null) _retired.Add(old);
            _retired.RemoveAll(r => r.IsDisposed);
            Interlocked.Exchange(ref _generation, generation);
        }
        // The service's own reference: the old sessions close as soon as the last camera moved to the new ones.
        old?.Release();
        _logger.LogInformation("Model generation {Generation} open ({Provider}); cameras move to it at their next frame", generation, models.ExecutionProvider);
    }

    private InferenceModels Open(InferenceSettings inference, ClassifierSettings classifier, long generation)
    {
        var models = InferenceModels.Open(inference, classifier, _logger, generation);
        Interlocked.Add(ref _sessionsOpened, models.SessionCount);
        return models;
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
