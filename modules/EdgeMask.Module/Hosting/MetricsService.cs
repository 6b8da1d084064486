using EdgeMask.Module.Configuration;
using EdgeMask.Module.Pipeline;
using EdgeMask.Module.Sources;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace EdgeMask.Module.Hosting;

/// <summary>
/// Prometheus <c>/metrics</c> and <c>/healthz</c> on one address and port, when <c>metrics.enabled</c>. Restarted only
/// when the <c>metrics</c> section changes. Device-wide gauges (outbox, alarm lines) are refreshed when Prometheus
/// scrapes. Owns its server.
/// </summary>
public sealed class MetricsService : IHostedService, IAsyncDisposable
{
    private readonly MessagingService _messaging;
    private readonly AlarmService _alarm;
    private readonly ModelService _models;
    private readonly CameraSupervisor _cameras;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger _logger;
    private MetricsSettings _options;
    private MetricsServer? _server;

    public MetricsService(EdgeMaskOptions options, MessagingService messaging, AlarmService alarm, ModelService models, CameraSupervisor cameras,
        ILoggerFactory loggers)
    {
        _options = options.Metrics;
        _messaging = messaging;
        _alarm = alarm;
        _models = models;
        _cameras = cameras;
        _loggers = loggers;
        _logger = loggers.CreateLogger("edgemask.metrics");
    }

    /// <summary>Where <c>/metrics</c> is served (null when off).</summary>
    public Uri? Address => Volatile.Read(ref _server)?.Address;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        ScrapeSource.Attach(this);
        if (_options.Enabled) Volatile.Write(ref _server, await StartServerAsync(_options, cancellationToken).ConfigureAwait(false));
    }

    private async Task<MetricsServer> StartServerAsync(MetricsSettings options, CancellationToken cancellationToken)
    {
        var server = await MetricsServer.StartAsync(options.Address, options.Port, Health, _loggers, cancellationToken).ConfigureAwait(false);
        _logger.LogInformation("Metrics on {Address}metrics, health on {Address}healthz", server.Address, server.Address);
        return server;
    }

    public bool NeedsRestart(EdgeMaskOptions next) => !SameOptions.As(next.Metrics, _options);

    /// <summary>Serves <c>metrics</c> of <paramref name="next"/>; when its port cannot be taken, the previous server comes back and the error is thrown.</summary>
    public async Task RestartAsync(EdgeMaskOptions next, CancellationToken cancellationToken)
    {
        var previous = _options;
        var old = Interlocked.Exchange(ref _server, null);
        if (old is not null) await old.DisposeAsync().ConfigureAwait(false);
        try
        {
            if (next.Metrics.Enabled) Volatile.Write(ref _server, await StartServerAsync(next.Metrics, cancellationToken).ConfigureAwait(false));
            _options = next.Metrics;
        }
        catch (IOException ex)
        {
            _logger.LogError("Metrics cannot move to {Address}:{Port} ({Error}); serving on the previous address again", next.Metrics.Address, next.Metrics.Port, ex.Message);
            if (previous.Enabled) Volatile.Write(ref _server, await StartServerAsync(previous, CancellationToken.None).ConfigureAwait(false));
            throw;
        }
    }

    internal (bool Healthy, object Details) Health()
    {
        var cameras = _cameras.Cameras.Select(c => c.Health).ToList();
        // A file that ended is done, not broken; a camera connecting or reconnecting makes the device degraded.
        bool healthy = cameras.All(h => h.State is CameraHealthState.Ok or CameraHealthState.Ended);
        var messaging = _messaging.Current?.GetMetrics();
        return (healthy, new
        {
            status = healthy ? "ok" : "degraded",
            executionProvider = _models.Generation > 0 ? _models.Current.ExecutionProvider : null,
            // Provider, TensorRT profiles, engine cache loaded/built, warm-up, planned rebuilds.
            inference = _models.Report(),
            cameras = cameras.Select(h => h.ToReport()),
            // Faces taken for pictures (posters, screens), per camera that has any: candidates for violation.ignoreZones.
            stationaryFaces = _cameras.Cameras.Where(c => c.StationaryFaces.Count > 0)
                .ToDictionary(c => c.Id, c => StationaryFaceReport.ToJson(c.StationaryFaces)),
            outbox = messaging?.Destinations.Select(d => new { d.Destination, d.Connected, d.Depth }),
        });
    }

    private void UpdateScrapedMetrics()
    {
        if (_messaging.Current is { } m) MessagingMetricsExport.Update(m.GetMetrics());
        if (_alarm.Current is { } a) AlarmMetricsExport.Update(a.Snapshot());
        ModelMetricsExport.Update(_models.SessionsOpened, _models.Generation);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        ScrapeSource.Detach(this);
        var server = Interlocked.Exchange(ref _server, null);
        if (server is not null) await server.DisposeAsync().ConfigureAwait(false);
    }

    public ValueTask DisposeAsync() => new(StopAsync(CancellationToken.None));

    /// <summary>
    /// The metrics service whose device-wide gauges a Prometheus scrape refreshes. prometheus-net can add a
    /// before-collect callback but never remove one, so one callback is registered per process and reads the current
    /// service: a callback per service would keep every stopped host alive (tests start many) and refresh them all.
    /// </summary>
    private static class ScrapeSource
    {
        private static MetricsService? s_current;
        private static int s_registered;

        public static void Attach(MetricsService service)
        {
            Volatile.Write(ref s_current, service);
            if (Interlocked.Exchange(ref s_registered, 1) == 0)
                Prometheus.Metrics.DefaultRegistry.AddBeforeCollectCallback(() => Volatile.Read(ref s_current)?.UpdateScrapedMetrics());
        }

        public static void Detach(MetricsService service) => Interlocked.CompareExchange(ref s_current, null, service);

        public static bool IsCurrent(MetricsService service) => ReferenceEquals(Volatile.Read(ref s_current), service);
    }

    /// <summary>Whether a scrape refreshes this service's gauges (tests).</summary>
    internal bool IsScrapeSource => ScrapeSource.IsCurrent(this);
}
