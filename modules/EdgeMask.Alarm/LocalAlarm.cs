using EdgeMask.Alarm.Announcements;
using EdgeMask.Alarm.Engine;
using EdgeMask.Alarm.Gpio;
using EdgeMask.Core.Detection;
using EdgeMask.Core.Events;
using EdgeMask.Core.Resilience;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMask.Alarm;

/// <summary>
/// The local alarm stage: violation events in, warning light / buzzer lines and the spoken announcement out.
/// Complete after its constructor: options validated, every line opened at its off level. Thread-safe; events,
/// heartbeats and timer ticks are serialized. Owns its GPIO controllers and lines; disposing turns every line off.
/// </summary>
public sealed partial class LocalAlarm : IAsyncDisposable, IDisposable
{
    // Re-evaluate at least this often, so a wall-clock step (NTP, a changed time zone) is caught without an event.
    private static readonly TimeSpan MaxTimerPeriod = TimeSpan.FromMinutes(10);
    private static readonly TimeSpan SafeStateLockWait = TimeSpan.FromMilliseconds(500);
    private static readonly string[] NoOutputs = [];

    private AlarmOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private AlarmEngine _engine;
    private readonly GpioLineBank _lines;
    private readonly ITimer _timer;
    private readonly Announcer? _announcer;
    private readonly List<string> _tripped = [];
    private readonly AlarmOutputReason[] _lastReasons;
    private DateTimeOffset? _timerDueAt;
    private readonly ClockStepDetector _clockSteps;
    private bool _stopped;
    private bool _disposed;

    /// <summary>Builds the alarm on the real GPIO chips (libgpiod, sysfs fallback) and <c>aplay</c>.</summary>
    public static LocalAlarm CreateForHardware(AlarmOptions options, TimeProvider? time = null, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        AlarmOptionsValidator.Validate(options);
        var chips = new LinuxGpioChipProvider(options.Gpio, loggerFactory?.CreateLogger<LinuxGpioChipProvider>());
        return new LocalAlarm(options, chips, new AplayAudioPlayer(options.Announcement.AlsaDevice), time, loggerFactory);
    }

