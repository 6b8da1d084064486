namespace EdgeMask.Alarm;

/// <summary>
/// The whole local-alarm configuration, bound from the <c>Alarm</c> configuration section (appsettings, environment
/// <c>Alarm__…</c>, module twin). Immutable: a change builds a new snapshot, applied by <see cref="LocalAlarm.Reconfigure"/>
/// (lines kept) or, when the lines or the announcement change, by a new <see cref="LocalAlarm"/>.
/// Checked by <see cref="AlarmOptionsValidator.Validate"/> before any line is touched.
/// </summary>
public sealed record AlarmOptions
{
    /// <summary>The configuration section name; validation errors name keys below it, e.g. <c>Alarm:Outputs:0:Line</c>.</summary>
    public const string Section = "Alarm";

    /// <summary>False (default): no alarm stage is built and no GPIO line is opened.</summary>
    public bool Enabled { get; init; }

    /// <summary>Which kernel interface drives the lines.</summary>
    public GpioOptions Gpio { get; init; } = new();

    /// <summary>The lines: warning lights, buzzers, amplifier enables. Each has a unique <see cref="AlarmOutputOptions.Name"/>.</summary>
    public IReadOnlyList<AlarmOutputOptions> Outputs { get; init; } = [];

    /// <summary>
    /// Which camera drives which outputs. Empty (default): every camera drives every output and the announcement.
    /// Otherwise a camera not listed uses the <c>*</c> entry if there is one, or drives nothing.
    /// </summary>
    public IReadOnlyList<CameraMapping> Cameras { get; init; } = [];

    public QuietHoursOptions QuietHours { get; init; } = new();

    public AnnouncementOptions Announcement { get; init; } = new();

    /// <summary>
    /// A camera that has called <see cref="LocalAlarm.Heartbeat"/> once and then stays silent this long is treated as a
    /// crashed pipeline: its violations are dropped, so the lines it held go off. <see cref="TimeSpan.Zero"/> disables.
    /// </summary>
    public TimeSpan WatchdogTimeout { get; init; } = TimeSpan.FromSeconds(10);
}

/// <summary>The GPIO character-device driver choice.</summary>
public sealed record GpioOptions
{
    public GpioDriverKind Driver { get; init; } = GpioDriverKind.Auto;

    /// <summary>
    /// Only for the sysfs driver: the global GPIO number of line 0 of a chip (the <c>base</c> file of
    /// <c>/sys/class/gpio/gpiochipN</c>), keyed by chip number. Without an entry it is looked up in sysfs.
    /// </summary>
    public IReadOnlyDictionary<string, int> SysfsChipBase { get; init; } = new Dictionary<string, int>();
}

public enum GpioDriverKind
{
    /// <summary>libgpiod (v1 API, what JetPack ships) and, when libgpiod cannot be loaded, sysfs.</summary>
    Auto,
    /// <summary>System.Device.Gpio <c>LibGpiodDriver</c> (libgpiod v1 API, <c>libgpiod.so.2</c>).</summary>
    Libgpiod,
    /// <summary>System.Device.Gpio <c>LibGpiodV2Driver</c> (libgpiod v2 API, <c>libgpiod.so.3</c>).</summary>
    LibgpiodV2,
    /// <summary>The deprecated <c>/sys/class/gpio</c> interface; global GPIO numbers are base + line.</summary>
    Sysfs,
}

/// <summary>What an output is for: quiet hours silence <see cref="Sound"/> outputs and leave lights on by default.</summary>
public enum AlarmOutputKind
{
    Light,
    /// <summary>A buzzer, siren, or the enable line of the speaker amplifier.</summary>
    Sound,
}

/// <summary>One GPIO line driving a relay, MOSFET or buzzer.</summary>
public sealed record AlarmOutputOptions
{
    /// <summary>Unique name used by <see cref="CameraMapping.Outputs"/>, the snapshot and the metrics (e.g. <c>light</c>).</summary>
    public string Name { get; init; } = "";

    public AlarmOutputKind Kind { get; init; } = AlarmOutputKind.Light;

    /// <summary>The gpiochip number (<c>/dev/gpiochipN</c>, as <c>gpiodetect</c> lists it).</summary>
    public int Chip { get; init; }

    /// <summary>The line offset within the chip (as <c>gpioinfo</c> lists it).</summary>
    public int Line { get; init; } = -1;

    /// <summary>True when the load is energized by a low level (many relay boards): "on" writes Low, "off" writes High.</summary>
    public bool ActiveLow { get; init; }

