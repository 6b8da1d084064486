using EdgeMask.Alarm;
using EdgeMask.Core.Events;
using EdgeMask.Module.Configuration;
using EdgeMask.Module.Pipeline;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace EdgeMask.Module.Hosting;

/// <summary>
/// The local alarm for the whole process (GPIO light, buzzer, announcement), when <c>alarm.enabled</c>. Its lines are
/// opened at their off level at start and driven back off at stop. A change of the <c>alarm</c> section is applied
/// live (<see cref="LocalAlarm.Reconfigure"/>: lines stay open, a light that is on stays on); only a change of the
/// lines themselves or of the announcement closes them and opens the new ones. Also the cameras' sink for events and
/// the target of their heartbeats. Owns the alarm it builds.
/// </summary>
public sealed class AlarmService : IHostedService, IPipelineSink, IAsyncDisposable
{
    private readonly DeviceHostSettings _host;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private AlarmOptions _options;
    private LocalAlarm? _alarm;

    public AlarmService(EdgeMaskOptions options, DeviceHostSettings host, ILoggerFactory loggers, TimeProvider time)
    {
        _options = options.Alarm;
        _host = host;
        _loggers = loggers;
        _logger = loggers.CreateLogger("edgemask.alarm");
        _time = time;
    }

    /// <summary>The alarm in force (null when disabled).</summary>
    public LocalAlarm? Current => Volatile.Read(ref _alarm);

    /// <summary>Times a new alarm was built (lines opened): 1 after a start with the alarm enabled.</summary>
    public int Builds { get; private set; }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (!_options.Enabled) return;
        Volatile.Write(ref _alarm, await BuildAsync(_options, cancellationToken).ConfigureAwait(false));
    }

    private async Task<LocalAlarm> BuildAsync(AlarmOptions options, CancellationToken cancellationToken)
    {
        var alarm = _host.AlarmFactory?.Invoke(options) ?? LocalAlarm.CreateForHardware(options, _time, _loggers);
        try
        {
            // A missing espeak-ng or a broken WAV fails here, at start, rather than at the first violation.
            await alarm.PrepareAnnouncementAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await alarm.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        Builds++;
        return alarm;
    }

    /// <summary>
    /// Applies the <c>alarm</c> section of <paramref name="next"/>: nothing when it is the same, live when only settings
    /// changed, else the old lines go off and close and the new ones open. When the new ones cannot open, the previous
    /// alarm is built again and the error thrown (<see cref="AlarmConfigurationException"/>, <see cref="GpioLineUnavailableException"/>).
    /// </summary>
    public async Task ApplyAsync(EdgeMaskOptions next, CancellationToken cancellationToken)
    {
        var options = next.Alarm;
        if (SameOptions.As(options, _options)) return;
        var current = Current;
        if (current is not null && options.Enabled && current.CanReconfigure(options))
        {
            current.Reconfigure(options);
            _options = options;
            return;
        }
        var previous = _options;
        if (current is not null)
        {
            Volatile.Write(ref _alarm, null);
            await current.DisposeAsync().ConfigureAwait(false);
        }
        try
        {
            if (options.Enabled) Volatile.Write(ref _alarm, await BuildAsync(options, cancellationToken).ConfigureAwait(false));
            _options = options;
            _logger.LogInformation("Alarm {State} with its new lines", options.Enabled ? "rebuilt" : "turned off");
        }
        catch (Exception ex) when (ex is AlarmConfigurationException or GpioLineUnavailableException or AnnouncementRenderException or AudioPlaybackException)
        {
            _logger.LogError("The new alarm cannot start ({Error}); the previous one is built again", ex.Message);
            if (previous.Enabled) Volatile.Write(ref _alarm, await BuildAsync(previous, CancellationToken.None).ConfigureAwait(false));
            throw;
        }
    }

    /// <summary>A camera's pipeline is alive (per frame; cheap).</summary>
    public void Heartbeat(string camera) => Current?.Heartbeat(camera);

    /// <summary>A camera's pipeline stopped: its violations are dropped and the lines they held go off.</summary>
    public void PipelineStopped(string camera) => Current?.PipelineStopped(camera);

    public void OnEvent(MaskEvent maskEvent) => Current?.Handle(maskEvent);

    public void OnStats(CameraStats stats) { }

    /// <summary>Every line to its safe (off) state, the announcement cut, the lines closed.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        var alarm = Interlocked.Exchange(ref _alarm, null);
        if (alarm is null) return;
        try
        {
            await alarm.StopAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Out of time for the announcement: the lines are already off (StopAsync drives them first).
        }
        await alarm.DisposeAsync().ConfigureAwait(false);
    }

    public ValueTask DisposeAsync() => new(StopAsync(CancellationToken.None));
}
