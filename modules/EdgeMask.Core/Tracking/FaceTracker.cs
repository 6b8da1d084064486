using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using EdgeMask.Core.Detection;
using EdgeMask.Core.Geometry;

namespace EdgeMask.Core.Tracking;

/// <summary>
/// ByteTrack-style face tracker for one camera: stable ids across frames and short occlusions, association by IoU
/// against boxes predicted by a constant-velocity model, high-score detections first and low-score ones only to
/// extend tracks that were seen at the previous detection step.
/// </summary>
/// <remarks>
/// Not thread-safe: one tracker per camera pipeline, called from its one worker. Steady state allocates nothing:
/// tracks are pooled, scratch arrays grow to the largest frame seen and are reused, and the results are spans over
/// internal lists that stay valid until the next call.
/// </remarks>
public sealed class FaceTracker
{
    private FaceTrackerOptions _options;
    private bool _useVelocity;
    private readonly List<FaceTrack> _tracks = new(32);
    private readonly List<FaceTrack> _removed = new(8);
    private readonly Stack<FaceTrack> _pool = new(32);
    private long _nextId = 1;
    private bool _started;

    // Scratch, reused every step.
    private int[] _high = new int[32];
    private int[] _low = new int[32];
    private bool[] _detectionUsed = new bool[32];
    private bool[] _trackMatched = new bool[32];
    private MatchCandidate[] _pairs = new MatchCandidate[256];

    public FaceTracker(FaceTrackerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options.Validate();
        _useVelocity = options.MotionModel == MotionModel.ConstantVelocity;
    }

    public FaceTrackerOptions Options => _options;

    /// <summary>
    /// Uses <paramref name="options"/> from the next step on, keeping every track, its id, motion state and history:
    /// a live settings change (thresholds, gates, ages) must not end the violations of the people in view. Call
    /// between two steps, on the tracker's own thread.
    /// </summary>
    public void Reconfigure(FaceTrackerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options.Validate();
        _useVelocity = options.MotionModel == MotionModel.ConstantVelocity;
    }

    /// <summary>
    /// The wall clock stepped by <paramref name="step"/> between the last step and the next (NTP setting the clock): every
    /// live track's instants move with it, so the next step does not take a step forward for hours of absence (and end
    /// every track as lost, to be started again as new people). Call between two steps.
    /// </summary>
    public void ShiftTimes(TimeSpan step)
    {
        Timestamp += step;
        foreach (FaceTrack track in _tracks) track.ShiftTimes(step);
    }

    /// <summary>Live tracks (tentative and confirmed, seen or predicted) after the last step, oldest first.</summary>
    public ReadOnlySpan<FaceTrack> Tracks => CollectionsMarshal.AsSpan(_tracks);

    /// <summary>
    /// Tracks removed in the last step, with their last evidence. A removed confirmed track is "lost": the person
    /// left or stayed hidden longer than the max age. Valid until the next call.
    /// </summary>
    public ReadOnlySpan<FaceTrack> RemovedTracks => CollectionsMarshal.AsSpan(_removed);

    /// <summary>The frame index and time of the last step.</summary>
    public long FrameIndex { get; private set; } = -1;
    public DateTimeOffset Timestamp { get; private set; }

    /// <summary>Tracks started so far (including tentative ones that never got confirmed).</summary>
    public long TracksStarted { get; private set; }

    /// <summary>Tracks that reached the confirmed state so far: roughly the number of distinct faces seen.</summary>
    public long TracksConfirmed { get; private set; }

    /// <summary>Associates this frame's detections with the tracks; see <see cref="Update(ReadOnlySpan{FaceDetection}, ReadOnlySpan{MaskClassification}, long, DateTimeOffset)"/>.</summary>
    public ReadOnlySpan<FaceTrack> Update(ReadOnlySpan<FaceDetection> detections, long frameIndex, DateTimeOffset timestamp) =>
        Update(detections, ReadOnlySpan<MaskClassification>.Empty, frameIndex, timestamp);

