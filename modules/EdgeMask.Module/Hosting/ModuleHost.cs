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

/// <summary>The module could not keep running (no working configuration): the process exits non-zero and IoT Edge restarts it.</summary>
public sealed class ModuleHostException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// The IoT Edge module: one <see cref="EdgeMaskRunner"/> at a time, configured by the module twin. A new configuration
/// (desired properties or <c>setThresholds</c>) is validated, becomes one new immutable snapshot, and the runner is
/// replaced in-process (old one stopped, new one started) — no process restart. Without an IoT Hub client it runs
/// stand-alone from the base document until stopped. Owns the runner; owns the client when told to.
/// </summary>
public sealed class ModuleHost : IAsyncDisposable
{
    private readonly ModuleHostOptions _options;
    private readonly IoTHubMqttClient? _client;
    private readonly bool _ownsClient;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly TextWriter _stdout, _stderr;
    private readonly Func<EdgeMaskOptions, LocalAlarm?>? _alarmFactory;
    private readonly SemaphoreSlim _runnerGate = new(1, 1);
    private readonly SemaphoreSlim _reportGate = new(1, 1);
    private readonly IOutboxTransport[] _transports;
    private readonly TaskCompletionSource<Exception> _fatal = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _gate = new();
    private readonly TwinConfigurationApplier<EdgeMaskOptions> _applier;
    private EdgeMaskRunner? _runner;
    private EdgeMaskOptions _current;
    private JsonObject? _thresholdOverride;
    private long? _overrideDesiredVersion;
    private long _lastDesiredVersion = -1;
    private int _generation;
    private string _runnerState = "stopped";
    private string? _runnerError;
    private DateTimeOffset? _runnerStartedAt;
    private JsonObject? _models;
    private string? _lastReportedJson;
    private int _disposed;

    /// <param name="initial">The configuration in force until the twin says otherwise (the base document, parsed).</param>
    /// <param name="client">The IoT Hub / edgeHub client, or null to run stand-alone.</param>
    /// <param name="shouldDisposeClient">Whether this host disposes <paramref name="client"/>.</param>
    /// <param name="alarmFactory">Builds the alarm for each runner (tests: over a recording GPIO driver); null: from the options.</param>
    public ModuleHost(EdgeMaskOptions initial, ModuleHostOptions options, IoTHubMqttClient? client, bool shouldDisposeClient,
        ILoggerFactory loggers, TimeProvider time, TextWriter stdout, TextWriter stderr, Func<EdgeMaskOptions, LocalAlarm?>? alarmFactory = null)
    {
        _current = (initial ?? throw new ArgumentNullException(nameof(initial))).Validate();
        _options = (options ?? throw new ArgumentNullException(nameof(options))).Validate();
        _client = client;
        _ownsClient = shouldDisposeClient;
        _loggers = loggers;
        _logger = loggers.CreateLogger("edgemask.module");
        _time = time;
        _stdout = stdout;
        _stderr = stderr;
        _alarmFactory = alarmFactory;
        _transports = client is null ? [] : [new IoTHubOutboxTransport(client)];
        _applier = new TwinConfigurationApplier<EdgeMaskOptions>(_current, desired =>
        {
            JsonObject? over;
            lock (_gate) over = _thresholdOverride;
            return TwinConfiguration.Validate(TwinConfiguration.Effective(_options.BaseDocument, desired, over));
        }, time);
    }

    /// <summary>The configuration snapshot the runner was last started with.</summary>
    public EdgeMaskOptions Current
    {
        get { lock (_gate) return _current; }
    }

    /// <summary>The runner in force (null while it is being replaced or after a failed start).</summary>
    public EdgeMaskRunner? Runner => Volatile.Read(ref _runner);

    /// <summary>How many runners were started (1 after start; +1 per configuration applied).</summary>
    public int Generation => Volatile.Read(ref _generation);

    public IoTHubMqttClient? Client => _client;

    public TwinConfigurationApplier<EdgeMaskOptions> Applier => _applier;

    internal ModuleHostOptions Options => _options;

    /// <summary>The active <c>setThresholds</c> patch, if any (kept until a newer desired version arrives).</summary>
    public JsonObject? ThresholdOverride
    {
        get { lock (_gate) return _thresholdOverride?.DeepClone().AsObject(); }
    }