    /// <param name="chips">Where the lines live: <see cref="LinuxGpioChipProvider"/>, or <see cref="DriverGpioChipProvider"/> over given drivers.</param>
    /// <param name="player">Plays the announcement; null: <see cref="AplayAudioPlayer"/> on the configured ALSA device.</param>
    /// <param name="renderer">Renders announcement text; null: espeak-ng caching in <see cref="AnnouncementOptions.CacheDirectory"/>.</param>
    /// <exception cref="AlarmConfigurationException">The options are invalid, or name a chip or line that does not exist.</exception>
    /// <exception cref="GpioLineUnavailableException">A line exists but cannot be opened (busy, permissions).</exception>
    public LocalAlarm(AlarmOptions options, IGpioChipProvider chips, IAudioPlayer? player = null, TimeProvider? time = null,
        ILoggerFactory? loggerFactory = null, EspeakNgRenderer? renderer = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(chips);
        AlarmOptionsValidator.Validate(options);
        _options = options;
        _time = time ?? TimeProvider.System;
        _clockSteps = new ClockStepDetector(_time);
        _logger = (ILogger?)loggerFactory?.CreateLogger<LocalAlarm>() ?? NullLogger.Instance;
        var zone = options.QuietHours.TimeZone is { } id ? TimeZoneInfo.FindSystemTimeZoneById(id) : _time.LocalTimeZone;
        _engine = new AlarmEngine(options, zone);
        _lastReasons = new AlarmOutputReason[options.Outputs.Count];

        // Lines are opened at their off level: the safe state at start, whatever a previous process left behind.
        _lines = new GpioLineBank(options.Outputs, chips, _time, _logger);
        bool ok = false;
        try
        {
            if (options.Announcement.Enabled)
            {
                string cache = options.Announcement.CacheDirectory ?? Path.Combine(Path.GetTempPath(), "edgemask-announcements");
                _announcer = new Announcer(options.Announcement, player ?? new AplayAudioPlayer(options.Announcement.AlsaDevice),
                    renderer ?? new EspeakNgRenderer(cache), _time, _logger, OnAnnouncementPlaying);
            }
            _timer = _time.CreateTimer(_ => OnTimer(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            // If the process dies on an unhandled exception, the kernel releases the lines but many GPIO controllers
            // keep driving the last level: switch them off on the way down.
            AppDomain.CurrentDomain.UnhandledException += OnProcessDying;
            AppDomain.CurrentDomain.ProcessExit += OnProcessDying;
            lock (_gate)
                EvaluateAndApply();
            ok = true;
        }
        finally
        {
            if (!ok)
                _lines.Dispose();
        }
        LogStarted(_logger, options.Outputs.Count, options.Announcement.Enabled, options.QuietHours.Ranges.Count);
    }

    public AlarmOptions Options
    {
        get
        {
            lock (_gate)
                return _options;
        }
    }

    /// <summary>
    /// Whether <paramref name="next"/> can be applied by <see cref="Reconfigure"/> to this alarm: the same lines (names,
    /// kinds, chips, line numbers, polarity, driver) and the same announcement. Anything else needs the lines or the
    /// audio reopened, i.e. a new <see cref="LocalAlarm"/>.
    /// </summary>
    public bool CanReconfigure(AlarmOptions next)
    {
        ArgumentNullException.ThrowIfNull(next);
        var current = Options;
        // Records holding lists compare those by reference: options bound from two documents are compared by content here.
        var (na, ca) = (next.Announcement, current.Announcement);
        if (!next.Enabled || next.Gpio.Driver != current.Gpio.Driver
            || !next.Gpio.SysfsChipBase.OrderBy(k => k.Key).SequenceEqual(current.Gpio.SysfsChipBase.OrderBy(k => k.Key))
            || na with { EnableOutputs = NoOutputs } != ca with { EnableOutputs = NoOutputs }
            || !na.EnableOutputs.SequenceEqual(ca.EnableOutputs, StringComparer.Ordinal)
            || next.Outputs.Count != current.Outputs.Count)
            return false;
        for (int i = 0; i < next.Outputs.Count; i++)
        {
            var (a, b) = (next.Outputs[i], current.Outputs[i]);
            if (a.Name != b.Name || a.Kind != b.Kind || a.Chip != b.Chip || a.Line != b.Line || a.ActiveLow != b.ActiveLow)
                return false;
        }
        return true;
    }

    /// <summary>
    /// Live settings: patterns, minimum and maximum on-times, rate limits, quiet hours, camera mappings and the watchdog
    /// take effect at once, without reopening a line — a light that is on stays on (and keeps its timing), open
    /// episodes and camera watchdogs carry over. Only for options <see cref="CanReconfigure"/> accepts.
    /// </summary>
    /// <exception cref="AlarmConfigurationException">The options are invalid (nothing changes).</exception>
    /// <exception cref="InvalidOperationException">The options change the lines or the announcement: make a new alarm.</exception>
    public void Reconfigure(AlarmOptions next)
    {
        AlarmOptionsValidator.Validate(next);
        if (!CanReconfigure(next))
            throw new InvalidOperationException("These alarm options change the lines or the announcement: a new alarm is needed.");
        var zone = next.QuietHours.TimeZone is { } id ? TimeZoneInfo.FindSystemTimeZoneById(id) : _time.LocalTimeZone;
        var engine = new AlarmEngine(next, zone);
        lock (_gate)
        {
            if (_stopped)
                return;
            engine.TakeStateFrom(_engine);
            _engine = engine;
            _options = next;
            EvaluateAndApply();
        }
        LogReconfigured(_logger);
    }

    /// <summary>When the alarm's timer is due next (null when stopped); lets tests step a fake clock from wake-up to wake-up.</summary>
    internal DateTimeOffset? NextWakeUp
    {
        get
        {
            lock (_gate)
                return _stopped ? null : _timerDueAt;
        }
    }

    /// <summary>
    /// Feeds one violation event (<c>violation.*</c> or <c>incorrect.*</c>: start, update, end); other types are ignored. A new
    /// episode plays the announcement for its kind: the incorrect-mask one for <c>incorrect.*</c> events and for violations
    /// whose label is <c>incorrect</c>, else the no-mask one.
    /// </summary>
    public void Handle(MaskEvent e)
    {
        ArgumentNullException.ThrowIfNull(e);
        lock (_gate)
        {
            if (_stopped)
                return;
            var now = Now();
            bool newEpisode = _engine.OnEvent(e, now);
            EvaluateAndApply();
            if (newEpisode && _announcer is not null)
            {
                if (_engine.IsQuiet(now))
                    _announcer.CountQuiet();
                else
                    _announcer.TryStart($"{e.Type} {e.Id} on {e.Camera}", ignoreInterval: false, KindOf(e));
            }
        }
    }

    /// <summary>
    /// The pipeline of <paramref name="camera"/> is alive. The first call arms the camera's watchdog: if heartbeats
    /// then stop for <see cref="AlarmOptions.WatchdogTimeout"/>, its violations are dropped and its lines go off.
    /// Cheap enough to call per frame.
    /// </summary>
    public void Heartbeat(string camera)
    {
        ArgumentNullException.ThrowIfNull(camera);
        lock (_gate)
        {
            if (_stopped)
                return;
            var now = Now();
            bool revived = _engine.Heartbeat(camera, now);
            if (revived)
                LogWatchdogRecovered(_logger, camera);
            // Per-frame calls stay cheap: re-evaluate only when the timer would fire after this camera's deadline
            // (its first heartbeat, or a timer parked far ahead).
            if (revived || (_options.WatchdogTimeout > TimeSpan.Zero && (_timerDueAt is null || _timerDueAt > now + _options.WatchdogTimeout)))
                EvaluateAndApply();
        }
    }

    /// <summary>The pipeline of <paramref name="camera"/> ended (call from its finally): its violations are dropped now.</summary>
    public void PipelineStopped(string camera)
    {
        ArgumentNullException.ThrowIfNull(camera);
        lock (_gate)
        {
            if (_stopped)
                return;
            int dropped = _engine.DropCamera(camera);
            LogPipelineStopped(_logger, camera, dropped);
            EvaluateAndApply();
        }
    }

    /// <summary>
    /// Consumes an event stream until it ends. However it ends (completion, cancellation, an exception from the
    /// pipeline), the violations it carried are dropped, so the lines they held go off.
    /// </summary>
    public async Task RunAsync(IAsyncEnumerable<MaskEvent> events, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(events);
        var cameras = new HashSet<string>(StringComparer.Ordinal);
        try
        {
            await foreach (var e in events.WithCancellation(cancellationToken).ConfigureAwait(false))
            {
                cameras.Add(e.Camera);
                Handle(e);
            }
        }
        finally
        {
            foreach (string camera in cameras)
                PipelineStopped(camera);
        }
    }

    /// <summary>
    /// Test mode: every output runs its pattern for <paramref name="duration"/> (ignoring quiet hours, rate limits
    /// and camera mapping), and the announcement plays once if enabled and <paramref name="announce"/>. Then the
    /// outputs return to what the violations dictate. Behind <c>edgemask alarm test</c> and the <c>testAlarm</c> method.
    /// </summary>
    public async Task<AlarmTestResult> TestAsync(TimeSpan duration, bool announce = true, CancellationToken cancellationToken = default)
    {
        if (duration <= TimeSpan.Zero || duration > TimeSpan.FromMinutes(10))
            throw new ArgumentOutOfRangeException(nameof(duration), duration, "a test lasts more than zero and at most 10 minutes");
        AnnouncementOutcome? outcome = null;
        int token;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_stopped, this);
            token = _engine.StartTest(Now(), duration);
            LogTestStarted(_logger, duration);
            EvaluateAndApply();
            if (announce && _announcer is not null)
                outcome = _announcer.TryStart("test", ignoreInterval: true);
        }
        try
        {
            await Task.Delay(duration, _time, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            lock (_gate)
            {
                _engine.EndTest(token);
                if (!_stopped)
                    EvaluateAndApply();
            }
        }
        return new AlarmTestResult(_options.Outputs.Select(o => o.Name).ToArray(), duration, outcome);
    }

    /// <summary>
    /// Renders (or checks) the announcement WAV now, so a missing espeak-ng or a broken file fails at start rather
    /// than at the first violation. Returns the WAV path, or null when announcements are disabled.
    /// </summary>
    public async Task<string?> PrepareAnnouncementAsync(CancellationToken cancellationToken = default)
    {
        if (_announcer is null) return null;
        // Both announcements, so a broken incorrect-mask file or text also fails at start.
        await _announcer.PrepareAsync(AnnouncementKind.Incorrect, cancellationToken).ConfigureAwait(false);
        return await _announcer.PrepareAsync(AnnouncementKind.NoMask, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The announcement an event calls for.</summary>
    public static AnnouncementKind KindOf(MaskEvent e) =>
        EventTypes.IsIncorrect(e.Type) || e.Mask.Label == MaskLabelExtensions.IncorrectWireName ? AnnouncementKind.Incorrect : AnnouncementKind.NoMask;

    /// <summary>The announcement in progress, as a task that completes when it ends (completed when none).</summary>
    public Task CurrentAnnouncement => _announcer?.Current ?? Task.CompletedTask;

    /// <summary>The state of every line, the watchdogs and the announcement, for metrics and reported properties.</summary>
    public AlarmSnapshot Snapshot()
    {
        lock (_gate)
        {
            var now = Now();
            var lines = new AlarmLineSnapshot[_lines.Count];
            for (int i = 0; i < lines.Length; i++)
            {
                var slot = _lines[i];
                var o = _engine.Outputs[i];
                lines[i] = new AlarmLineSnapshot(slot.Options.Name, slot.Options.Kind, slot.Options.Chip, slot.Options.Line,
                    slot.Options.ActiveLow, slot.On, slot.On ^ slot.Options.ActiveLow, o.ActiveSince is not null,
                    _stopped ? AlarmOutputReason.Stopped : _engine.ShownReason(i, now), slot.ChangedAt, slot.Changes,
                    o.Activations, o.RateLimited, o.QuietSuppressed, slot.Fault);
            }
            var cameras = _engine.Cameras
                .Select(c => new AlarmCameraSnapshot(c.Camera, c.Armed, c.Tripped, c.LastSeen))
                .OrderBy(c => c.Camera, StringComparer.Ordinal)
                .ToArray();
            return new AlarmSnapshot(now, _stopped, _engine.IsQuiet(now), _engine.TestActive(now), _engine.ActiveEpisodes,
                lines, _announcer?.Snapshot(), cameras);
        }
    }

    /// <summary>Normal shutdown: stops taking events, cancels a playing announcement, and turns every line off.</summary>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            if (!_stopped)
            {
                _stopped = true;
                _timer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
                _lines.AllOff();
                LogStopped(_logger);
            }
        }
        if (_announcer is not null)
            await _announcer.StopAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
        lock (_gate)
            _lines.AllOff();
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        DisposeCore();
    }

    public void Dispose()
    {
        // Lines go off first and synchronously; the announcement is cancelled and awaited briefly, since the
        // player is a child process that is killed on cancellation.
        lock (_gate)
        {
            _stopped = true;
            _lines.AllOff();
        }
        if (_announcer is not null && !_announcer.StopAsync().Wait(TimeSpan.FromSeconds(5)))
            LogAnnouncementDidNotStop(_logger);
        DisposeCore();
    }

    private void DisposeCore()
    {
        lock (_gate)
        {
            if (_disposed)
                return;
            _disposed = true;
            _stopped = true;
            AppDomain.CurrentDomain.UnhandledException -= OnProcessDying;
            AppDomain.CurrentDomain.ProcessExit -= OnProcessDying;
            _timer.Dispose();
            _lines.Dispose();
            _announcer?.Dispose();
        }
    }

    private void OnTimer()
    {
        lock (_gate)
        {
            if (!_stopped)
                EvaluateAndApply();
        }
    }

    private void OnAnnouncementPlaying(bool playing)
    {
        lock (_gate)
        {
            _engine.Announcing = playing;
            if (!_stopped)
                EvaluateAndApply();
        }
    }

    private void OnProcessDying(object? sender, EventArgs e) => DriveSafeState();

    /// <summary>
    /// Every line off, now, from whatever state the process is in (an unhandled exception, process exit). Best
    /// effort: if another thread holds the lock (it may be the one that crashed), the lines are written anyway.
    /// </summary>
    internal void DriveSafeState()
    {
        bool taken = _gate.TryEnter(SafeStateLockWait);
        try
        {
            if (!_disposed)
            {
                _stopped = true;
                _lines.AllOff();
            }
        }
        finally
        {
            if (taken)
                _gate.Exit();
        }
    }

    /// <summary>Decides every output at the current instant, drives the lines, and arms the timer for the next change. Caller holds the lock.</summary>
    private void EvaluateAndApply()
    {
        var now = Now();
        _tripped.Clear();
        var next = _engine.Evaluate(now, _tripped);
        foreach (string camera in _tripped)
            LogWatchdogTripped(_logger, camera, _options.WatchdogTimeout);
        for (int i = 0; i < _lines.Count; i++)
        {
            var o = _engine.Outputs[i];
            _lines.Set(i, o.Desired);
            var reason = _engine.ShownReason(i, now);
            if (reason != _lastReasons[i])
            {
                LogOutputState(_logger, o.Options.Name, reason);
                _lastReasons[i] = reason;
            }
        }
        var due = next is { } t ? t - now : MaxTimerPeriod;
        if (due > MaxTimerPeriod)
            due = MaxTimerPeriod;
        if (due < TimeSpan.Zero)
            due = TimeSpan.Zero;
        _timerDueAt = now + due;
        _timer?.Change(due, Timeout.InfiniteTimeSpan);
    }

    /// <summary>
    /// The wall clock now, after moving the engine's remembered instants by any step the wall clock made since the last
    /// look (<see cref="ClockStepDetector"/>). Minimum and maximum on-times, the rate limit's window and the watchdogs are
    /// durations and must not stretch or shrink with a step, while quiet hours are wall-clock times and follow the
    /// corrected clock. Caller holds the lock.
    /// </summary>
    private DateTimeOffset Now()
    {
        DateTimeOffset wall = _time.GetUtcNow();
        TimeSpan step = _clockSteps.Observe(wall, _time.GetTimestamp());
        if (step != TimeSpan.Zero)
        {
            _engine.ShiftTimes(step);
            if (_timerDueAt is { } due) _timerDueAt = due + step;
            LogClockStepped(_logger, step);
        }
        return wall;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The system clock was set by {Step} (NTP?); the alarm's on-times, rate limit and watchdogs keep their lengths")]
    private static partial void LogClockStepped(ILogger logger, TimeSpan step);

    [LoggerMessage(Level = LogLevel.Information, Message = "Alarm started with {Outputs} outputs, announcement {Announcement}, {QuietRanges} quiet-hours ranges")]
    private static partial void LogStarted(ILogger logger, int outputs, bool announcement, int quietRanges);

    [LoggerMessage(Level = LogLevel.Information, Message = "Alarm output {Output}: {Reason}")]
    private static partial void LogOutputState(ILogger logger, string output, AlarmOutputReason reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "No heartbeat from camera {Camera} for {Timeout}: its violations are dropped and its alarm lines released")]
    private static partial void LogWatchdogTripped(ILogger logger, string camera, TimeSpan timeout);

    [LoggerMessage(Level = LogLevel.Information, Message = "Camera {Camera} sends heartbeats again")]
    private static partial void LogWatchdogRecovered(ILogger logger, string camera);

    [LoggerMessage(Level = LogLevel.Information, Message = "Pipeline of camera {Camera} stopped; {Dropped} active violations dropped")]
    private static partial void LogPipelineStopped(ILogger logger, string camera, int dropped);

    [LoggerMessage(Level = LogLevel.Information, Message = "Alarm test for {Duration}")]
    private static partial void LogTestStarted(ILogger logger, TimeSpan duration);

    [LoggerMessage(Level = LogLevel.Information, Message = "Alarm settings changed; lines kept open")]
    private static partial void LogReconfigured(ILogger logger);

    [LoggerMessage(Level = LogLevel.Information, Message = "Alarm stopped; every line is off")]
    private static partial void LogStopped(ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The announcement did not stop within 5 s of disposal")]
    private static partial void LogAnnouncementDidNotStop(ILogger logger);
}
