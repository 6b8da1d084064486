using Microsoft.Extensions.Logging;

namespace EdgeMask.Alarm.Announcements;

/// <summary>What happened to a request to announce.</summary>
/// <summary>Which announcement a violation calls for.</summary>
public enum AnnouncementKind
{
    /// <summary>"Please wear a mask."</summary>
    NoMask,

    /// <summary>"Please wear your mask over your nose and mouth."</summary>
    Incorrect,
}

public enum AnnouncementOutcome
{
    Started,
    /// <summary>Another announcement was rendering or playing: the request was dropped, not queued (see README).</summary>
    DroppedBusy,
    /// <summary>The previous announcement started less than <see cref="AnnouncementOptions.MinInterval"/> ago.</summary>
    DroppedInterval,
    /// <summary>Quiet hours.</summary>
    DroppedQuiet,
    /// <summary>The announcement is not enabled, or the camera does not announce.</summary>
    Disabled,
    Stopped,
}

/// <summary>
/// Plays the announcement, never more than one at a time. A request while one renders or plays is dropped rather
/// than queued: a queued "please wear a mask" would play after the person it was meant for has walked on, and a
/// queue would keep the speaker busy long after a burst of violations.
/// </summary>
internal sealed partial class Announcer : IDisposable
{
    private readonly AnnouncementOptions _options;
    private readonly IAudioPlayer _player;
    private readonly EspeakNgRenderer _renderer;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Action<bool> _playingChanged;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _gate = new();
    private Task _current = Task.CompletedTask;
    private bool _busy;
    private bool _stopped;
    private DateTimeOffset? _lastStartedAt;
    private long? _lastStartedStamp;
    private long _played, _droppedBusy, _droppedInterval, _droppedQuiet, _failed;

    /// <param name="playingChanged">Called with true just before the sound starts and false when it ended (amplifier enable).</param>
    public Announcer(AnnouncementOptions options, IAudioPlayer player, EspeakNgRenderer renderer, TimeProvider time, ILogger logger, Action<bool> playingChanged)
    {
        _options = options;
        _player = player;
        _renderer = renderer;
        _time = time;
        _logger = logger;
        _playingChanged = playingChanged;
    }

    /// <summary>The task of the announcement in progress (completed when none); it never faults.</summary>
    public Task Current
    {
        get
        {
            lock (_gate)
                return _current;
        }
    }

    public AnnouncementSnapshot Snapshot()
    {
        lock (_gate)
        {
            return new AnnouncementSnapshot(true, _busy, _played, _droppedBusy, _droppedInterval, _droppedQuiet, _failed, _lastStartedAt,
                WavPath(AnnouncementKind.NoMask))
            {
                IncorrectWav = WavPath(AnnouncementKind.Incorrect),
            };
        }
    }

    public void CountQuiet()
    {
        lock (_gate)
            _droppedQuiet++;
    }

    /// <param name="ignoreInterval">A test announcement ignores the minimum interval (it still never overlaps).</param>
    /// <param name="kind">Which announcement: for no mask, or for a mask worn incorrectly.</param>
    public AnnouncementOutcome TryStart(string reason, bool ignoreInterval, AnnouncementKind kind = AnnouncementKind.NoMask)
    {
        lock (_gate)
        {
            if (_stopped)
                return AnnouncementOutcome.Stopped;
            if (_busy)
            {
                _droppedBusy++;
                LogDropped(_logger, reason, "another announcement is playing");
                return AnnouncementOutcome.DroppedBusy;
            }
            // The interval on the monotonic clock: a wall clock set back by NTP must not silence announcements for the step.
            long stamp = _time.GetTimestamp();
            if (!ignoreInterval && _lastStartedStamp is { } last && _time.GetElapsedTime(last, stamp) < _options.MinInterval)
            {
                _droppedInterval++;
                return AnnouncementOutcome.DroppedInterval;
            }
            _busy = true;
            _lastStartedAt = _time.GetUtcNow();
            _lastStartedStamp = stamp;
            // Off the caller's thread: the caller holds the alarm's lock, and rendering runs a child process.
            _current = Task.Run(() => PlayOnceAsync(reason, kind, _stopping.Token));
            return AnnouncementOutcome.Started;
        }
    }

    /// <summary>Resolves the WAV of <paramref name="kind"/>, rendering and caching its text if needed.</summary>
    public async Task<string> PrepareAsync(AnnouncementKind kind, CancellationToken cancellationToken)
    {
        var (wavFile, text) = Source(kind);
        if (wavFile is not null)
        {
            _ = WavInfo.Read(wavFile);
            return wavFile;
        }
        return await _renderer.RenderAsync(text, _options.Voice, _options.WordsPerMinute, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The WAV file or the text of an announcement: a badly worn mask falls back to the no-mask one when it has neither.</summary>
    private (string? WavFile, string Text) Source(AnnouncementKind kind) =>
        kind == AnnouncementKind.Incorrect && (_options.IncorrectWavFile is not null || !string.IsNullOrWhiteSpace(_options.IncorrectText))
            ? (_options.IncorrectWavFile, _options.IncorrectText)
            : (_options.WavFile, _options.Text);

    private string WavPath(AnnouncementKind kind)
    {
        var (wavFile, text) = Source(kind);
        return wavFile ?? _renderer.CachePath(text, _options.Voice, _options.WordsPerMinute);
    }

    private async Task PlayOnceAsync(string reason, AnnouncementKind kind, CancellationToken cancellationToken)
    {
        bool signalled = false;
        try
        {
            string wav = await PrepareAsync(kind, cancellationToken).ConfigureAwait(false);
            _playingChanged(true);
            signalled = true;
            LogPlaying(_logger, wav, reason);
            await _player.PlayAsync(wav, cancellationToken).ConfigureAwait(false);
            lock (_gate)
                _played++;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            LogCancelled(_logger);
        }
        catch (Exception e) when (e is AnnouncementRenderException or AudioPlaybackException or IOException or InvalidDataException or UnauthorizedAccessException)
        {
            lock (_gate)
                _failed++;
            LogFailed(_logger, e);
        }
        finally
        {
            if (signalled)
                _playingChanged(false);
            lock (_gate)
                _busy = false;
        }
    }

    public async Task StopAsync()
    {
        Task current;
        lock (_gate)
        {
            _stopped = true;
            current = _current;
        }
        await _stopping.CancelAsync().ConfigureAwait(false);
        await current.ConfigureAwait(false);
    }

    /// <summary>Releases the cancellation source; call after <see cref="StopAsync"/>.</summary>
    public void Dispose() => _stopping.Dispose();

    [LoggerMessage(Level = LogLevel.Information, Message = "Playing announcement {Wav} ({Reason})")]
    private static partial void LogPlaying(ILogger logger, string wav, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Announcement for {Reason} dropped: {Why}")]
    private static partial void LogDropped(ILogger logger, string reason, string why);

    [LoggerMessage(Level = LogLevel.Information, Message = "Announcement cancelled by shutdown")]
    private static partial void LogCancelled(ILogger logger);

    [LoggerMessage(Level = LogLevel.Error, Message = "Announcement failed")]
    private static partial void LogFailed(ILogger logger, Exception e);
}