    /// <summary>
    /// Starts the runner, then (with a client) the twin, methods and reporting, and runs until
    /// <paramref name="cancellationToken"/> fires. Throws <see cref="ModuleHostException"/> when no configuration can run.
    /// </summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        await StartRunnerAsync(Current, cancellationToken);
        if (Runner is null)
            throw new ModuleHostException($"The module cannot start with its configuration: {_runnerError}");
        if (_client is not null)
        {
            DirectMethodHandlers.Register(this, _client);
            _client.OnDesiredPropertiesChanged(OnDesiredAsync);
            await _client.StartAsync(cancellationToken);
            _logger.LogInformation("Module {Module} of device {Device} connecting to {Host}",
                _client.Identity.ModuleId, _client.Identity.DeviceId, _client.Identity.ConnectHostName);
        }
        else
        {
            _logger.LogInformation("No IoT Edge environment and no connection string: running stand-alone");
        }

        using var timer = new PeriodicTimer(_options.ReportInterval, _time);
        var fatal = _fatal.Task;
        while (true)
        {
            var tick = timer.WaitForNextTickAsync(cancellationToken).AsTask();
            var done = await Task.WhenAny(tick, fatal);
            if (done == fatal) throw new ModuleHostException("The module has no working configuration left.", fatal.Result);
            try
            {
                if (!await tick) return;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            if (_client is { IsConnected: true }) await ReportAsync(force: false, cancellationToken);
        }
    }

    // ---------------------------------------------------------------- configuration