    /// <summary>
    /// One detection step: predicts every track to <paramref name="frameIndex"/>, associates the detections
    /// (classification <c>i</c> belongs to detection <c>i</c>; pass an empty span when the faces are classified
    /// later, see <see cref="FaceTrack.AttachClassification"/>), starts tentative tracks for new faces and removes
    /// tracks that are too old. <paramref name="frameIndex"/> must increase from call to call; skipped indices
    /// (dropped frames, frames without detection) count as elapsed frames for motion and age.
    /// </summary>
    public ReadOnlySpan<FaceTrack> Update(ReadOnlySpan<FaceDetection> detections, ReadOnlySpan<MaskClassification> classifications,
        long frameIndex, DateTimeOffset timestamp)
    {
        if (!classifications.IsEmpty && classifications.Length != detections.Length)
            throw new ArgumentException(
                $"Got {classifications.Length} classifications for {detections.Length} detections; pass one per detection or none.",
                nameof(classifications));
        BeginStep(frameIndex, timestamp);

        int trackCount = _tracks.Count;
        EnsureCapacity(detections.Length, trackCount);
        Span<bool> used = _detectionUsed.AsSpan(0, detections.Length);
        used.Clear();
        Span<bool> matched = _trackMatched.AsSpan(0, trackCount);
        matched.Clear();

        int highCount = 0, lowCount = 0;
        for (int i = 0; i < detections.Length; i++)
        {
            ref readonly FaceDetection d = ref detections[i];
            if (!IsUsable(d)) continue;
            if (d.Score >= _options.HighScoreThreshold) _high[highCount++] = i;
            else if (d.Score >= _options.LowScoreThreshold) _low[lowCount++] = i;
        }
        ReadOnlySpan<int> high = _high.AsSpan(0, highCount);
        ReadOnlySpan<int> low = _low.AsSpan(0, lowCount);

        // 1. Confirmed tracks (also those in a gap) with the confident detections.
        Associate(detections, classifications, high, TrackFilter.Confirmed, _options.HighMatchIoU, frameIndex, timestamp);
        // 2. Tracks seen at the previous step with the doubtful detections: a face turning away or blurred by motion
        //    scores low, and this keeps its track without letting doubtful boxes start or revive tracks.
        Associate(detections, classifications, low, TrackFilter.ConfirmedSeenLastStep, _options.LowMatchIoU, frameIndex, timestamp);
        // 3. Tentative tracks with what is left of the confident detections.
        Associate(detections, classifications, high, TrackFilter.Tentative, _options.TentativeMatchIoU, frameIndex, timestamp);

        for (int t = 0; t < trackCount; t++)
        {
            if (matched[t]) continue;
            FaceTrack track = _tracks[t];
            track.MissedDetections++;
            // A tentative track that misses once was most likely a false positive (ByteTrack drops it the same way).
            if (track.State == TrackState.Tentative || IsExpired(track, frameIndex, timestamp))
                track.State = TrackState.Removed;
        }

        for (int k = 0; k < highCount; k++)
        {
            int i = high[k];
            if (used[i] || detections[i].Score < _options.NewTrackThreshold) continue;
            if (_tracks.Count >= _options.MaxTracks) break;
            FaceTrack track = _pool.Count > 0 ? _pool.Pop() : new FaceTrack();
            bool confirmNow = _options.ConfirmHits <= 1;
            track.Start(_nextId++, Observe(detections, classifications, i, frameIndex, timestamp), confirmNow);
            TracksStarted++;
            if (confirmNow) TracksConfirmed++;
            _tracks.Add(track);
        }

        Compact();
        return Tracks;
    }

    /// <summary>
    /// A step without detection ("detect every Nth frame, track in between"): advances every track to
    /// <paramref name="frameIndex"/> with the motion model and returns the predicted boxes. Tracks are not
    /// charged a miss (nothing was looked for), but tracks older than the max age are still removed.
    /// </summary>
    public ReadOnlySpan<FaceTrack> Predict(long frameIndex, DateTimeOffset timestamp)
    {
        BeginStep(frameIndex, timestamp);
        foreach (FaceTrack track in CollectionsMarshal.AsSpan(_tracks))
        {
            if (track.State == TrackState.Confirmed && IsExpired(track, frameIndex, timestamp))
                track.State = TrackState.Removed;
        }
        Compact();
        return Tracks;
    }

    /// <summary>
    /// Removes every track (reported in <see cref="RemovedTracks"/>), e.g. when the source restarted and the scene
    /// may have changed. Ids keep increasing.
    /// </summary>
    public void Clear()
    {
        RecycleRemoved();
        foreach (FaceTrack track in CollectionsMarshal.AsSpan(_tracks))
        {
            track.State = TrackState.Removed;
            _removed.Add(track);
        }
        _tracks.Clear();
    }

    private void BeginStep(long frameIndex, DateTimeOffset timestamp)
    {
        if (_started && frameIndex <= FrameIndex)
            throw new ArgumentOutOfRangeException(nameof(frameIndex), frameIndex,
                $"Frame indices must increase; the last step was frame {FrameIndex}. Keep one counter per camera across source restarts.");
        _started = true;
        FrameIndex = frameIndex;
        Timestamp = timestamp;
        RecycleRemoved();
        foreach (FaceTrack track in CollectionsMarshal.AsSpan(_tracks))
            track.PredictTo(frameIndex, _useVelocity);
    }

    private void RecycleRemoved()
    {
        foreach (FaceTrack track in CollectionsMarshal.AsSpan(_removed))
            _pool.Push(track);
        _removed.Clear();
    }

    private enum TrackFilter { Confirmed, ConfirmedSeenLastStep, Tentative }

