using EdgeMask.Core.Events;
using EdgeMask.Core.Tracking;

namespace EdgeMask.Core.Policy;

public enum ViolationDecisionKind
{
    Start,
    Update,
    End,
}

/// <summary>Why a violation episode ended.</summary>
public enum ViolationEndReason
{
    /// <summary>The person put a mask on (the window fell below the end threshold).</summary>
    Masked,

    /// <summary>The track was removed: the person left the view or stayed hidden longer than the tracker's max age.</summary>
    Lost,

    /// <summary>The pipeline stopped (<see cref="ViolationPolicy.Flush"/>).</summary>
    Shutdown,
}

/// <summary>What an episode is about: no mask (every episode unless badly worn masks are counted separately) or a mask worn incorrectly.</summary>
public enum ViolationKind
{
    NoMask,

    /// <summary>A mask worn incorrectly, with <see cref="IncorrectMaskCounting.Separate"/>: events <c>incorrect.*</c>.</summary>
    Incorrect,
}

public static class ViolationWireNames
{
    /// <summary>The event type: <c>violation.start|update|end</c>, or <c>incorrect.start|update|end</c> for an incorrect-mask episode.</summary>
    public static string ToWireName(this ViolationDecisionKind kind, ViolationKind episode = ViolationKind.NoMask) => (episode, kind) switch
    {
        (ViolationKind.NoMask, ViolationDecisionKind.Start) => EventTypes.ViolationStart,
        (ViolationKind.NoMask, ViolationDecisionKind.Update) => EventTypes.ViolationUpdate,
        (ViolationKind.NoMask, ViolationDecisionKind.End) => EventTypes.ViolationEnd,
        (ViolationKind.Incorrect, ViolationDecisionKind.Start) => EventTypes.IncorrectStart,
        (ViolationKind.Incorrect, ViolationDecisionKind.Update) => EventTypes.IncorrectUpdate,
        (ViolationKind.Incorrect, ViolationDecisionKind.End) => EventTypes.IncorrectEnd,
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown decision or episode kind."),
    };

    /// <summary>The reason as written in <see cref="MaskEvent.EndReason"/>: <c>masked</c>, <c>lost</c>, <c>shutdown</c>.</summary>
    public static string ToWireName(this ViolationEndReason reason) => reason switch
    {
        ViolationEndReason.Masked => "masked",
        ViolationEndReason.Lost => "lost",
        ViolationEndReason.Shutdown => "shutdown",
        _ => throw new ArgumentOutOfRangeException(nameof(reason), reason, "Unknown end reason."),
    };
}

/// <summary>
/// One violation episode of one track, from start to end. Created at the start (the only allocation of the
/// policy besides a new track's state), shared by every decision of the episode.
/// </summary>
public sealed class ViolationEpisode
{
    internal ViolationEpisode(string id, long trackId, DateTimeOffset startedAt, ViolationKind kind = ViolationKind.NoMask)
    {
        Id = id;
        TrackId = trackId;
        StartedAt = startedAt;
        Kind = kind;
    }

    /// <summary>No mask, or (only with <see cref="IncorrectMaskCounting.Separate"/>) a mask worn incorrectly; fixed at the start.</summary>
    public ViolationKind Kind { get; }

    /// <summary>Stable for the episode: start, updates and end share it.</summary>
    public string Id { get; }
    /// <summary>The track that carries the episode now: it changes when the person's track was lost and found
    /// again under a new id (<see cref="ViolationPolicyOptions.HandoverDistance"/>); <see cref="Id"/> does not.</summary>
    public long TrackId { get; internal set; }
    /// <summary>When the episode started; moved with a step of the wall clock (<see cref="ViolationPolicy.ShiftTimes"/>) so that
    /// its later events give the start on the corrected clock and the right duration.</summary>
    public DateTimeOffset StartedAt { get; internal set; }
    public DateTimeOffset? EndedAt { get; internal set; }
    public ViolationEndReason? EndReason { get; internal set; }
    public bool IsOpen => EndedAt is null;

    /// <summary>The highest-quality evidence so far (what the last snapshot request showed).</summary>
    public TrackObservation BestObservation { get; internal set; }

    /// <summary>Quality of <see cref="BestObservation"/>: face short side (px) × detector score × p(violation).</summary>
    public float BestQuality { get; internal set; }

    /// <summary>Events decided so far (the next event's <see cref="MaskEvent.Sequence"/>).</summary>
    public int EventCount { get; internal set; }

    public DateTimeOffset LastEventAt { get; internal set; }

    /// <summary>Better evidence arrived after the last event; an update is due once the min interval has passed.</summary>
    internal bool UpdatePending { get; set; }

    public override string ToString() => $"episode {Id} track {TrackId} events {EventCount}";
}

/// <summary>
/// What the policy decided for one track in one step: everything <see cref="MaskEventFactory"/> needs for a
/// <see cref="MaskEvent"/>. <see cref="Evidence"/> is the frame the event describes: the current frame for a
/// start and for an end because of a mask, the best frame so far for an update, the last classified frame for an
/// end because the track was lost or at shutdown.
/// </summary>
public readonly record struct ViolationDecision(
    ViolationDecisionKind Kind,
    ViolationEpisode Episode,
    int Sequence,
    DateTimeOffset At,
    DateTimeOffset? EndedAt,
    ViolationEndReason? EndReason,
    TrackObservation Evidence,
    int FramesObserved,
    int FramesUnmasked,
    int FrameWidth,
    int FrameHeight)
{
    public long TrackId => Episode.TrackId;
}

/// <summary>
/// "This frame is the best view of this violation so far": the pipeline should crop/encode a snapshot from the
/// current frame around <see cref="Observation"/>'s box, store/publish it, and hand the result to
/// <see cref="MaskEventFactory.Create"/> for the events of this episode from this step on (the policy keeps no
/// snapshot state: what was stored is the pipeline's to know). Issued with every start and whenever the quality
/// improves by <see cref="ViolationPolicyOptions.SnapshotImprovementRatio"/>; always about the current frame.
/// </summary>
public readonly record struct SnapshotRequest(ViolationEpisode Episode, TrackObservation Observation, float Quality, bool IsStart);
