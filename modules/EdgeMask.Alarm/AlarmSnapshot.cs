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
    IReadOnlyList<AlarmCameraSnapshot> Cameras);

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
    string Wav);

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
public sealed partial class AlarmJsonContext : JsonSerializerContext;
