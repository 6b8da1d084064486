using EdgeMask.Core.Detection;

namespace EdgeMask.Core.Policy;

/// <summary>
/// Running totals for the camera statistics, written by the pipeline worker and read by the stats reporter on
/// another thread (hence the interlocked operations). Totals only grow; a reporter takes the difference of two
/// <see cref="Read"/> results for an interval. <see cref="ActiveViolations"/> is a level, not a total.
/// </summary>
public sealed class FaceCounters
{
    private long _facesSeen, _facesClassified, _facesUnmasked, _facesMasked;
    private long _labelledMask, _labelledNoMask, _labelledIncorrect;
    private long _violationsStarted, _violationsEnded, _violationUpdates, _violationsHandedOver, _stationaryHeld;
    private int _activeViolations;

    /// <param name="classification">The face's classification; null when it was not classified in this frame.</param>
    /// <param name="compliant">Whether the policy counts the face as compliant (see <see cref="ViolationPolicyOptions.IncorrectCounts"/>).</param>
    internal void AddFace(MaskClassification? classification, bool compliant)
    {
        Interlocked.Increment(ref _facesSeen);
        if (classification is not { } c) return;
        Interlocked.Increment(ref _facesClassified);
        if (compliant) Interlocked.Increment(ref _facesMasked);
        else Interlocked.Increment(ref _facesUnmasked);
        switch (c.Label)
        {
            case MaskLabel.Mask: Interlocked.Increment(ref _labelledMask); break;
            case MaskLabel.NoMask: Interlocked.Increment(ref _labelledNoMask); break;
            default: Interlocked.Increment(ref _labelledIncorrect); break;
        }
    }

    internal void Started()
    {
        Interlocked.Increment(ref _violationsStarted);
        Interlocked.Increment(ref _activeViolations);
    }

    /// <summary>A running episode moved to a new track of the same person (no new start).</summary>
    internal void HandedOver() => Interlocked.Increment(ref _violationsHandedOver);

    /// <summary>A start held back: the face is at a learnt stationary spot and has not moved (a picture found again).</summary>
    internal void StationaryHeld() => Interlocked.Increment(ref _stationaryHeld);

    internal void Updated() => Interlocked.Increment(ref _violationUpdates);

    internal void Ended()
    {
        Interlocked.Increment(ref _violationsEnded);
        Interlocked.Decrement(ref _activeViolations);
    }

    public FaceCountersSnapshot Read() => new(
        Interlocked.Read(ref _facesSeen),
        Interlocked.Read(ref _facesClassified),
        Interlocked.Read(ref _facesUnmasked),
        Interlocked.Read(ref _facesMasked),
        Interlocked.Read(ref _violationsStarted),
        Interlocked.Read(ref _violationUpdates),
        Interlocked.Read(ref _violationsEnded),
        Volatile.Read(ref _activeViolations))
    {
        LabelledMask = Interlocked.Read(ref _labelledMask),
        LabelledNoMask = Interlocked.Read(ref _labelledNoMask),
        LabelledIncorrect = Interlocked.Read(ref _labelledIncorrect),
        ViolationsHandedOver = Interlocked.Read(ref _violationsHandedOver),
        StationaryHeld = Interlocked.Read(ref _stationaryHeld),
    };
}

/// <summary>
/// Totals at one moment. Faces are counted per frame in which a track was matched to a detection (a face seen in
/// 30 frames counts 30 times), like the per-frame figures of <c>CameraStats</c>. <see cref="FacesMasked"/> and
/// <see cref="FacesUnmasked"/> split the classified faces as the violation policy counts them (a badly worn mask is
/// unmasked unless <c>violation.incorrectCounts</c> is compliant); <see cref="LabelledMask"/>,
/// <see cref="LabelledNoMask"/> and <see cref="LabelledIncorrect"/> split them by the classifier's label.
/// </summary>
public readonly record struct FaceCountersSnapshot(
    long FacesSeen,
    long FacesClassified,
    long FacesUnmasked,
    long FacesMasked,
    long ViolationsStarted,
    long ViolationUpdates,
    long ViolationsEnded,
    int ActiveViolations)
{
    public long LabelledMask { get; init; }
    public long LabelledNoMask { get; init; }
    public long LabelledIncorrect { get; init; }
    /// <summary>Running episodes that moved to a new track of the same person instead of being started again.</summary>
    public long ViolationsHandedOver { get; init; }
    /// <summary>Starts held back because the face was a learnt stationary face that had not moved (<see cref="ViolationPolicyOptions.Stationary"/>).</summary>
    public long StationaryHeld { get; init; }

    /// <summary>Masked (compliant) / classified faces between <paramref name="earlier"/> and this snapshot; null when none was classified.</summary>
    public double? ComplianceRateSince(in FaceCountersSnapshot earlier)
    {
        long classified = FacesClassified - earlier.FacesClassified;
        return classified <= 0 ? null : (double)(FacesMasked - earlier.FacesMasked) / classified;
    }
}
