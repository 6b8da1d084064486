namespace EdgeMask.Core.Tracking;

/// <summary>How a track's box is carried forward between detections.</summary>
public enum MotionModel
{
    /// <summary>Constant velocity on centre and size (a small Kalman filter per coordinate). The default.</summary>
    ConstantVelocity,

    /// <summary>No motion: a track is expected where it was last seen (plain IoU tracking). For comparison and tests.</summary>
    None,
}

/// <summary>
/// Options of <see cref="FaceTracker"/> (configuration section <c>Tracking</c>). Thresholds follow ByteTrack
/// (Zhang et al., 2022): detections split at <see cref="HighScoreThreshold"/>; the low band is only used to keep
/// existing tracks alive, never to start one. Ages are counted in frame indices (so "detect every Nth frame" and
/// dropped frames count as elapsed frames) and, optionally, in time.
/// </summary>
public sealed record FaceTrackerOptions
{
    public const string SectionName = "Tracking";

    /// <summary>Detections at or above this score take part in the first association and may start tracks.</summary>
    public float HighScoreThreshold { get; init; } = 0.6f;

    /// <summary>Detections in [LowScoreThreshold, HighScoreThreshold) only extend tracks in the second association.</summary>
    public float LowScoreThreshold { get; init; } = 0.1f;

    /// <summary>A high-score detection left unmatched starts a new (tentative) track only from this score.</summary>
    public float NewTrackThreshold { get; init; } = 0.7f;

    /// <summary>Minimum IoU between a track's predicted box and a high-score detection (first association).</summary>
    public float HighMatchIoU { get; init; } = 0.2f;

    /// <summary>
    /// Minimum IoU to re-find a confirmed track after a gap (not matched at the previous detection step). Stricter
    /// than <see cref="HighMatchIoU"/> because while a track is unseen its motion gate widens, and a new face that
    /// happens to appear over its old place (a scene cut, the next person at a counter) should start its own track.
    /// </summary>
    public float LostMatchIoU { get; init; } = 0.5f;

    /// <summary>Minimum IoU for a low-score detection (second association); stricter because such boxes are doubtful.</summary>
    public float LowMatchIoU { get; init; } = 0.5f;

    /// <summary>Minimum IoU to extend a tentative (not yet confirmed) track.</summary>
    public float TentativeMatchIoU { get; init; } = 0.3f;

    /// <summary>
    /// A detection matches a track only if its height is within this factor of the predicted height (either way).
    /// A face does not double in size between two detections, but after a scene cut or when one person replaces
    /// another, overlapping boxes of a different size are common: IoU alone would let the new face inherit the id.
    /// </summary>
    public float MaxSizeRatio { get; init; } = 1.5f;

    /// <summary>
    /// Gate on the squared Mahalanobis distance between a confirmed track's prediction and a detection (centre and
    /// size under the Kalman filter's current uncertainty, chi-square with 4 degrees of freedom; 9.49 keeps 95 % of
    /// genuine matches, DeepSORT's choice). IoU says two boxes overlap; the gate says the overlap is where this face
    /// was expected to be. It is what stops a new face that appears over an old track's box (a scene cut, one person
    /// replacing another) from inheriting the id. Uncertainty grows while a track is unseen, so the gate widens during
    /// occlusions. Tentative tracks (velocity still unknown) are not gated, nor is anything with <see cref="MotionModel.None"/>.
    /// Null turns the gate off (IoU only).
    /// </summary>
    public float? MotionGate { get; init; } = 9.4877f;

    /// <summary>Detections in a row a tentative track needs before it is confirmed (1 = confirm at once).</summary>
    public int ConfirmHits { get; init; } = 3;

    /// <summary>A confirmed track not matched for more than this many frames (by frame index) is removed as lost.</summary>
    public int MaxAgeFrames { get; init; } = 20;

    /// <summary>A confirmed track not matched for longer than this is removed as lost; null = frames only.</summary>
    public TimeSpan? MaxAge { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>How boxes move between detections.</summary>
    public MotionModel MotionModel { get; init; } = MotionModel.ConstantVelocity;

    /// <summary>Tracks kept at most (a guard against a detector gone wild); new tracks beyond it are not started.</summary>
    public int MaxTracks { get; init; } = 256;

    /// <summary>Throws <see cref="InvalidOptionException"/> naming the first bad key.</summary>
    public FaceTrackerOptions Validate(string section = SectionName)
    {
        string K(string name) => section.Length == 0 ? name : section + ":" + name;
        Probability(K(nameof(LowScoreThreshold)), LowScoreThreshold);
        Probability(K(nameof(HighScoreThreshold)), HighScoreThreshold);
        Probability(K(nameof(NewTrackThreshold)), NewTrackThreshold);
        if (LowScoreThreshold > HighScoreThreshold)
            throw new InvalidOptionException(K(nameof(LowScoreThreshold)), LowScoreThreshold,
                $"must not exceed {K(nameof(HighScoreThreshold))} ({HighScoreThreshold}).");
        if (NewTrackThreshold < HighScoreThreshold)
            throw new InvalidOptionException(K(nameof(NewTrackThreshold)), NewTrackThreshold,
                $"must be at least {K(nameof(HighScoreThreshold))} ({HighScoreThreshold}); only high-score detections start tracks.");
        UnitIoU(K(nameof(HighMatchIoU)), HighMatchIoU);
        UnitIoU(K(nameof(LowMatchIoU)), LowMatchIoU);
        UnitIoU(K(nameof(LostMatchIoU)), LostMatchIoU);
        UnitIoU(K(nameof(TentativeMatchIoU)), TentativeMatchIoU);
        if (!(MaxSizeRatio >= 1f && float.IsFinite(MaxSizeRatio)))
            throw new InvalidOptionException(K(nameof(MaxSizeRatio)), MaxSizeRatio, "must be 1 or more.");
        if (MotionGate is { } gate && !(gate > 0f && float.IsFinite(gate)))
            throw new InvalidOptionException(K(nameof(MotionGate)), gate, "must be a positive chi-square value (9.49 = 95 %), or null for no gate.");
        if (ConfirmHits is < 1 or > 1000)
            throw new InvalidOptionException(K(nameof(ConfirmHits)), ConfirmHits, "must be between 1 and 1000.");
        if (MaxAgeFrames is < 0 or > 100_000)
            throw new InvalidOptionException(K(nameof(MaxAgeFrames)), MaxAgeFrames, "must be between 0 and 100000.");
        if (MaxAge is { } age && age < TimeSpan.Zero)
            throw new InvalidOptionException(K(nameof(MaxAge)), age, "must not be negative.");
        if (!Enum.IsDefined(MotionModel))
            throw new InvalidOptionException(K(nameof(MotionModel)), MotionModel, "must be ConstantVelocity or None.");
        if (MaxTracks is < 1 or > 100_000)
            throw new InvalidOptionException(K(nameof(MaxTracks)), MaxTracks, "must be between 1 and 100000.");
        return this;
    }

    private static void Probability(string key, float value)
    {
        if (!(value >= 0f && value <= 1f))
            throw new InvalidOptionException(key, value, "must be a score between 0 and 1.");
    }

    private static void UnitIoU(string key, float value)
    {
        // IoU 0 would match disjoint boxes, i.e. any detection anywhere.
        if (!(value > 0f && value <= 1f))
            throw new InvalidOptionException(key, value, "must be an IoU greater than 0 and at most 1.");
    }
}