    private async Task OnDesiredAsync(DesiredPropertiesUpdate update, CancellationToken ct)
    {
        // Held from validation to report: the periodic report must not announce a version whose runner is not started yet.
        await _reportGate.WaitAsync(ct);
        try
        {
            await ApplyDesiredAsync(update, ct);
            await ReportCoreAsync(force: true, ct);
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
            await ApplyAsync(result.Current, $"twin version {update.Version}", ct);
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
        await _reportGate.WaitAsync(ct);
        try
        {
            lock (_gate)
            {
                _thresholdOverride = combined;
                _overrideDesiredVersion = _lastDesiredVersion;
            }
            await ApplyAsync(result.Options!, "setThresholds", ct);
            if (_client is { IsConnected: true }) await ReportCoreAsync(force: true, ct);
        }
        finally
        {
            _reportGate.Release();
        }
        return new Dictionary<string, string>();
    }

    /// <summary>Replaces the runner when <paramref name="options"/> configure something new.</summary>
    private async Task ApplyAsync(EdgeMaskOptions options, string origin, CancellationToken ct)
    {
        if (TwinConfiguration.SameConfiguration(options, Current) && Runner is not null)
        {
            _logger.LogDebug("Configuration from {Origin} is unchanged; runner kept", origin);
            return;
        }
        var previous = Current;
        await StopRunnerAsync();
        await StartRunnerAsync(options, ct);
        if (Runner is not null)
        {
            _logger.LogInformation("Configuration from {Origin} applied: runner {Generation} started", origin, Generation);
            return;
        }
        // A document can be valid and still not start (a camera URL that does not open, a model file that is missing):
        // go back to what ran before rather than leave the device blind.
        string error = _runnerError ?? "unknown";
        _logger.LogError("Configuration from {Origin} could not start ({Error}); going back to the previous configuration", origin, error);
        await StartRunnerAsync(previous, ct);
        lock (_gate) _runnerError = $"{origin}: {error} (previous configuration restored)";
        if (Runner is null) _fatal.TrySetResult(new ModuleHostException($"Neither the new nor the previous configuration starts: {error}"));
    }

    private async Task StartRunnerAsync(EdgeMaskOptions options, CancellationToken ct)
    {
        await _runnerGate.WaitAsync(ct);
        try
        {
            var runner = await EdgeMaskRunner.StartAsync(options, _options.Run, _stdout, _stderr, _loggers, _time, ct,
                _alarmFactory?.Invoke(options), _transports);
            lock (_gate)
            {
                _current = options;
                _runnerState = "running";
                _runnerError = null;
                _runnerStartedAt = _time.GetUtcNow();
                _models = DescribeModels(runner, options);
            }
            Interlocked.Increment(ref _generation);
            Volatile.Write(ref _runner, runner);
        }
        catch (Exception e) when (e is RunStartException or ModelException or ExecutionProviderUnavailableException
            or EdgeMask.Messaging.MessagingOptionsException or IOException or UnauthorizedAccessException)
        {
            _logger.LogError(e, "The runner could not start");
            lock (_gate)
            {
                _runnerState = "failed";
                _runnerError = e.Message;
            }
        }
        finally
        {
            _runnerGate.Release();
        }
    }

    private async Task StopRunnerAsync()
    {
        await _runnerGate.WaitAsync();
        try
        {
            var runner = Interlocked.Exchange(ref _runner, null);
            if (runner is null) return;
            lock (_gate) _runnerState = "restarting";
            // Episodes open in the old pipeline end with it (their end events go to the outbox before it closes).
            await runner.DisposeAsync();
        }
        finally
        {
            _runnerGate.Release();
        }
    }

    private static JsonObject DescribeModels(EdgeMaskRunner runner, EdgeMaskOptions options)
    {
        var models = runner.Models;
        var result = new JsonObject();
        foreach (var entry in models.Store.Manifest.Models)
        {
            string? path = entry.Role switch
            {
                "detector" => models.DetectorPath,
                "classifier" => models.ClassifierPath,
                _ => null,
            };
            if (path is null) continue;
            bool fromManifest = Path.GetFullPath(path) == Path.GetFullPath(Path.Combine(models.Store.Directory, entry.File));
            // A manifest file was verified against its sha256 when opened; an override file is hashed here (once per start).
            string sha = fromManifest ? entry.Sha256 : ModelStore.Sha256Of(path);
            result[entry.Role] = new JsonObject { ["name"] = fromManifest ? entry.Name : Path.GetFileName(path), ["file"] = Path.GetFileName(path), ["sha256"] = sha };
        }
        if (!options.Classifier.Enabled) result["classifier"] = new JsonObject { ["enabled"] = false };
        return result;
    }

    // ---------------------------------------------------------------- status

    /// <summary>The module's own reported sections (beside the applier's <c>configuration</c>).</summary>
    internal Dictionary<string, JsonNode?> ReportedSections()
    {
        var runner = Runner;
        var sections = new Dictionary<string, JsonNode?>();
        lock (_gate)
        {
            sections["runtime"] = new JsonObject
            {
                ["state"] = _runnerState,
                ["generation"] = _generation,
                ["startedAt"] = _runnerStartedAt?.ToString("O"),
                ["error"] = _runnerError,
                ["device"] = _current.Device,
            };
            sections["models"] = _models?.DeepClone();
            sections["thresholdOverride"] = _thresholdOverride?.DeepClone();
        }
        sections["executionProvider"] = runner is null ? null : ExecutionProviderOptions.ToName(runner.ActiveProvider);
        var cameras = new JsonObject();
        if (runner is not null)
        {
            foreach (var c in runner.Cameras)
            {
                var h = c.Capture.Health;
                cameras[TwinConfigurationApplier<EdgeMaskOptions>.TwinKey(c.Id)] = new JsonObject
                {
                    ["health"] = h.StateName,
                    // Rounded so that the comparison with the last report does not see noise as a change.
                    ["fps"] = Math.Round(c.Pipeline.Counters.Fps, 1),
                    ["reconnects"] = h.Reconnects,
                    ["lastError"] = h.LastError,
                };
            }
        }
        sections["cameras"] = cameras;
        sections["alarm"] = runner?.Alarm is { } alarm
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
            await _client.UpdateReportedPropertiesAsync(patch, ct);
            _lastReportedJson = json;
        }
        catch (Exception e) when (e is TwinOperationException or IoTHubConnectionException)
        {
            // The next connect re-reads the twin, re-applies it and reports again; nothing is lost by waiting.
            _logger.LogWarning(e, "Reported properties not sent");
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        // The client first: no method or desired patch may restart a runner while it is being stopped.
        if (_ownsClient && _client is not null) await _client.DisposeAsync();
        await StopRunnerAsync();
        _runnerGate.Dispose();
        _reportGate.Dispose();
    }
}
