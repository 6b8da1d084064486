using EdgeMask.Core.Events;

namespace EdgeMask.Alarm.Engine;

/// <summary>Why an output is in its current state; shown in the snapshot.</summary>
public enum AlarmOutputReason
{
    /// <summary>No violation for this output.</summary>
    Idle,
    /// <summary>On (steady or blinking) because of a violation.</summary>
    Violation,
    /// <summary>Held on after the violations ended, until its minimum on-time has passed.</summary>
    MinOnHold,
    /// <summary>Off although violations continue: the maximum on-time passed; a new violation is needed.</summary>
    MaxOnReached,
    /// <summary>Off although a violation is active: the rate limit is used up.</summary>
    RateLimited,
    /// <summary>Off although a violation is active: quiet hours.</summary>
    QuietHours,
    /// <summary>On because of a test (<see cref="LocalAlarm.TestAsync"/>).</summary>
    Test,
    /// <summary>On because an announcement is playing (an amplifier enable line).</summary>
    Announcement,
    /// <summary>Off because the alarm was stopped.</summary>
    Stopped,
}

/// <summary>
/// The alarm's decisions without any I/O: which episodes are active, which outputs should be energized at a given
/// instant, and when the answer can next change. Not thread-safe; <see cref="LocalAlarm"/> serializes calls.
/// </summary>
internal sealed class AlarmEngine
{
    private readonly AlarmOptions _options;
    private readonly QuietHoursSchedule _quiet;
    private readonly OutputRuntime[] _outputs;
    private readonly Dictionary<string, Episode> _episodes = new(StringComparer.Ordinal);
    private readonly Dictionary<string, CameraRuntime> _cameras = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _outputIndex;
    private readonly bool[] _announceEnables;
    private DateTimeOffset? _testStart;
    private DateTimeOffset _testUntil;
    private int _testGeneration;

    private sealed record Episode(string Camera);

    internal sealed class OutputRuntime(AlarmOutputOptions options)
    {
        public AlarmOutputOptions Options { get; } = options;
        public BlinkPattern Pattern { get; } = new(options.PatternMs);
        public RateLimiter RateLimiter { get; } = new(options.RateLimit);
        /// <summary>Episodes already given their maximum on-time; they cannot switch the output on again.</summary>
        public HashSet<string> Served { get; } = new(StringComparer.Ordinal);
        public DateTimeOffset? ActiveSince { get; set; }
        public AlarmOutputReason Reason { get; set; }
        public bool Desired { get; set; }
        public long Activations { get; set; }
        public long RateLimited { get; set; }
        public long QuietSuppressed { get; set; }
    }

    internal sealed class CameraRuntime(bool[] outputs, bool announce)
    {
        public bool[] Outputs { get; } = outputs;
        public bool Announce { get; } = announce;
        public bool Armed { get; set; }
        public bool Tripped { get; set; }
        public DateTimeOffset LastSeen { get; set; }
    }

    public AlarmEngine(AlarmOptions options, TimeZoneInfo zone)
    {
        _options = options;
        _quiet = new QuietHoursSchedule(options.QuietHours.Ranges, zone);
        _outputs = options.Outputs.Select(o => new OutputRuntime(o)).ToArray();
        _outputIndex = options.Outputs.Select((o, i) => (o.Name, i)).ToDictionary(x => x.Name, x => x.i, StringComparer.Ordinal);
        _announceEnables = new bool[_outputs.Length];
        foreach (string name in options.Announcement.EnableOutputs)
            _announceEnables[_outputIndex[name]] = true;
    }

    public IReadOnlyList<OutputRuntime> Outputs => _outputs;

    /// <summary>
    /// Continues where <paramref name="previous"/> (an engine over the same outputs, by index, with older settings) is:
    /// open episodes, camera watchdogs, outputs that are on and since when, what each output has served, activation
    /// counters, rate-limit history and a running test. The new settings decide from the next evaluation on.
    /// </summary>
    public void TakeStateFrom(AlarmEngine previous)
    {
        if (previous._outputs.Length != _outputs.Length)
            throw new ArgumentException("The engines drive different outputs; a new line bank is needed.", nameof(previous));
        foreach (var (id, episode) in previous._episodes)
            _episodes[id] = episode;
        foreach (var (name, old) in previous._cameras)
        {
            var c = Camera(name);
            c.Armed = old.Armed;
            c.Tripped = old.Tripped;
            c.LastSeen = old.LastSeen;
        }
        for (int i = 0; i < _outputs.Length; i++)
        {
            var o = _outputs[i];
            var p = previous._outputs[i];
            o.ActiveSince = p.ActiveSince;
            o.Reason = p.Reason;
            o.Desired = p.Desired;
            o.Activations = p.Activations;
            o.RateLimited = p.RateLimited;
            o.QuietSuppressed = p.QuietSuppressed;
            o.Served.UnionWith(p.Served);
            o.RateLimiter.TakeHistoryFrom(p.RateLimiter);
        }
        _testStart = previous._testStart;
        _testUntil = previous._testUntil;
        _testGeneration = previous._testGeneration;
        Announcing = previous.Announcing;
    }

