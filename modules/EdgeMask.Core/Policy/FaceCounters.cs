namespace EdgeMask.Core.Policy;

/// <summary>
/// Running totals for the camera statistics, written by the pipeline worker and read by the stats reporter on
/// another thread (hence the interlocked operations). Totals only grow; a reporter takes the difference of two
/// <see cref="Read"/> results for an interval. <see cref="ActiveViolations"/> is a level, not a total.
/// </summary>
public sealed class FaceCounters
{
    private long _facesSeen, _facesClassified, _facesUnmasked, _facesMasked;
    private long _violationsStarted, _violationsEnded, _violationUpdates;
    private int _activeViolations;

    internal void AddFace(bool classified, bool unmasked)
    {
        Interlocked.Increment(ref _facesSeen);
        if (!classified) return;
        Interlocked.Increment(ref _facesClassified);
        if (unmasked) Interlocked.Increment(ref _facesUnmasked);
        else Interlocked.Increment(ref _facesMasked);
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
        Volatile.Read(ref _activeViolations));
}

/// <summary>
/// Totals at one moment. Faces are counted per frame in which a track was matched to a detection (a face seen in
/// 30 frames counts 30 times), like the per-frame figures of <c>CameraStats</c>.
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
    /// <summary>Masked / classified faces between <paramref name="earlier"/> and this snapshot; null when none was classified.</summary>
    public double? ComplianceRateSince(in FaceCountersSnapshot earlier)
    {
        long classified = FacesClassified - earlier.FacesClassified;
        return classified <= 0 ? null : (double)(FacesMasked - earlier.FacesMasked) / classified;
    }
}
