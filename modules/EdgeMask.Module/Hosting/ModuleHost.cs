using System.Text.Json;
using System.Text.Json.Nodes;
using EdgeMask.Alarm;
using EdgeMask.Inference.Models;
using EdgeMask.Inference.Runtime;
using EdgeMask.IoTHub;
using EdgeMask.IoTHub.Mqtt;
using EdgeMask.IoTHub.Twin;
using EdgeMask.Messaging.Outbox;
using EdgeMask.Module.Configuration;
using EdgeMask.Module.Pipeline;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace EdgeMask.Module.Hosting;

/// <summary>What <c>edgemask module</c> is started with.</summary>
public sealed record ModuleHostOptions
{
    /// <summary>The configuration file's document (or <c>{}</c>); the twin's desired properties are merged over it.</summary>
    public JsonObject BaseDocument { get; init; } = new();
    /// <summary>Outputs of the runner (snapshot folder, drain timeout); the live view is off in a container.</summary>
    public RunSettings Run { get; init; } = new() { LiveView = false };
    /// <summary>How often the slowly changing reported properties (camera health, frames/s, alarm) are compared and sent if changed.</summary>
    public TimeSpan ReportInterval { get; init; } = TimeSpan.FromSeconds(15);
    /// <summary>How long <c>captureSnapshot</c> waits for the next frame before it answers with the last one kept.</summary>
    public TimeSpan SnapshotWait { get; init; } = TimeSpan.FromSeconds(5);

    public ModuleHostOptions Validate()
    {
        if (ReportInterval < TimeSpan.FromSeconds(1) || ReportInterval > TimeSpan.FromHours(1))
            throw new Core.Tracking.InvalidOptionException("reportInterval", ReportInterval, "must be between 1 s and 1 h.");
        if (SnapshotWait < TimeSpan.Zero || SnapshotWait > TimeSpan.FromSeconds(20))
            throw new Core.Tracking.InvalidOptionException("snapshotWait", SnapshotWait, "must be between 0 and 20 s (a direct method times out at 30 s).");
        return this;
    }
}

/// <summary>The module could not start (no working configuration): the process exits non-zero and IoT Edge restarts it.</summary>
public sealed class ModuleHostException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// The IoT Edge module on top of the device runtime: configured by the module twin, answering direct methods, reporting
/// its state. A new configuration (desired properties or <c>setThresholds</c>) is validated — including the camera
/// sources that can never work and the twin's limits — becomes one new immutable snapshot, and goes to
/// <see cref="DeviceRuntime.ApplyAsync"/>, which touches only what changed: a threshold reaches the cameras at their
/// next frame while the sessions, the broker and its subscribers, and every camera stay up. The reported
/// <c>appliedVersion</c> is sent once the cameras run with it. Without an IoT Hub client it runs stand-alone from the
/// base document. A hosted service: it stops first (no configuration change during the stop). Not the owner of the
/// client (the client service is) or of the runtime.
/// </summary>
public sealed class ModuleHost : IHostedService
{
    private readonly ModuleHostOptions _options;
    private readonly DeviceRuntime _runtime;
    private readonly IoTHubMqttClient? _client;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _reportGate = new(1, 1);
    private readonly Lock _gate = new();
    private readonly TwinConfigurationApplier<EdgeMaskOptions> _applier;
    private readonly CancellationTokenSource _stop = new();
    private JsonObject? _thresholdOverride;
    private long? _overrideDesiredVersion;
    private long _lastDesiredVersion = -1;
    private string _state = "running";
    private string? _lastApplyError;
    private DateTimeOffset _startedAt;
    private string? _lastReportedJson;
    private string? _lastRefusedJson;
    private Task _reporting = Task.CompletedTask;
    private volatile bool _stopping;

    /// <param name="client">The IoT Hub / edgeHub client, or null to run stand-alone.</param>
    public ModuleHost(ModuleHostOptions options, DeviceRuntime runtime, IoTHubMqttClient? client, ILoggerFactory loggers, TimeProvider time)
    {
        _options = (options ?? throw new ArgumentNullException(nameof(options))).Validate();
        _runtime = runtime;
        _client = client;
        _logger = loggers.CreateLogger("edgemask.module");
        _time = time;
        _applier = new TwinConfigurationApplier<EdgeMaskOptions>(runtime.Current, desired =>
        {
            JsonObject? over;
            lock (_gate) over = _thresholdOverride;
            return ValidateRunnable(TwinConfiguration.Effective(_options.BaseDocument, desired, over));
        }, time);
    }

    /// <summary>The configuration in force.</summary>
    public EdgeMaskOptions Current => _runtime.Current;