    /// <summary>
    /// The wall clock stepped by <paramref name="step"/> (NTP setting the clock): every remembered instant moves with it,
    /// so an output on for 2 s stays on for 2 s more of its minimum, not for an hour more after a step back, and a
    /// camera's watchdog does not trip on a step forward.
    /// </summary>
    public void ShiftTimes(TimeSpan step)
    {
        foreach (var o in _outputs)
        {
            if (o.ActiveSince is { } since) o.ActiveSince = since + step;
            o.RateLimiter.Shift(step);
        }
        foreach (var c in _cameras.Values) c.LastSeen += step;
        if (_testStart is { } testStart)
        {
            _testStart = testStart + step;
            _testUntil += step;
        }
    }

    public int ActiveEpisodes => _episodes.Count;

    public bool Announcing { get; set; }

    public bool TestActive(DateTimeOffset now) => _testStart is not null && now < _testUntil;

    public bool IsQuiet(DateTimeOffset now) => _quiet.IsQuiet(now);

    public IEnumerable<(string Camera, bool Armed, bool Tripped, DateTimeOffset LastSeen)> Cameras =>
        _cameras.Select(kv => (kv.Key, kv.Value.Armed, kv.Value.Tripped, kv.Value.LastSeen));

    /// <summary>Applies a violation event; returns true when it opened a new episode on a camera that announces.</summary>
    public bool OnEvent(MaskEvent e, DateTimeOffset now)
    {
        var camera = Camera(e.Camera);
        Seen(camera, now);
        // An incorrect-mask episode (incorrect.*) drives the lines like any violation; only the announcement differs.
        if (EventTypes.IsStart(e.Type) || EventTypes.IsUpdate(e.Type))
        {
            // An update for an unknown id is an episode that began before the alarm did: treat it as new.
            return _episodes.TryAdd(e.Id, new Episode(e.Camera)) && camera.Announce;
        }
        if (EventTypes.IsEnd(e.Type))
            RemoveEpisode(e.Id);
        return false;
    }

    /// <summary>The pipeline of <paramref name="camera"/> is alive; arms its watchdog.</summary>
    /// <returns>True when this heartbeat revives a camera whose watchdog had tripped.</returns>
    public bool Heartbeat(string camera, DateTimeOffset now)
    {
        var c = Camera(camera);
        c.Armed = true;
        bool revived = c.Tripped;
        Seen(c, now);
        return revived;
    }

    /// <summary>Forgets every episode of <paramref name="camera"/> (its pipeline stopped); returns how many.</summary>
    public int DropCamera(string camera)
    {
        var ids = _episodes.Where(kv => kv.Value.Camera == camera).Select(kv => kv.Key).ToList();
        foreach (string id in ids)
            RemoveEpisode(id);
        return ids.Count;
    }

    /// <summary>Starts (or restarts) the test window; returns a token that only the latest test's end can use.</summary>
    public int StartTest(DateTimeOffset now, TimeSpan duration)
    {
        _testStart = now;
        _testUntil = now + duration;
        return ++_testGeneration;
    }

    /// <summary>Ends the test started with <paramref name="token"/>, unless a later test replaced it.</summary>
    public void EndTest(int token)
    {
        if (token == _testGeneration)
            _testStart = null;
    }

