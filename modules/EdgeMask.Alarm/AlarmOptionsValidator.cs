namespace EdgeMask.Alarm;

/// <summary>
/// Checks an <see cref="AlarmOptions"/> snapshot without touching hardware; the hardware checks (chip present, line
/// in range, line free) happen when <see cref="LocalAlarm"/> opens the lines. Every error names its key.
/// </summary>
public static class AlarmOptionsValidator
{
    /// <summary>Throws <see cref="AlarmConfigurationException"/> on the first problem found.</summary>
    public static void Validate(AlarmOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        const string root = AlarmOptions.Section;

        if (options.Enabled && options.Outputs.Count == 0 && !options.Announcement.Enabled)
            throw new AlarmConfigurationException($"{root}:Outputs", "the alarm is enabled but has no output and no announcement");

        NonNegative(options.WatchdogTimeout, $"{root}:WatchdogTimeout");

        var names = new Dictionary<string, int>(StringComparer.Ordinal);
        var lines = new Dictionary<(int Chip, int Line), int>();
        for (int i = 0; i < options.Outputs.Count; i++)
        {
            var o = options.Outputs[i];
            string key = $"{root}:Outputs:{i}";
            if (o is null)
                throw new AlarmConfigurationException(key, "the output entry is empty");
            if (string.IsNullOrWhiteSpace(o.Name))
                throw new AlarmConfigurationException($"{key}:Name", "every output needs a name");
            if (o.Name == "*")
                throw new AlarmConfigurationException($"{key}:Name", "'*' is reserved for the camera mapping");
            if (!names.TryAdd(o.Name, i))
                throw new AlarmConfigurationException($"{key}:Name", $"the name '{o.Name}' is already used by {root}:Outputs:{names[o.Name]}");
            if (!Enum.IsDefined(o.Kind))
                throw new AlarmConfigurationException($"{key}:Kind", $"unknown kind {(int)o.Kind}; use Light or Sound");
            if (o.Chip < 0)
                throw new AlarmConfigurationException($"{key}:Chip", $"chip {o.Chip} is negative; use the N of /dev/gpiochipN");
            if (o.Line < 0)
                throw new AlarmConfigurationException($"{key}:Line", o.Line == -1
                    ? "no line configured; use the line offset shown by gpioinfo"
                    : $"line {o.Line} is negative");
            if (!lines.TryAdd((o.Chip, o.Line), i))
                throw new AlarmConfigurationException($"{key}:Line",
                    $"gpiochip{o.Chip} line {o.Line} is already used by {root}:Outputs:{lines[(o.Chip, o.Line)]} ('{options.Outputs[lines[(o.Chip, o.Line)]].Name}')");
            if (o.PatternMs is null)
                throw new AlarmConfigurationException($"{key}:PatternMs", "the pattern is null; use [] for steady");
            if (o.PatternMs.Count % 2 != 0)
                throw new AlarmConfigurationException($"{key}:PatternMs", $"the pattern has {o.PatternMs.Count} values; it needs on/off pairs (an even count), or [] for steady");
            for (int p = 0; p < o.PatternMs.Count; p++)
            {
                if (o.PatternMs[p] <= 0)
                    throw new AlarmConfigurationException($"{key}:PatternMs:{p}", $"{o.PatternMs[p]} ms is not a positive duration");
            }
            NonNegative(o.MinOn, $"{key}:MinOn");
            NonNegative(o.MaxOn, $"{key}:MaxOn");
            if (o.MaxOn > TimeSpan.Zero && o.MaxOn < o.MinOn)
                throw new AlarmConfigurationException($"{key}:MaxOn", $"MaxOn {o.MaxOn} is shorter than MinOn {o.MinOn}");
            if (o.RateLimit is null)
                throw new AlarmConfigurationException($"{key}:RateLimit", "the rate limit is null");
            if (o.RateLimit.MaxActivations < 0)
                throw new AlarmConfigurationException($"{key}:RateLimit:MaxActivations", $"{o.RateLimit.MaxActivations} is negative; 0 disables the limit");
            NonNegative(o.RateLimit.Window, $"{key}:RateLimit:Window");
            if (o.RateLimit.MaxActivations > 0 && o.RateLimit.Window == TimeSpan.Zero)
                throw new AlarmConfigurationException($"{key}:RateLimit:Window", "a rate limit needs a window longer than zero");
        }

        var cameras = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < options.Cameras.Count; i++)
        {
            var m = options.Cameras[i];
            string key = $"{root}:Cameras:{i}";
            if (m is null)
                throw new AlarmConfigurationException(key, "the camera mapping entry is empty");
            if (string.IsNullOrWhiteSpace(m.Camera))
                throw new AlarmConfigurationException($"{key}:Camera", "every mapping needs a camera id, or '*' for the others; Cameras is a list of { Camera, Outputs, Announce }");
            if (!cameras.Add(m.Camera))
                throw new AlarmConfigurationException($"{key}:Camera", $"camera '{m.Camera}' is mapped twice");
            if (m.Outputs is null)
                throw new AlarmConfigurationException($"{key}:Outputs", "the output list is null; use [] for none");
            for (int j = 0; j < m.Outputs.Count; j++)
            {
                if (!names.ContainsKey(m.Outputs[j] ?? ""))
                    throw new AlarmConfigurationException($"{key}:Outputs:{j}",
                        $"unknown output '{m.Outputs[j]}'; known: {string.Join(", ", names.Keys.Order(StringComparer.Ordinal))}");
            }
        }