    /// <summary>The device runtime (cameras, messaging, models, alarm, snapshots).</summary>
    public DeviceRuntime Runtime => _runtime;

    /// <summary>The configuration version in force (1 after start; +1 per configuration applied).</summary>
    public long Generation => _runtime.Version;

    public IoTHubMqttClient? Client => _client;

    public TwinConfigurationApplier<EdgeMaskOptions> Applier => _applier;

    internal ModuleHostOptions Options => _options;

    /// <summary>The active <c>setThresholds</c> patch, if any (kept until a newer desired version arrives).</summary>
    public JsonObject? ThresholdOverride
    {
        get { lock (_gate) return _thresholdOverride?.DeepClone().AsObject(); }
    }

    /// <summary>Registers the direct methods and the desired-properties handler, connects the client and starts reporting.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        _startedAt = _time.GetUtcNow();
        if (_client is not null)
        {
            DirectMethodHandlers.Register(this, _client);
            _client.OnDesiredPropertiesChanged(OnDesiredAsync);
            await _client.StartAsync(cancellationToken).ConfigureAwait(false);
            _logger.LogInformation("Module {Module} of device {Device} connecting to {Host}",
                _client.Identity.ModuleId, _client.Identity.DeviceId, _client.Identity.ConnectHostName);
            _reporting = Task.Run(() => ReportLoopAsync(_stop.Token), CancellationToken.None);
        }
        else
        {
            _logger.LogInformation("No IoT Edge environment and no connection string: running stand-alone");
        }
    }

    private async Task ReportLoopAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(_options.ReportInterval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                if (_client is { IsConnected: true }) await ReportAsync(force: false, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopping.
        }
    }

    /// <summary>No configuration change from here on; the reports stop (the client is closed later, after the outbox's last drain).</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _stopping = true;
        lock (_gate) _state = "stopping";
        await _stop.CancelAsync().ConfigureAwait(false);
        await _reporting.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    // ---------------------------------------------------------------- configuration

    /// <summary>
    /// Twin validation plus what only this device can tell: camera sources that can never work here (a file that cannot
    /// be read, a decoder not installed), reported per key like any other bad value.
    /// </summary>
    private TwinValidationResult<EdgeMaskOptions> ValidateRunnable(JsonObject document)
    {
        var result = TwinConfiguration.Validate(document);
        if (!result.IsValid) return result;
        var errors = DeviceRuntime.Preflight(_runtime.Current, result.Options!, CancellationToken.None);
        return errors.Count == 0
            ? result
            : TwinValidationResult<EdgeMaskOptions>.Invalid(errors.ToDictionary(e => TwinConfiguration.KeyPath(e.Key, ""), e => e.Value));
    }

    private async Task OnDesiredAsync(DesiredPropertiesUpdate update, CancellationToken ct)
    {
        if (_stopping) return;
        // Held from validation to report: the periodic report must not announce a version the cameras do not run yet.
        await _reportGate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            await ApplyDesiredAsync(update, ct).ConfigureAwait(false);
            await ReportCoreAsync(force: true, ct).ConfigureAwait(false);
        }
        finally
        {
            _reportGate.Release();
        }
    }

    private async Task ApplyDesiredAsync(DesiredPropertiesUpdate update, CancellationToken ct)
    {
        lock (_gate)
        {
            // A setThresholds override holds until the operator changes the twin (a newer version); a re-read of the
            // same version after a reconnect keeps it.
            if (_thresholdOverride is not null && update.Version != _overrideDesiredVersion)
            {
                _logger.LogInformation("Desired version {Version} replaces the setThresholds override", update.Version);
                _thresholdOverride = null;
                _overrideDesiredVersion = null;
            }
            _lastDesiredVersion = update.Version;
        }
        var result = _applier.Apply(update.Desired, update.Version);
        if (result.Applied)
        {
            _logger.LogInformation("Twin configuration version {Version} accepted", update.Version);
            await ApplyAsync(result.Current, $"twin version {update.Version}", ct).ConfigureAwait(false);
        }
        else
        {
            _logger.LogWarning("Twin configuration version {Version} rejected with {ErrorCount} errors ({Keys}); previous configuration kept",
                update.Version, result.Errors.Count, string.Join(", ", result.Errors.Keys));
        }
    }

    /// <summary>
    /// <c>setThresholds</c>: merges a <c>detector</c>/<c>violation</c> patch into the configuration in force, validates
    /// the result like a desired document and applies it. Returns the per-key errors (empty when applied).
    /// </summary>
    internal async Task<IReadOnlyDictionary<string, string>> SetThresholdsAsync(JsonObject patch, CancellationToken ct)
    {
        JsonObject combined;
        lock (_gate)
        {
            combined = _thresholdOverride?.DeepClone().AsObject() ?? new JsonObject();
        }
        combined = JsonMergePatch.Apply(combined, JsonSerializer.SerializeToElement(patch));
        var document = JsonMergePatch.Apply(TwinConfiguration.ToDocument(Current), JsonSerializer.SerializeToElement(patch));
        var result = TwinConfiguration.Validate(document);
        if (!result.IsValid) return result.Errors;
        await _reportGate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            lock (_gate)
            {
                _thresholdOverride = combined;
                _overrideDesiredVersion = _lastDesiredVersion;
            }
            await ApplyAsync(result.Options!, "setThresholds", ct).ConfigureAwait(false);
            if (_client is { IsConnected: true }) await ReportCoreAsync(force: true, ct).ConfigureAwait(false);
        }
        finally
        {
            _reportGate.Release();
        }
        return new Dictionary<string, string>();
    }

    /// <summary>Hands <paramref name="options"/> to the runtime; a configuration that cannot run leaves the previous one in force and says why.</summary>
    private async Task ApplyAsync(EdgeMaskOptions options, string origin, CancellationToken ct)
    {
        if (_stopping) return;
        try
        {
            var report = await _runtime.ApplyAsync(options, ct).ConfigureAwait(false);
            lock (_gate) _lastApplyError = null;
            if (!report.Changed) _logger.LogDebug("Configuration from {Origin} is unchanged", origin);
            else _logger.LogInformation("Configuration from {Origin} applied as version {Version}", origin, report.Version);
        }
        catch (ConfigurationApplyException ex)
        {
            _logger.LogError("Configuration from {Origin} cannot run ({Error}); the previous configuration stays in force", origin, ex.Message);
            lock (_gate) _lastApplyError = $"{origin}: {ex.Message} (previous configuration restored)";
        }
    }

    // ---------------------------------------------------------------- status

    private (long Generation, bool ClassifierEnabled, JsonObject Description)? _modelsDescribed;

    /// <summary>Names, files and sha256 of the models in force: computed once per model generation (an override file is hashed).</summary>
    private JsonObject DescribeModels(InferenceModels models, EdgeMaskOptions options)
    {
        lock (_gate)
        {
            if (_modelsDescribed is { } d && d.Generation == models.Generation && d.ClassifierEnabled == options.Classifier.Enabled) return d.Description;
        }
        var result = new JsonObject();
        // A role may list several files (the classifier's int8 file for the CPU and float file for GPUs, the two detectors):
        // the one in force is the entry whose file was opened, else an override file outside the manifest.
        foreach (var role in models.Store.Manifest.Models.GroupBy(m => m.Role))
        {
            string? path = role.Key switch
            {
                "detector" => models.DetectorPath,
                "classifier" => models.ClassifierPath,
                _ => null,
            };
            if (path is null) continue;
            var entry = role.FirstOrDefault(e => Path.GetFullPath(path) == Path.GetFullPath(Path.Combine(models.Store.Directory, e.File)));
            // A manifest file was verified against its sha256 when opened; an override file is hashed here (once per generation).
            result[role.Key] = entry is not null
                ? new JsonObject { ["name"] = entry.Name, ["file"] = entry.File, ["sha256"] = entry.Sha256 }
                : new JsonObject { ["name"] = Path.GetFileName(path), ["file"] = Path.GetFileName(path), ["sha256"] = ModelStore.Sha256Of(path) };
        }
        if (!options.Classifier.Enabled) result["classifier"] = new JsonObject { ["enabled"] = false };
        lock (_gate) _modelsDescribed = (models.Generation, options.Classifier.Enabled, result);
        return result;
    }

    /// <summary>The module's own reported sections (beside the applier's <c>configuration</c>).</summary>
    internal Dictionary<string, JsonNode?> ReportedSections()
    {
        var sections = new Dictionary<string, JsonNode?>();
        var models = _runtime.Models;
        lock (_gate)
        {
            sections["runtime"] = new JsonObject
            {
                ["state"] = _state,
                ["generation"] = _runtime.Version,
                ["startedAt"] = _startedAt.ToString("O"),
                ["error"] = _lastApplyError,
                ["device"] = _runtime.Current.Device,
                ["modelGeneration"] = models.Generation,
                ["sessionsOpened"] = models.SessionsOpened,
                // What the engines were built for and how: an operator sees from the portal whether a Jetson rebuilt at start-up.
                ["inference"] = models.Report(),
            };
            sections["thresholdOverride"] = _thresholdOverride?.DeepClone();
        }
        sections["models"] = models.Generation > 0 ? DescribeModels(models.Current, _runtime.Current).DeepClone() : null;
        sections["executionProvider"] = models.Generation > 0 ? models.Current.ExecutionProvider : null;
        var cameras = new JsonObject();
        foreach (var c in _runtime.Cameras.Cameras)
        {
            var h = c.Health;
            cameras[TwinConfigurationApplier<EdgeMaskOptions>.TwinKey(c.Id)] = new JsonObject
            {
                ["health"] = h.StateName,
                // Rounded so that the comparison with the last report does not see noise as a change.
                ["fps"] = Math.Round(c.Counters.Fps, 1),
                ["reconnects"] = h.Reconnects,
                ["restarts"] = c.Restarts,
                ["lastError"] = h.LastError,
                ["stationaryFaces"] = c.StationaryFaces.Count > 0 ? StationaryFaceReport.ToJson(c.StationaryFaces) : null,
            };
        }
        sections["cameras"] = cameras;
        sections["alarm"] = _runtime.Alarm.Current is { } alarm
            ? JsonSerializer.SerializeToNode(alarm.Snapshot().ToReported(), AlarmJsonContext.Default.AlarmReportedState)
            : null;
        return sections;
    }

    /// <summary>Sends the reported properties when they changed since the last report (or always, with <paramref name="force"/>).</summary>
    internal async Task ReportAsync(bool force, CancellationToken ct)
    {
        if (_client is null) return;
        await _reportGate.WaitAsync(ct);
        try
        {
            await ReportCoreAsync(force, ct);
        }
        finally
        {
            _reportGate.Release();
        }
    }

    private async Task ReportCoreAsync(bool force, CancellationToken ct)
    {
        if (_client is null) return;
        try
        {
            var patch = _applier.BuildReported(ReportedSections());
            // "at" changes with every build of the configuration section; compare without it.
            var comparable = patch.DeepClone().AsObject();
            if (comparable["configuration"] is JsonObject conf) conf.Remove("at");
            string json = comparable.ToJsonString();
            if (!force && json == _lastReportedJson) return;
            // A patch the hub refused as invalid (400) is refused again: it is not re-sent (nor logged) until it changes.
            if (json == _lastRefusedJson) return;
            try
            {
                await _client.UpdateReportedPropertiesAsync(patch, ct);
            }
            catch (TwinOperationException e) when (e is { IsTransient: false, Status: >= 400 and < 500 })
            {
                _lastRefusedJson = json;
                _logger.LogError(e, "The hub refused the reported properties ({Status}); they are sent again when they change", e.Status);
                return;
            }
            _lastReportedJson = json;
            _lastRefusedJson = null;
        }
        catch (Exception e) when (e is TwinOperationException or IoTHubConnectionException)
        {
            // The next connect re-reads the twin, re-applies it and reports again; nothing is lost by waiting.
            _logger.LogWarning(e, "Reported properties not sent");
        }
    }

}