    /// <summary>
    /// Blink pattern in milliseconds, alternating on and off and starting with on (e.g. <c>[500, 500]</c>, or
    /// <c>[150, 150, 150, 800]</c> for a double flash). Empty (default): steady on. Needs an even count of positive values.
    /// </summary>
    public IReadOnlyList<int> PatternMs { get; init; } = [];

    /// <summary>Once on, stay on at least this long even if the violation ends sooner (so a brief violation is seen).</summary>
    public TimeSpan MinOn { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>
    /// After this long on, go off even if the violations continue; only a new violation (a new episode id) turns
    /// it on again. <see cref="TimeSpan.Zero"/>: no maximum.
    /// </summary>
    public TimeSpan MaxOn { get; init; } = TimeSpan.FromMinutes(2);

    public RateLimitOptions RateLimit { get; init; } = new();
}

/// <summary>At most <see cref="MaxActivations"/> activations of one output in any sliding <see cref="Window"/>; 0 disables.</summary>
public sealed record RateLimitOptions
{
    public int MaxActivations { get; init; } = 6;
    public TimeSpan Window { get; init; } = TimeSpan.FromMinutes(1);
}

/// <summary>Which outputs a camera drives and whether it triggers the spoken announcement.</summary>
public sealed record CameraMapping
{
    /// <summary>The camera id as in <c>MaskEvent.Camera</c>, or <c>*</c> for every camera not listed.</summary>
    public string Camera { get; init; } = "";

    /// <summary>Names of <see cref="AlarmOptions.Outputs"/>; empty: none.</summary>
    public IReadOnlyList<string> Outputs { get; init; } = [];

    /// <summary>Whether a new violation on this camera plays the announcement (when it is enabled).</summary>
    public bool Announce { get; init; } = true;
}

/// <summary>Local-time ranges in which sound outputs and announcements stay silent.</summary>
public sealed record QuietHoursOptions
{
    public IReadOnlyList<QuietHoursRange> Ranges { get; init; } = [];

    /// <summary>An IANA time zone id (e.g. <c>Europe/Berlin</c>); null: the local zone of the injected <see cref="TimeProvider"/>.</summary>
    public string? TimeZone { get; init; }

    /// <summary>Whether lights are dark during quiet hours too (default false: only sound is silenced).</summary>
    public bool MuteLights { get; init; }
}

/// <summary>
/// [<see cref="Start"/>, <see cref="End"/>) in local time, every day. A range that crosses midnight (22:00–06:00)
/// must say so with <see cref="CrossesMidnight"/>: an unmarked Start after End is refused as inverted, because a
/// swapped pair (18:00–08:00 meant as 08:00–18:00) silences the alarm during the working day.
/// </summary>
public sealed record QuietHoursRange
{
    public TimeOnly Start { get; init; }
    public TimeOnly End { get; init; }
    public bool CrossesMidnight { get; init; }
}

/// <summary>
/// The spoken announcement played through the speaker on a new violation: one for no mask, one for a mask worn
/// incorrectly (the event type <c>incorrect.*</c>, or a violation whose label is <c>incorrect</c>).
/// </summary>
public sealed record AnnouncementOptions
{
    public bool Enabled { get; init; }

    /// <summary>A WAV file to play for no mask. When set, <see cref="Text"/> is ignored.</summary>
    public string? WavFile { get; init; }

    /// <summary>Text for no mask, rendered once with <c>espeak-ng</c> and cached.</summary>
    public string Text { get; init; } = "Please wear a mask.";

    /// <summary>A WAV file to play for a mask worn incorrectly. When set, <see cref="IncorrectText"/> is ignored.</summary>
    public string? IncorrectWavFile { get; init; }

    /// <summary>Text for a mask worn incorrectly, rendered like <see cref="Text"/>; empty: the no-mask announcement is played.</summary>
    public string IncorrectText { get; init; } = "Please wear your mask over your nose and mouth.";

    /// <summary>The espeak-ng voice (<c>espeak-ng --voices</c>).</summary>
    public string Voice { get; init; } = "en";

    /// <summary>espeak-ng speed in words per minute.</summary>
    public int WordsPerMinute { get; init; } = 150;

    /// <summary>Where rendered WAV files are cached; null: <c>$TMPDIR/edgemask-announcements</c>.</summary>
    public string? CacheDirectory { get; init; }

    /// <summary>The ALSA device for <c>aplay -D</c>; null: the default device.</summary>
    public string? AlsaDevice { get; init; }

    /// <summary>No new announcement sooner than this after the previous one started.</summary>
    public TimeSpan MinInterval { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>Outputs (usually the amplifier enable line) held on while an announcement plays.</summary>
    public IReadOnlyList<string> EnableOutputs { get; init; } = [];
}
