namespace EdgeMask.Alarm;

/// <summary>The alarm configuration is wrong; <see cref="Key"/> is the configuration path to fix (e.g. <c>Alarm:Outputs:1:Line</c>).</summary>
public sealed class AlarmConfigurationException : Exception
{
    public AlarmConfigurationException(string key, string problem, Exception? inner = null)
        : base($"{key}: {problem}", inner)
    {
        Key = key;
        Problem = problem;
    }

    public string Key { get; }
    public string Problem { get; }
}

/// <summary>
/// A configured GPIO line or chip cannot be used: it does not exist, another process holds it, or the driver cannot
/// reach it. <see cref="Key"/> names the configuration entry.
/// </summary>
public sealed class GpioLineUnavailableException : Exception
{
    public GpioLineUnavailableException(string key, int chip, int line, string problem, Exception? inner = null)
        : base($"{key}: gpiochip{chip} line {line}: {problem}", inner)
    {
        Key = key;
        Chip = chip;
        Line = line;
    }

    public string Key { get; }
    public int Chip { get; }
    public int Line { get; }
}

/// <summary>Rendering the announcement text to a WAV file failed (espeak-ng missing, unknown voice, …).</summary>
public sealed class AnnouncementRenderException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>Playing a WAV file failed (aplay missing, no ALSA device, unreadable file, …).</summary>
public sealed class AudioPlaybackException(string message, Exception? inner = null) : Exception(message, inner);