/// <summary>
/// Owns the module's IoT Hub client for the host: registered before messaging, so it stops after the outbox's last
/// drain (events ended at shutdown still have their chance to reach IoT Hub) and is disposed then.
/// </summary>
public sealed class IoTHubClientService(IoTHubMqttClient client, bool shouldDispose) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (shouldDispose) await client.DisposeAsync().AsTask().WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }
}

/// <summary>Builds the host of <c>edgemask module</c>: the device runtime, the IoT Hub client's lifetime and the twin service.</summary>
public static class ModuleDevice
{
    /// <param name="client">Null: stand-alone from the base document.</param>
    /// <param name="shouldDisposeClient">Whether the host disposes <paramref name="client"/> when it stops.</param>
    public static IHost Build(EdgeMaskOptions initial, ModuleHostOptions options, IoTHubMqttClient? client, bool shouldDisposeClient,
        DeviceHostSettings settings, ILoggerFactory loggers, TimeProvider time, bool useConsoleLifetime = false)
    {
        settings = settings with
        {
            Run = options.Run with { StopWhenCamerasEnd = false },
            AdditionalTransports = client is null ? [] : [new IoTHubOutboxTransport(client)],
        };
        return DeviceHost.Build(initial, settings, loggers, time,
            beforeMessaging: client is null ? null : s => s.AddHostedService(_ => new IoTHubClientService(client, shouldDisposeClient)),
            afterCameras: s =>
            {
                s.AddSingleton(sp => new ModuleHost(options, sp.GetRequiredService<DeviceRuntime>(), client, loggers, time));
                s.AddHostedService(sp => sp.GetRequiredService<ModuleHost>());
            },
            useConsoleLifetime: useConsoleLifetime);
    }
}