    private void Associate(ReadOnlySpan<FaceDetection> detections, ReadOnlySpan<MaskClassification> classifications,
        ReadOnlySpan<int> candidates, TrackFilter filter, float minIoU, long frameIndex, DateTimeOffset timestamp)
    {
        if (candidates.IsEmpty) return;
        int trackCount = _tracks.Count;
        Span<bool> used = _detectionUsed;
        Span<bool> matched = _trackMatched;

        int pairCount = 0;
        for (int t = 0; t < trackCount; t++)
        {
            if (matched[t]) continue;
            FaceTrack track = _tracks[t];
            bool eligible = filter switch
            {
                TrackFilter.Confirmed => track.State == TrackState.Confirmed,
                // MissedDetections still holds the count before this step: 0 = matched at the previous detection step.
                TrackFilter.ConfirmedSeenLastStep => track.State == TrackState.Confirmed && track.MissedDetections == 0,
                _ => track.State == TrackState.Tentative,
            };
            if (!eligible) continue;
            bool inGap = track.State == TrackState.Confirmed && track.MissedDetections > 0;
            bool gate = track.State == TrackState.Confirmed && _useVelocity && _options.MotionGate.HasValue;
            float gateValue = _options.MotionGate.GetValueOrDefault();
            var predicted = track.Box;
            float minHeight = predicted.Height / _options.MaxSizeRatio, maxHeight = predicted.Height * _options.MaxSizeRatio;
            foreach (int i in candidates)
            {
                if (used[i]) continue;
                BoxF box = detections[i].Box;
                if (box.Height < minHeight || box.Height > maxHeight) continue;
                float iou = predicted.IoU(box);
                if (iou < minIoU || (inGap && iou < _options.LostMatchIoU)) continue;
                if (gate && track.MahalanobisSquared(box) > gateValue) continue;
                if (pairCount == _pairs.Length) Array.Resize(ref _pairs, _pairs.Length * 2);
                _pairs[pairCount++] = new MatchCandidate(iou, t, i);
            }
        }
        if (pairCount == 0) return;

        // Greedy by descending IoU. With a handful of faces per frame and a motion model that puts each prediction
        // close to its face, greedy and optimal (Hungarian) assignment agree except in contrived ties; greedy needs
        // no cost matrix and no allocation.
        Span<MatchCandidate> pairs = _pairs.AsSpan(0, pairCount);
        SortDescending(pairs);
        foreach (ref readonly MatchCandidate p in pairs)
        {
            if (matched[p.Track] || used[p.Detection]) continue;
            matched[p.Track] = true;
            used[p.Detection] = true;
            FaceTrack track = _tracks[p.Track];
            bool confirmNow = track.State == TrackState.Tentative && track.Hits + 1 >= _options.ConfirmHits;
            track.Match(Observe(detections, classifications, p.Detection, frameIndex, timestamp), confirmNow);
            if (confirmNow) TracksConfirmed++;
        }
    }

    private bool IsExpired(FaceTrack track, long frameIndex, DateTimeOffset timestamp) =>
        frameIndex - track.LastSeenFrameIndex > _options.MaxAgeFrames
        || (_options.MaxAge is { } maxAge && timestamp - track.LastSeenAt > maxAge);

    private void Compact()
    {
        int write = 0;
        for (int read = 0; read < _tracks.Count; read++)
        {
            FaceTrack track = _tracks[read];
            if (track.State == TrackState.Removed) _removed.Add(track);
            else _tracks[write++] = track;
        }
        if (write < _tracks.Count) _tracks.RemoveRange(write, _tracks.Count - write);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TrackObservation Observe(ReadOnlySpan<FaceDetection> detections, ReadOnlySpan<MaskClassification> classifications,
        int i, long frameIndex, DateTimeOffset timestamp)
    {
        ref readonly FaceDetection d = ref detections[i];
        MaskClassification? c = classifications.IsEmpty ? null : classifications[i];
        return new TrackObservation(frameIndex, timestamp, d.Box, d.Score, d.Landmarks, c, i);
    }

    private static bool IsUsable(in FaceDetection d) =>
        float.IsFinite(d.Score) && float.IsFinite(d.Box.X1) && float.IsFinite(d.Box.Y1)
        && float.IsFinite(d.Box.X2) && float.IsFinite(d.Box.Y2) && d.Box.Area > 0f;

    private void EnsureCapacity(int detections, int tracks)
    {
        if (_high.Length < detections)
        {
            int n = Math.Max(detections, _high.Length * 2);
            _high = new int[n];
            _low = new int[n];
            _detectionUsed = new bool[n];
        }
        if (_trackMatched.Length < tracks)
            _trackMatched = new bool[Math.Max(tracks, _trackMatched.Length * 2)];
    }

    private readonly record struct MatchCandidate(float IoU, int Track, int Detection);

    /// <summary>
    /// Insertion sort, highest IoU first, ties by track then detection (deterministic). Only pairs above the IoU
    /// gate get here, about one per track, so the list is short; and unlike Span.Sort with a comparer it cannot box.
    /// </summary>
    private static void SortDescending(Span<MatchCandidate> pairs)
    {
        for (int i = 1; i < pairs.Length; i++)
        {
            MatchCandidate item = pairs[i];
            int j = i - 1;
            while (j >= 0 && Before(item, pairs[j]))
            {
                pairs[j + 1] = pairs[j];
                j--;
            }
            pairs[j + 1] = item;
        }

        static bool Before(in MatchCandidate a, in MatchCandidate b) =>
            a.IoU > b.IoU || (a.IoU == b.IoU && (a.Track < b.Track || (a.Track == b.Track && a.Detection < b.Detection)));
    }
}
