using EdgeMask.Alarm;
using EdgeMask.Inference.Models;
using EdgeMask.Inference.Runtime;
using EdgeMask.Module.Configuration;
using EdgeMask.Module.Sources;
using Microsoft.Extensions.Logging;

namespace EdgeMask.Module.Hosting;

/// <summary>What applying a configuration did.</summary>
/// <param name="Version">The configuration version now in force.</param>
/// <param name="Changed">False when the configuration was the same (nothing was touched).</param>
/// <param name="Restarted">Process-level parts restarted: <c>models</c>, <c>messaging</c>, <c>metrics</c>, <c>alarm</c>.</param>
/// <param name="Cameras">Cameras started, stopped, restarted, updated live, failed.</param>
public sealed record ApplyReport(long Version, bool Changed, IReadOnlyList<string> Restarted, CameraChanges Cameras);

/// <summary>
/// A configuration that passed validation but cannot run here (a camera file that cannot be read, a model that does
/// not load, a port in use). Nothing was changed, or what was changed was put back: the previous configuration runs.
/// </summary>
public sealed class ConfigurationApplyException(string message, IReadOnlyDictionary<string, string> errors, Exception? inner = null)
    : Exception(message, inner)
{
    /// <summary>Per configuration key (<c>cameras:door:source</c>, <c>inference</c>, <c>mqtt</c>, …).</summary>
    public IReadOnlyDictionary<string, string> Errors { get; } = errors;
}

/// <summary>
/// The device's configuration in force and the one place that changes it. <see cref="ApplyAsync"/> takes a validated
/// snapshot and touches only what it changes, in an order that keeps the device seeing:
/// <list type="number">
/// <item>preflight: new or changed camera sources that can never work (a file that cannot be read, a decoder that is
/// not installed) refuse the whole configuration, before anything changes;</item>
/// <item>models: opened for the new configuration while the old sessions keep serving (only when <c>inference</c> or
/// <c>classifier</c> changed); a model that does not load refuses the configuration;</item>
/// <item>messaging, metrics, alarm lines: restarted only when their own section changed; one that cannot start puts
/// back the parts already changed and refuses the configuration;</item>
/// <item>snapshots (a new store), then the cameras as a difference (<see cref="CameraSupervisor.ApplyAsync"/>): live
/// settings reach every running camera at its next frame boundary — no session, broker or camera restart.</item>
/// </list>
/// Calls are serialized. Not an owner: the services it coordinates belong to the host.
/// </summary>
public sealed class DeviceRuntime
{
    private readonly ModelService _models;
    private readonly MessagingService _messaging;
    private readonly AlarmService _alarm;
    private readonly SnapshotService _snapshots;
    private readonly MetricsService _metrics;
    private readonly CameraSupervisor _cameras;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _applying = new(1, 1);
    private EdgeMaskOptions _current;
    private long _version = 1;

    public DeviceRuntime(EdgeMaskOptions initial, ModelService models, MessagingService messaging, AlarmService alarm, SnapshotService snapshots,
        MetricsService metrics, CameraSupervisor cameras, ILoggerFactory loggers)
    {
        _current = initial;
        _models = models;
        _messaging = messaging;
        _alarm = alarm;
        _snapshots = snapshots;
        _metrics = metrics;
        _cameras = cameras;
        _logger = loggers.CreateLogger("edgemask.runtime");
    }

    /// <summary>The configuration in force.</summary>
    public EdgeMaskOptions Current => Volatile.Read(ref _current);

    /// <summary>Increases with every configuration applied (1 at start).</summary>
    public long Version => Interlocked.Read(ref _version);

    public ModelService Models => _models;
    public MessagingService Messaging => _messaging;
    public AlarmService Alarm => _alarm;
    public SnapshotService Snapshots => _snapshots;
    public MetricsService Metrics => _metrics;
    public CameraSupervisor Cameras => _cameras;