    /// <summary>
    /// Decides every output's state at <paramref name="now"/> (into <see cref="OutputRuntime.Desired"/>) and returns the
    /// next instant at which a decision can change without a new event (null: none), plus cameras whose watchdog tripped.
    /// </summary>
    public DateTimeOffset? Evaluate(DateTimeOffset now, List<string> trippedCameras)
    {
        DateTimeOffset? next = null;
        void Consider(DateTimeOffset? t)
        {
            if (t is { } v && v > now && (next is null || v < next))
                next = v;
        }

        if (_options.WatchdogTimeout > TimeSpan.Zero)
        {
            foreach (var (name, c) in _cameras)
            {
                if (!c.Armed || c.Tripped)
                    continue;
                var deadline = c.LastSeen + _options.WatchdogTimeout;
                if (now >= deadline)
                {
                    c.Tripped = true;
                    trippedCameras.Add(name);
                }
                else
                {
                    Consider(deadline);
                }
            }
            foreach (string name in trippedCameras)
                DropCamera(name);
        }

        bool quiet = _quiet.IsQuiet(now);
        Consider(_quiet.NextBoundary(now));
        bool testing = TestActive(now);
        if (testing)
            Consider(_testUntil);

        for (int i = 0; i < _outputs.Length; i++)
        {
            var o = _outputs[i];
            bool muted = quiet && (o.Options.Kind == AlarmOutputKind.Sound || _options.QuietHours.MuteLights);
            bool eligible = HasEligibleEpisode(i, o);

            if (o.ActiveSince is { } since)
            {
                var elapsed = now - since;
                if (muted)
                {
                    o.ActiveSince = null;
                    o.Reason = AlarmOutputReason.QuietHours;
                }
                else if (o.Options.MaxOn > TimeSpan.Zero && elapsed >= o.Options.MaxOn)
                {
                    o.ActiveSince = null;
                    o.Reason = AlarmOutputReason.MaxOnReached;
                    foreach (var (id, ep) in _episodes)
                    {
                        if (Drives(ep.Camera, i))
                            o.Served.Add(id);
                    }
                    eligible = false;
                }
                else if (!eligible && elapsed >= o.Options.MinOn)
                {
                    o.ActiveSince = null;
                    o.Reason = AlarmOutputReason.Idle;
                }
                else
                {
                    o.Reason = eligible ? AlarmOutputReason.Violation : AlarmOutputReason.MinOnHold;
                    if (!eligible)
                        Consider(since + o.Options.MinOn);
                    if (o.Options.MaxOn > TimeSpan.Zero)
                        Consider(since + o.Options.MaxOn);
                }
            }

            if (o.ActiveSince is null)
            {
                if (!eligible)
                {
                    if (o.Reason is not AlarmOutputReason.MaxOnReached || !AnyEpisodeDrives(i))
                        o.Reason = AlarmOutputReason.Idle;
                }
                else if (muted)
                {
                    if (o.Reason != AlarmOutputReason.QuietHours)
                        o.QuietSuppressed++;
                    o.Reason = AlarmOutputReason.QuietHours;
                }
                else if (!o.RateLimiter.Allows(now))
                {
                    if (o.Reason != AlarmOutputReason.RateLimited)
                        o.RateLimited++;
                    o.Reason = AlarmOutputReason.RateLimited;
                    Consider(o.RateLimiter.NextAllowed(now));
                }
                else
                {
                    o.ActiveSince = now;
                    o.RateLimiter.Record(now);
                    o.Activations++;
                    o.Reason = AlarmOutputReason.Violation;
                    if (o.Options.MaxOn > TimeSpan.Zero)
                        Consider(now + o.Options.MaxOn);
                }
            }

            bool on = false;
            if (o.ActiveSince is { } activeSince)
            {
                on = o.Pattern.IsOn(now - activeSince, out var untilChange);
                if (untilChange is { } u)
                    Consider(now + u);
            }
            if (testing)
            {
                on = o.Pattern.IsOn(now - _testStart!.Value, out var untilChange);
                if (untilChange is { } u)
                    Consider(now + u);
            }
            if (Announcing && _announceEnables[i])
                on = true;
            o.Desired = on;
        }
        return next;
    }

    /// <summary>The reason shown for an output, with the overlays (test, announcement) that Evaluate applies on top.</summary>
    public AlarmOutputReason ShownReason(int index, DateTimeOffset now)
    {
        if (TestActive(now))
            return AlarmOutputReason.Test;
        if (Announcing && _announceEnables[index] && _outputs[index].ActiveSince is null)
            return AlarmOutputReason.Announcement;
        return _outputs[index].Reason;
    }

    private bool HasEligibleEpisode(int index, OutputRuntime o)
    {
        foreach (var (id, ep) in _episodes)
        {
            if (Drives(ep.Camera, index) && !o.Served.Contains(id))
                return true;
        }
        return false;
    }

    private bool AnyEpisodeDrives(int index)
    {
        foreach (var ep in _episodes.Values)
        {
            if (Drives(ep.Camera, index))
                return true;
        }
        return false;
    }

    private bool Drives(string camera, int outputIndex) => Camera(camera).Outputs[outputIndex];

    private void RemoveEpisode(string id)
    {
        if (!_episodes.Remove(id))
            return;
        foreach (var o in _outputs)
            o.Served.Remove(id);
    }

    private static void Seen(CameraRuntime c, DateTimeOffset now)
    {
        c.LastSeen = now;
        c.Tripped = false;
    }

    private CameraRuntime Camera(string camera)
    {
        if (_cameras.TryGetValue(camera, out var c))
            return c;
        var outputs = new bool[_outputs.Length];
        bool announce;
        if (_options.Cameras.Count == 0)
        {
            Array.Fill(outputs, true);
            announce = true;
        }
        else
        {
            var mapping = _options.Cameras.FirstOrDefault(m => m.Camera == camera)
                ?? _options.Cameras.FirstOrDefault(m => m.Camera == "*");
            announce = mapping?.Announce ?? false;
            foreach (string name in mapping?.Outputs ?? [])
                outputs[_outputIndex[name]] = true;
        }
        c = new CameraRuntime(outputs, announce);
        _cameras.Add(camera, c);
        return c;
    }
}
