using EdgeMask.Core.Detection;
using EdgeMask.Core.Geometry;

namespace EdgeMask.Core.Tracking;

/// <summary>
/// What was seen of a track in one frame: the raw detection (box, landmarks, score), the classification when the
/// face was classified, the frame it came from and when. This is the evidence the violation policy and the event
/// factory work from; the track's own <see cref="FaceTrack.Box"/> is the smoothed estimate.
/// </summary>
public readonly record struct TrackObservation(
    long FrameIndex,
    DateTimeOffset Timestamp,
    BoxF Box,
    float Score,
    Landmarks5 Landmarks,
    MaskClassification? Classification,
    int DetectionIndex)
{
    public bool IsClassified => Classification.HasValue;

    /// <summary>p(no_mask), or 0 when the face was not classified.</summary>
    public float NoMaskProbability => Classification is { } c ? c.NoMaskProbability : 0f;
}

/// <summary>Where a track is in its life.</summary>
public enum TrackState
{
    /// <summary>Seen fewer than <see cref="FaceTrackerOptions.ConfirmHits"/> times; dropped at its first miss.</summary>
    Tentative,

    /// <summary>A real face; kept through short gaps until it is older than the max age.</summary>
    Confirmed,

    /// <summary>Removed in this step (reported once in <see cref="FaceTracker.RemovedTracks"/>).</summary>
    Removed,
}
