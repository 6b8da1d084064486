namespace EdgeMask.Core.Tracking;

/// <summary>
/// A configuration value is out of range or inconsistent with another one. <see cref="Key"/> is the configuration
/// key as the user writes it (e.g. <c>Tracking:ConfirmHits</c>), so the message tells them exactly what to fix.
/// </summary>
public sealed class InvalidOptionException : ArgumentException
{
    public InvalidOptionException(string key, object? value, string reason)
        : base($"Invalid configuration value {key} = {Format(value)}: {reason}", key)
    {
        Key = key;
    }

    /// <summary>The configuration key that holds the bad value.</summary>
    public string Key { get; }

    private static string Format(object? value) => value switch
    {
        null => "(null)",
        IFormattable f => f.ToString(null, System.Globalization.CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "(null)",
    };
}
