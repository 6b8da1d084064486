using EdgeMask.Core.Events;

namespace EdgeMask.Module.Sources;

/// <summary>Where a camera's capture stands.</summary>
public enum CameraHealthState
{
    /// <summary>Opening the source for the first time; no frame yet.</summary>
    Starting,
    /// <summary>A live source that has not delivered a first frame: its first opening failed and it is retried with backoff.</summary>
    Connecting,
    /// <summary>Frames are arriving.</summary>
    Ok,
    /// <summary>The source was lost (error, end of a live stream, or no frame for the stall timeout); reopening with backoff.</summary>
    Reconnecting,
    /// <summary>Given up: a file or folder could not be read, the decoder program is missing, or the reconnect attempts ran out.</summary>
    Failed,
    /// <summary>A file or folder reached its end.</summary>
    Ended,
    /// <summary>The capture was disposed.</summary>
    Stopped,
}

/// <summary>A snapshot of one camera's capture, for the status topic, metrics and the console.</summary>
/// <param name="Camera">The camera id.</param>
/// <param name="Source">The source description (passwords hidden).</param>
/// <param name="State">Where the capture stands.</param>
/// <param name="Since">When it entered <paramref name="State"/>.</param>
/// <param name="LastFrameAt">When the newest frame was read.</param>
/// <param name="LastError">Why the source was last lost (kept after recovery).</param>
/// <param name="Reconnects">Outages so far: times the source was lost and reopening began.</param>
/// <param name="ReconnectAttempts">Reopen attempts in the current outage (0 when ok).</param>
/// <param name="LastOutage">How long the last finished outage lasted.</param>
/// <param name="FramesCaptured">Frames read from the source.</param>
/// <param name="FramesDropped">Frames the consumer never took: dropped (oldest first) from the full channel and disposed.</param>
/// <param name="FramesSkipped">Undecodable frames the source skipped (corrupt segments, unreadable images).</param>
public sealed record CameraHealth(
    string Camera,
    string Source,
    CameraHealthState State,
    DateTimeOffset Since,
    DateTimeOffset? LastFrameAt,
    string? LastError,
    int Reconnects,
    int ReconnectAttempts,
    TimeSpan? LastOutage,
    long FramesCaptured,
    long FramesDropped,
    long FramesSkipped)
{
    /// <summary>The state as the status topic spells it: <c>starting</c>, <c>connecting</c>, <c>ok</c>, <c>reconnecting</c>, <c>failed</c>, <c>ended</c>, <c>stopped</c>.</summary>
    public string StateName => Name(State);

    /// <summary>The contract record for <c>edgemask/&lt;device&gt;/status</c>.</summary>
    public CameraHealthReport ToReport() => new(Camera, StateName, LastFrameAt, LastError, Reconnects);

    public static string Name(CameraHealthState state) => state switch
    {
        CameraHealthState.Starting => "starting",
        CameraHealthState.Connecting => "connecting",
        CameraHealthState.Ok => "ok",
        CameraHealthState.Reconnecting => "reconnecting",
        CameraHealthState.Failed => "failed",
        CameraHealthState.Ended => "ended",
        CameraHealthState.Stopped => "stopped",
        _ => throw new ArgumentOutOfRangeException(nameof(state), state, null),
    };
}
