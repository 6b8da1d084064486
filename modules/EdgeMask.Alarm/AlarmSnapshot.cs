using System.Text.Json.Serialization;
using EdgeMask.Alarm.Engine;

namespace EdgeMask.Alarm;

/// <summary>
/// The state of the alarm at one instant, for <c>/metrics</c> and the twin's reported properties
/// (serialize with <see cref="AlarmJsonContext"/>).
/// </summary>
public sealed record AlarmSnapshot(
    DateTimeOffset At,
    bool Stopped,
    bool QuietHours,
    bool TestActive,
    int ActiveViolations,
    IReadOnlyList<AlarmLineSnapshot> Lines,
    AnnouncementSnapshot? Announcement,
    IReadOnlyList<AlarmCameraSnapshot> Cameras)
{
    /// <summary>
    /// The slowly changing part for the twin's reported properties: no blink phase, timestamps or counters, so it
    /// only changes when an output starts, stops or faults. Report it when its JSON differs from the last one sent.
    /// </summary>
    public AlarmReportedState ToReported() => new(
        Stopped,
        QuietHours,
        TestActive,
        Lines.Select(l => new AlarmReportedLine(l.Name, l.Chip, l.Line, l.ActiveLow, l.Active, l.Reason, l.Fault)).ToArray(),
        Cameras.Where(c => c.WatchdogTripped).Select(c => c.Camera).ToArray());
}

/// <summary>See <see cref="AlarmSnapshot.ToReported"/>.</summary>
public sealed record AlarmReportedState(
    bool Stopped,
    bool QuietHours,
    bool TestActive,
    IReadOnlyList<AlarmReportedLine> Lines,
    IReadOnlyList<string> WatchdogTripped);

public sealed record AlarmReportedLine(string Name, int Chip, int Line, bool ActiveLow, bool Active, AlarmOutputReason Reason, string? Fault);

/// <summary>
/// One output line. <see cref="On"/>: the load is energized now (false during the dark phase of a blink);
/// <see cref="LevelHigh"/>: the electrical level (the inverse of On for active-low); <see cref="Active"/>: the output
/// is in its alarm state (its pattern is running because of a violation).
/// </summary>
public sealed record AlarmLineSnapshot(
    string Name,
    AlarmOutputKind Kind,
    int Chip,
    int Line,
    bool ActiveLow,
    bool On,
    bool LevelHigh,
    bool Active,
    AlarmOutputReason Reason,
    DateTimeOffset? ChangedAt,
    long Changes,
    long Activations,
    long RateLimited,
    long QuietSuppressed,
    string? Fault);

/// <summary>The announcement counters; <see cref="Wav"/> is the configured file or the cache file of the rendered text.</summary>
public sealed record AnnouncementSnapshot(
    bool Enabled,
    bool Playing,
    long Played,
    long DroppedBusy,
    long DroppedInterval,
    long DroppedQuiet,
    long Failed,
    DateTimeOffset? LastStartedAt,
    string Wav)
{
    /// <summary>The WAV played for a mask worn incorrectly (the same as <see cref="Wav"/> when no separate one is set).</summary>
    public string? IncorrectWav { get; init; }
}

/// <summary>A camera's pipeline watchdog: armed by its first heartbeat, tripped when heartbeats stop.</summary>
public sealed record AlarmCameraSnapshot(string Camera, bool WatchdogArmed, bool WatchdogTripped, DateTimeOffset LastSeen);

/// <summary>What <see cref="LocalAlarm.TestAsync"/> exercised.</summary>
public sealed record AlarmTestResult(IReadOnlyList<string> Outputs, TimeSpan Duration, Announcements.AnnouncementOutcome? Announcement);

/// <summary>The JSON of the snapshot in the house dialect: camelCase, enums as strings, nulls omitted.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    UseStringEnumConverter = true)]
[JsonSerializable(typeof(AlarmSnapshot))]
[JsonSerializable(typeof(AlarmTestResult))]
[JsonSerializable(typeof(AlarmReportedState))]
public sealed partial class AlarmJsonContext : JsonSerializerContext;