        ValidateQuietHours(options.QuietHours, $"{root}:QuietHours");
        ValidateAnnouncement(options.Announcement, names, $"{root}:Announcement");
    }

    private static void ValidateQuietHours(QuietHoursOptions q, string key)
    {
        if (q is null)
            throw new AlarmConfigurationException(key, "quiet hours are null; leave them out for none");
        if (q.TimeZone is not null)
        {
            try
            {
                _ = TimeZoneInfo.FindSystemTimeZoneById(q.TimeZone);
            }
            catch (TimeZoneNotFoundException e)
            {
                throw new AlarmConfigurationException($"{key}:TimeZone", $"unknown time zone '{q.TimeZone}'; use an IANA id such as Europe/Berlin", e);
            }
            catch (InvalidTimeZoneException e)
            {
                throw new AlarmConfigurationException($"{key}:TimeZone", $"the time zone data of '{q.TimeZone}' is invalid", e);
            }
        }
        for (int i = 0; i < q.Ranges.Count; i++)
        {
            var r = q.Ranges[i];
            string rk = $"{key}:Ranges:{i}";
            if (r is null)
                throw new AlarmConfigurationException(rk, "the range is empty");
            if (r.Start == r.End)
                throw new AlarmConfigurationException(rk, $"the range {r.Start:HH\\:mm}–{r.End:HH\\:mm} is empty (start equals end)");
            if (r.Start > r.End && !r.CrossesMidnight)
                throw new AlarmConfigurationException(rk,
                    $"the range is inverted: Start {r.Start:HH\\:mm} is after End {r.End:HH\\:mm}; swap them, or set CrossesMidnight=true if it runs overnight");
            if (r.Start < r.End && r.CrossesMidnight)
                throw new AlarmConfigurationException($"{rk}:CrossesMidnight",
                    $"CrossesMidnight is set but {r.Start:HH\\:mm}–{r.End:HH\\:mm} ends on the same day; remove it or swap Start and End");
        }
    }

    private static void ValidateAnnouncement(AnnouncementOptions a, Dictionary<string, int> outputs, string key)
    {
        if (a is null)
            throw new AlarmConfigurationException(key, "the announcement section is null");
        NonNegative(a.MinInterval, $"{key}:MinInterval");
        if (a.EnableOutputs is null)
            throw new AlarmConfigurationException($"{key}:EnableOutputs", "the list is null; use [] for none");
        for (int j = 0; j < a.EnableOutputs.Count; j++)
        {
            if (!outputs.ContainsKey(a.EnableOutputs[j] ?? ""))
                throw new AlarmConfigurationException($"{key}:EnableOutputs:{j}", $"unknown output '{a.EnableOutputs[j]}'");
        }
        if (!a.Enabled)
            return;
        if (a.WavFile is not null)
        {
            if (!File.Exists(a.WavFile))
                throw new AlarmConfigurationException($"{key}:WavFile", $"'{a.WavFile}' does not exist");
        }
        else if (string.IsNullOrWhiteSpace(a.Text))
        {
            throw new AlarmConfigurationException($"{key}:Text", "the announcement is enabled but has neither WavFile nor Text");
        }
        if (a.IncorrectWavFile is not null && !File.Exists(a.IncorrectWavFile))
            throw new AlarmConfigurationException($"{key}:IncorrectWavFile", $"'{a.IncorrectWavFile}' does not exist");
        if (a.IncorrectText is null)
            throw new AlarmConfigurationException($"{key}:IncorrectText", "is null; use \"\" to play the no-mask announcement for badly worn masks too");
        bool rendersText = a.WavFile is null || (a.IncorrectWavFile is null && a.IncorrectText.Length > 0);
        if (rendersText)
        {
            if (string.IsNullOrWhiteSpace(a.Voice))
                throw new AlarmConfigurationException($"{key}:Voice", "a voice is needed to render the text (e.g. 'en')");
            if (a.WordsPerMinute is < 80 or > 500)
                throw new AlarmConfigurationException($"{key}:WordsPerMinute", $"{a.WordsPerMinute} is outside 80..500 (espeak-ng's usable range)");
        }
    }

    private static void NonNegative(TimeSpan value, string key)
    {
        if (value < TimeSpan.Zero)
            throw new AlarmConfigurationException(key, $"{value} is negative");
    }
}
