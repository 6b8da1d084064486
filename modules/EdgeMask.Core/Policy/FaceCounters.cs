using EdgeMask.Core.Detection;

namespace EdgeMask.Core.Policy;

/// <summary>
/// Running totals for the camera statistics, written by the pipeline worker and read by the stats reporter on
/// another thread (hence the interlocked operations). Totals only grow; a reporter takes the difference of two
/// <see cref="Read"/> results for an interval. <see cref="ActiveViolations"/> is a level, not a total.
/// </summary>
public sealed class FaceCounters
{
    private long _facesSeen, _facesClassified, _facesUnmasked, _facesMasked, _facesIncorrect, _facesCompliant;
    private long _violationsStarted, _violationsEnded, _violationUpdates;
    private int _activeViolations;

    /// <param name="classification">The face's classification; null when it was not classified in this frame.</param>
    /// <param name="compliant">Whether the policy counts the face as compliant (see <see cref="ViolationPolicyOptions.IncorrectCounts"/>).</param>
    internal void AddFace(MaskClassification? classification, bool compliant)
    {
        Interlocked.Increment(ref _facesSeen);
        if (classification is not { } c) return;
        Interlocked.Increment(ref _facesClassified);
        switch (c.Label)
        {
            case MaskLabel.Mask: Interlocked.Increment(ref _facesMasked); break;
            case MaskLabel.NoMask: Interlocked.Increment(ref _facesUnmasked); break;
            default: Interlocked.Increment(ref _facesIncorrect); break;
        }
        if (compliant) Interlocked.Increment(ref _facesCompliant);
    }

    internal void Started()
    {
        Interlocked.Increment(ref _violationsStarted);
        Interlocked.Increment(ref _activeViolations);
    }

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
        FacesIncorrect = Interlocked.Read(ref _facesIncorrect),
        FacesCompliant = Interlocked.Read(ref _facesCompliant),
    };
}

/// <summary>
/// Totals at one moment. Faces are counted per frame in which a track was matched to a detection (a face seen in
/// 30 frames counts 30 times), like the per-frame figures of <c>CameraStats</c>. <see cref="FacesMasked"/>,
/// <see cref="FacesUnmasked"/> and <see cref="FacesIncorrect"/> count the classifier's labels; <see cref="FacesCompliant"/>
/// the faces the violation policy counts as compliant (with a badly worn mask among them when it says so).
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
    public long FacesIncorrect { get; init; }
    public long FacesCompliant { get; init; }

    /// <summary>Compliant / classified faces between <paramref name="earlier"/> and this snapshot; null when none was classified.</summary>
    public double? ComplianceRateSince(in FaceCountersSnapshot earlier)
    {
        long classified = FacesClassified - earlier.FacesClassified;
        return classified <= 0 ? null : (double)(FacesCompliant - earlier.FacesCompliant) / classified;
    }
}