    /// <summary>
    /// Applies <paramref name="next"/> (validated) as described in the class summary. Throws
    /// <see cref="ConfigurationApplyException"/> when it cannot run; the previous configuration then stays in force.
    /// </summary>
    public async Task<ApplyReport> ApplyAsync(EdgeMaskOptions next, CancellationToken cancellationToken)
    {
        await _applying.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var previous = Current;
            if (TwinConfiguration.SameConfiguration(previous, next)) return new ApplyReport(Version, false, [], CameraChanges.None);

            var sourceErrors = Preflight(previous, next, cancellationToken);
            if (sourceErrors.Count > 0)
                throw new ConfigurationApplyException($"Camera sources that cannot work: {string.Join("; ", sourceErrors.Values)}", sourceErrors);

            var restarted = new List<string>();
            var undo = new List<Func<Task>>();
            if (_models.NeedsReload(next))
            {
                try
                {
                    await _models.ReloadAsync(next, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is ModelException or ExecutionProviderUnavailableException or Microsoft.ML.OnnxRuntime.OnnxRuntimeException)
                {
                    throw new ConfigurationApplyException($"The models cannot be opened: {ex.Message}", new Dictionary<string, string> { ["inference"] = ex.Message }, ex);
                }
                restarted.Add("models");
                undo.Add(() => _models.ReloadAsync(previous, CancellationToken.None));
            }
            try
            {
                if (_messaging.NeedsRestart(next))
                {
                    await Step("mqtt", () => _messaging.RestartAsync(next, cancellationToken)).ConfigureAwait(false);
                    restarted.Add("messaging");
                    undo.Add(() => _messaging.RestartAsync(previous, CancellationToken.None));
                }
                if (_metrics.NeedsRestart(next))
                {
                    await Step("metrics", () => _metrics.RestartAsync(next, cancellationToken)).ConfigureAwait(false);
                    restarted.Add("metrics");
                    undo.Add(() => _metrics.RestartAsync(previous, CancellationToken.None));
                }
                int builds = _alarm.Builds;
                await Step("alarm", () => _alarm.ApplyAsync(next, cancellationToken)).ConfigureAwait(false);
                if (_alarm.Builds != builds) restarted.Add("alarm");
            }
            catch (ConfigurationApplyException)
            {
                undo.Reverse();
                foreach (var step in undo)
                {
                    try
                    {
                        await step().ConfigureAwait(false);
                    }
                    catch (Exception ex) when (ex is not OutOfMemoryException)
                    {
                        _logger.LogError(ex, "Putting back the previous configuration failed in part: {Error}", ex.Message);
                    }
                }
                throw;
            }

            _snapshots.Apply(next);
            _messaging.ApplyContract(next);
            long version = Version + 1;
            var cameras = await _cameras.ApplyAsync(next, version, cancellationToken).ConfigureAwait(false);
            Volatile.Write(ref _current, next);
            _models.ConfigurationApplied(next);
            Interlocked.Exchange(ref _version, version);
            _logger.LogInformation("Configuration {Version} in force: restarted [{Restarted}], cameras started [{Started}] stopped [{Stopped}] restarted [{CamerasRestarted}] updated live [{Updated}]",
                version, string.Join(", ", restarted), string.Join(", ", cameras.Started), string.Join(", ", cameras.Stopped),
                string.Join(", ", cameras.Restarted), string.Join(", ", cameras.Updated));
            return new ApplyReport(version, true, restarted, cameras);
        }
        finally
        {
            _applying.Release();
        }
    }

    private static async Task Step(string key, Func<Task> step)
    {
        try
        {
            await step().ConfigureAwait(false);
        }
        catch (Exception ex) when (MessagingService.IsStartFailure(ex) || ex is AlarmConfigurationException or GpioLineUnavailableException
            or AnnouncementRenderException or AudioPlaybackException)
        {
            throw new ConfigurationApplyException($"{key} cannot start: {ex.Message}", new Dictionary<string, string> { [key] = ex.Message }, ex);
        }
    }

    /// <summary>
    /// The new or changed cameras whose source can never work here — a file or folder that cannot be read, a decoder
    /// program that is not installed — by key <c>cameras:&lt;id&gt;:source</c>. A live source that is down is not an
    /// error: it is retried while the device runs.
    /// </summary>
    public static IReadOnlyDictionary<string, string> Preflight(EdgeMaskOptions previous, EdgeMaskOptions next, CancellationToken cancellationToken)
    {
        var errors = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (id, camera) in next.Cameras)
        {
            if (!camera.Enabled) continue;
            if (previous.Cameras.TryGetValue(id, out var before) && before.Enabled
                && CameraSupervisor.SourceKey(previous, before) == CameraSupervisor.SourceKey(next, camera)) continue;
            if (SourcePreflight.Check(camera.Source, camera.SourceOptionsFrom(next.Sources), cancellationToken) is { } error)
                errors[$"cameras:{id}:source"] = error;
        }
        return errors;
    }
}
