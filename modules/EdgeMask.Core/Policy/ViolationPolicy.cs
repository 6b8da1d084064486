using System.Runtime.InteropServices;
using EdgeMask.Core.Detection;
using EdgeMask.Core.Geometry;
using EdgeMask.Core.Tracking;

namespace EdgeMask.Core.Policy;

/// <summary>Makes the id of a violation episode; must be unique per device and camera over time.</summary>
public delegate string EpisodeIdGenerator(string device, string camera, long trackId, DateTimeOffset startedAt);

/// <summary>
/// The violation policy of one camera: turns the per-frame evidence of tracks into violation episodes
/// (start → updates → exactly one end). See <see cref="ViolationPolicyOptions"/> for the rules.
/// </summary>
/// <remarks>
/// Not thread-safe: called by the camera's pipeline worker after each tracker step (only <see cref="Counters"/> may
/// be read from elsewhere). Time comes from the observations' timestamps and the tracker step, never from a clock,
/// so behaviour is reproducible. Steady state allocates nothing: per-track state is pooled and the decision lists
/// are reused; only a start allocates (its episode and id).
/// </remarks>
public sealed class ViolationPolicy
{
    private ViolationPolicyOptions _options;
    private readonly string _device;
    private readonly string _camera;
    private readonly EpisodeIdGenerator _newEpisodeId;
    private readonly Dictionary<long, TrackPolicyState> _states = new(64);
    private readonly Stack<TrackPolicyState> _pool = new(64);
    private readonly List<ViolationDecision> _decisions = new(16);
    private readonly List<SnapshotRequest> _snapshots = new(16);
    private readonly List<StationaryFace> _learned = new(4);
    private PointF2[][] _zonePixels, _ignorePixels;
    private int _zoneFrameWidth = -1, _zoneFrameHeight = -1;
    private int _frameWidth, _frameHeight;

    /// <param name="stationary">The camera's learnt stationary faces, when they should outlive this policy (a pipeline restart); null: its own.</param>
    public ViolationPolicy(ViolationPolicyOptions options, string device, string camera, EpisodeIdGenerator? episodeIds = null,
        StationaryFaces? stationary = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(device);
        ArgumentException.ThrowIfNullOrWhiteSpace(camera);
        _options = options.Validate();
        _device = device;
        _camera = camera;
        _newEpisodeId = episodeIds ?? DefaultEpisodeId;
        Stationary = stationary ?? new StationaryFaces();
        _zonePixels = AllocateZones(options.Zones);
        _ignorePixels = AllocateZones(options.IgnoreZones);
    }

    private static PointF2[][] AllocateZones(IReadOnlyList<ZoneOptions> options)
    {
        var zones = new PointF2[options.Count][];
        for (int z = 0; z < zones.Length; z++) zones[z] = new PointF2[options[z].Points.Count];
        return zones;
    }

    /// <summary>
    /// Uses <paramref name="options"/> from the next <see cref="Evaluate(FaceTracker, int, int)"/> on, keeping every
    /// track's window and every open episode (a live threshold change must not end or restart the violations in
    /// progress). A different window length keeps each track's newest frames; new zones apply to the next frame.
    /// Call between two steps, on the policy's own thread.
    /// </summary>
    public void Reconfigure(ViolationPolicyOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (options.WindowFrames != _options.WindowFrames)
        {
            foreach (TrackPolicyState state in _states.Values) state.Resize(options.WindowFrames);
        }
        _options = options;
        _zonePixels = AllocateZones(options.Zones);
        _ignorePixels = AllocateZones(options.IgnoreZones);
        _zoneFrameWidth = _zoneFrameHeight = -1;
        if (!options.Stationary.Enabled) Stationary.Clear();
    }

    /// <summary>
    /// The wall clock stepped by <paramref name="step"/> (NTP setting the clock, by minutes or hours): every instant the
    /// policy remembers moves with it — cooldowns, the update interval, stillness, learnt pictures and the open episodes'
    /// starts — so that no duration stretches or shrinks by the step. An open episode's later events give its start on
    /// the corrected clock (its id, made at the start, does not change). Call between two steps, with the tracker's.
    /// </summary>
    public void ShiftTimes(TimeSpan step)
    {
        foreach (TrackPolicyState state in _states.Values)
        {
            if (state.CooldownUntil is { } until) state.CooldownUntil = until + step;
            if (state.HasAnchor) state.StillSince += step;
            if (state.LastClassified.Timestamp != default)
                state.LastClassified = state.LastClassified with { Timestamp = state.LastClassified.Timestamp + step };
            if (state.Episode is { } e)
            {
                e.StartedAt += step;
                e.LastEventAt += step;
                e.BestObservation = e.BestObservation with { Timestamp = e.BestObservation.Timestamp + step };
            }
        }
        Stationary.ShiftTimes(step);
    }

    /// <summary><c>&lt;device&gt;-&lt;camera&gt;-&lt;trackId&gt;-&lt;start time in UTC ticks&gt;</c>: track ids restart with the process, times do not.</summary>
    public static string DefaultEpisodeId(string device, string camera, long trackId, DateTimeOffset startedAt) =>
        $"{device}-{camera}-{trackId}-{startedAt.UtcTicks}";

    public ViolationPolicyOptions Options => _options;
    public FaceCounters Counters { get; } = new();

    /// <summary>The camera's learnt stationary faces (<see cref="ViolationPolicyOptions.Stationary"/>).</summary>
    public StationaryFaces Stationary { get; }

    /// <summary>Stationary faces learnt in the last step (for the pipeline to log). Valid until the next call.</summary>
    public ReadOnlySpan<StationaryFace> LearnedThisStep => CollectionsMarshal.AsSpan(_learned);

    /// <summary>Decisions of the last step, in order (ends of lost tracks first). Valid until the next call.</summary>
    public ReadOnlySpan<ViolationDecision> Decisions => CollectionsMarshal.AsSpan(_decisions);

    /// <summary>Snapshots the pipeline should take from the current frame. Valid until the next call.</summary>
    public ReadOnlySpan<SnapshotRequest> SnapshotRequests => CollectionsMarshal.AsSpan(_snapshots);

    /// <summary>
    /// Whether one more classification of this track can change nothing soon: its window is full and every frame of
    /// it says the same — no frame in violation (p(violation) below the end probability) and no episode, or every frame
    /// a strong violation during an episode. The first frame that disagrees unsettles it. The pipeline classifies a
    /// settled track's face less often (<c>CameraPipelineSettings.ClassifySettledEveryNthFrame</c>).
    /// </summary>
    public bool IsSettled(long trackId) =>
        _states.TryGetValue(trackId, out TrackPolicyState? s) && s.Count == _options.WindowFrames
        && (s.Episode is null ? s.WeakCount == 0 : s.StrongCount == s.Count);

    /// <summary>Episodes currently open.</summary>
    public int ActiveViolations { get; private set; }

    /// <summary>Evaluates the tracker's last step (its tracks, removed tracks and timestamp).</summary>
    public ReadOnlySpan<ViolationDecision> Evaluate(FaceTracker tracker, int frameWidth, int frameHeight)
    {
        ArgumentNullException.ThrowIfNull(tracker);
        return Evaluate(tracker.Tracks, tracker.RemovedTracks, frameWidth, frameHeight, tracker.Timestamp);
    }

    /// <summary>
    /// One step: ends the episodes of <paramref name="removed"/> tracks (reason lost), feeds this frame's classified
    /// observations of <paramref name="tracks"/> into their windows, and decides starts, updates and ends. Call it
    /// exactly once after every tracker step: a second call for the same step would count its frame twice.
    /// </summary>
    public ReadOnlySpan<ViolationDecision> Evaluate(ReadOnlySpan<FaceTrack> tracks, ReadOnlySpan<FaceTrack> removed,
        int frameWidth, int frameHeight, DateTimeOffset now)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(frameWidth);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(frameHeight);
        _decisions.Clear();
        _snapshots.Clear();
        _learned.Clear();
        _frameWidth = frameWidth;
        _frameHeight = frameHeight;
        if ((_zonePixels.Length > 0 || _ignorePixels.Length > 0) && (frameWidth != _zoneFrameWidth || frameHeight != _zoneFrameHeight))
            ScaleZones(frameWidth, frameHeight);
        if (_options.Stationary.Enabled) Stationary.BeginFrame(frameWidth, frameHeight, now - _options.Stationary.ForgetAfter);

        foreach (FaceTrack track in removed)
        {
            if (!_states.Remove(track.Id, out TrackPolicyState? state)) continue;
            if (state.Episode is { } episode)
            {
                // The person was last seen at the track's last match, not now (now is up to MaxAge later).
                DateTimeOffset endedAt = track.LastSeenAt;
                if (endedAt < episode.StartedAt) endedAt = episode.StartedAt;
                End(state, ViolationEndReason.Lost, now, endedAt, state.LastClassified);
            }
            _pool.Push(state);
        }

        // Every removed track comes through `removed` when Evaluate follows every tracker step. If a step was
        // skipped, states of vanished tracks would linger with their episodes open; end those as lost here, so
        // every start still gets its end.
        if (_states.Count > tracks.Length) EndOrphans(tracks, now);

        foreach (FaceTrack track in tracks)
        {
            if (track.IsObservedThisFrame)
            {
                TrackObservation obs = track.Observation;
                Counters.AddFace(obs.Classification, obs.Classification is { } c && !_options.IncorrectCounts.IsViolation(c));
                if (obs.IsClassified) Observe(track, in obs, now, tracks);
            }
            if (_states.TryGetValue(track.Id, out TrackPolicyState? s) && s.Episode is { UpdatePending: true } e
                && now - e.LastEventAt >= _options.UpdateMinInterval)
            {
                Emit(ViolationDecisionKind.Update, s, now, null, null, e.BestObservation);
                Counters.Updated();
            }
        }
        return Decisions;
    }

    /// <summary>
    /// Ends every open episode with reason <c>shutdown</c> (call when the pipeline stops, then publish the
    /// decisions). The tracks stay known, with a cooldown as after any end.
    /// </summary>
    public ReadOnlySpan<ViolationDecision> Flush(DateTimeOffset now)
    {
        _decisions.Clear();
        _snapshots.Clear();
        foreach (TrackPolicyState state in _states.Values)
        {
            if (state.Episode is not null)
                End(state, ViolationEndReason.Shutdown, now, now, state.LastClassified);
        }
        // Decisions in start order, so a consumer sees the episodes close in the order they opened.
        CollectionsMarshal.AsSpan(_decisions).Sort(static (a, b) => a.Episode.StartedAt.CompareTo(b.Episode.StartedAt) is var c && c != 0
            ? c : a.TrackId.CompareTo(b.TrackId));
        return Decisions;
    }

    private void EndOrphans(ReadOnlySpan<FaceTrack> tracks, DateTimeOffset now)
    {
        long orphan;
        do
        {
            orphan = 0;
            foreach (KeyValuePair<long, TrackPolicyState> entry in _states)
            {
                bool live = false;
                foreach (FaceTrack t in tracks)
                {
                    if (t.Id == entry.Key) { live = true; break; }
                }
                if (!live) { orphan = entry.Key; break; }
            }
            // Track ids start at 1, so 0 means "none found".
            if (orphan != 0 && _states.Remove(orphan, out TrackPolicyState? state))
            {
                if (state.Episode is { } episode)
                {
                    DateTimeOffset endedAt = state.LastClassified.Timestamp < episode.StartedAt ? episode.StartedAt : state.LastClassified.Timestamp;
                    End(state, ViolationEndReason.Lost, now, endedAt, state.LastClassified);
                }
                _pool.Push(state);
            }
        } while (orphan != 0);
    }

    private void Observe(FaceTrack track, in TrackObservation obs, DateTimeOffset now, ReadOnlySpan<FaceTrack> tracks)
    {
        if (!_states.TryGetValue(track.Id, out TrackPolicyState? state))
        {
            state = _pool.Count > 0 ? _pool.Pop() : new TrackPolicyState();
            state.Reset(track.Id, _options.WindowFrames);
            _states.Add(track.Id, state);
        }

        MaskClassification c = obs.Classification!.Value;
        // p(this frame counts against the person): p(no_mask), plus p(incorrect) unless badly worn masks count as compliant.
        float pViolation = _options.IncorrectCounts.ViolationProbability(c);
        bool violating = pViolation > 0.5f;
        BoxF clipped = obs.Box.ClipTo(_frameWidth, _frameHeight);
        ViolationEpisode? episode = state.Episode;
        bool eligible = clipped.ShortSide >= _options.MinFaceSize && InZone(clipped)
            && (episode is not null || (!AtFrameEdge(clipped) && !IsCoveredByEarlierFaces(track, clipped, tracks)));

        state.LastClassified = obs;
        state.ConsecutiveMasked = violating ? 0 : state.ConsecutiveMasked + 1;
        if (_options.Stationary.Enabled) TrackStillness(state, clipped, obs.Timestamp);
        // Before a violation only frames that could start one count; during one every classified frame counts,
        // because the question is then only whether the person is still unmasked.
        if (eligible || episode is not null)
        {
            bool strong = violating && pViolation >= _options.StartProbability;
            bool weak = violating && pViolation >= _options.EndProbability;
            state.Push(strong, weak, incorrect: c.IncorrectProbability > c.NoMaskProbability);
        }

        if (episode is null)
        {
            if (eligible && track.IsConfirmed && violating && pViolation >= _options.StartProbability)
            {
                // A new track where a running episode's track just went unseen is most likely the same person with a
                // new track id (a missed detection, an occlusion, dropped frames): the episode follows the person
                // instead of being announced a second time. It takes the new track's own evidence (more window frames
                // in violation than an end allows) so the handed-over episode does not end at the next frame.
                if (state.WeakCount > _options.EndMaxUnmaskedFrames && TryTakeOver(state, track, tracks, now)) return;
                if (state.StrongCount >= _options.StartUnmaskedFrames && (state.CooldownUntil is not { } until || now >= until)
                    && !IsHeldAsStationary(state, clipped))
                    Start(state, in obs, now, Quality(clipped, obs.Score, pViolation));
            }
            return;
        }

        bool maskedLongEnough = _options.EndMaskedConsecutiveFrames > 0 && state.ConsecutiveMasked >= _options.EndMaskedConsecutiveFrames;
        if (state.WeakCount <= _options.EndMaxUnmaskedFrames || maskedLongEnough)
        {
            End(state, ViolationEndReason.Masked, now, obs.Timestamp, obs);
            return;
        }

        if (violating)
        {
            float quality = Quality(clipped, obs.Score, pViolation);
            if (quality >= episode.BestQuality * _options.SnapshotImprovementRatio && quality > episode.BestQuality)
            {
                episode.BestObservation = obs;
                episode.BestQuality = quality;
                episode.UpdatePending = true;
                _snapshots.Add(new SnapshotRequest(episode, obs, quality, IsStart: false));
            }
        }
    }

    /// <summary>
    /// Follows how still the track's face stays: the anchor is where it was when it last moved by more than the tolerance.
    /// A face put for <see cref="StationaryFaceOptions.After"/> is learnt as a stationary face; a face at (or, partly
    /// hidden, within) a learnt spot keeps the spot alive; a track stays "at the spot" while every box of it is.
    /// </summary>
    private void TrackStillness(TrackPolicyState state, in BoxF box, DateTimeOffset at)
    {
        StationaryFaceOptions o = _options.Stationary;
        int spot = Stationary.Count > 0 ? Stationary.FindCovering(box, o.Tolerance) : -1;
        if (spot >= 0) Stationary.Seen(spot, at);
        if (!state.HasAnchor)
        {
            state.HasAnchor = true;
            state.StillAnchor = box;
            state.StillSince = at;
            state.StayedAtSpot = spot >= 0;
        }
        else
        {
            if (spot < 0) state.StayedAtSpot = false;
            if (!StationaryFaces.SamePlace(state.StillAnchor, box, o.Tolerance))
            {
                state.StillAnchor = box;
                state.StillSince = at;
                state.EverMoved = true;
                state.AnchorLearned = false;
            }
        }
        if (!state.AnchorLearned && at - state.StillSince >= o.After)
        {
            state.AnchorLearned = true;
            if (Stationary.Learn(state.StillAnchor, o.Tolerance, at) is { } learnt) _learned.Add(learnt);
        }
    }

    /// <summary>
    /// Whether a start is held back because the face is a learnt picture found again: every box of the track since it
    /// appeared was at or within a learnt spot (a picture revealed bit by bit as a passer-by walks on shows a part of the
    /// face first, inside the spot), or the track has not moved since it appeared and that place is a learnt spot (the
    /// track that learnt it). A person who walks up was elsewhere on the way; one who stood there moves eventually, and
    /// then counts. Counted once per track.
    /// </summary>
    private bool IsHeldAsStationary(TrackPolicyState state, in BoxF box)
    {
        if (!_options.Stationary.Enabled || !state.HasAnchor || Stationary.Count == 0) return false;
        float tolerance = _options.Stationary.Tolerance;
        int spot = state.StayedAtSpot ? Stationary.FindCovering(box, tolerance)
            : state.EverMoved ? -1 : Stationary.Find(state.StillAnchor, tolerance);
        if (spot < 0) return false;
        if (!state.HeldCounted)
        {
            state.HeldCounted = true;
            Stationary.Held(spot);
            Counters.StationaryHeld();
        }
        return true;
    }

    /// <summary>Whether the (clipped) box reaches within <see cref="ViolationPolicyOptions.EdgeMargin"/> of the frame's edge.</summary>
    private bool AtFrameEdge(in BoxF clipped) =>
        _options.EdgeMargin is { } m
        && (clipped.X1 <= m || clipped.Y1 <= m || clipped.X2 >= _frameWidth - m || clipped.Y2 >= _frameHeight - m);

    /// <summary>
    /// Whether more than <see cref="ViolationPolicyOptions.DuplicateCoverage"/> of <paramref name="box"/> lies inside the
    /// boxes of confirmed faces tracked since before <paramref name="track"/> appeared, seen in this frame and of a similar
    /// size: a detection bridging two neighbours, or a second box beside a face already tracked. An upper bound (the summed
    /// overlaps) rules out nearly every face at once; otherwise the area of the union of the overlaps is measured exactly.
    /// </summary>
    private bool IsCoveredByEarlierFaces(FaceTrack track, in BoxF box, ReadOnlySpan<FaceTrack> tracks)
    {
        float limit = _options.DuplicateCoverage;
        if (limit <= 0f || box.Area <= 0f) return false;
        const int MaxCovering = 16;
        Span<BoxF> parts = stackalloc BoxF[MaxCovering];
        int count = 0;
        float summed = 0f;
        foreach (FaceTrack other in tracks)
        {
            if (!CoversAsEarlierFace(other, track, box)) continue;
            float overlap = box.IntersectionArea(other.Observation.Box);
            if (overlap <= 0f || count == MaxCovering) continue;
            summed += overlap;
            BoxF o = other.Observation.Box;
            parts[count++] = new BoxF(MathF.Max(o.X1, box.X1), MathF.Max(o.Y1, box.Y1), MathF.Min(o.X2, box.X2), MathF.Min(o.Y2, box.Y2));
        }
        if (summed <= limit * box.Area) return false;
        return BoxF.UnionArea(parts[..count]) > limit * box.Area;
    }

    // Earlier = first seen at an earlier frame: faces that appear together (a scene cut, a group walking in) are peers,
    // and neither is taken for the other's duplicate. Size within ×/÷ 1.5, as for a handover: a face inside a body-sized
    // false box, or a small face in front of a large one, is not that box's duplicate.
    private static bool CoversAsEarlierFace(FaceTrack other, FaceTrack track, in BoxF box)
    {
        if (!other.IsObservedThisFrame || !other.IsConfirmed || other.FirstFrameIndex >= track.FirstFrameIndex) return false;
        float h = other.Observation.Box.Height;
        return h * 1.5f >= box.Height && h <= box.Height * 1.5f;
    }

    /// <summary>
    /// Hands the open episode of an unseen track over to <paramref name="track"/> when the new track is where that
    /// track was predicted to be (centre within <see cref="ViolationPolicyOptions.HandoverDistance"/> face heights,
    /// height within ×/÷ 1.5): the nearest such track wins. The episode keeps its id and start; its events now name
    /// the new track. The old track gets a cooldown so that, should it be found again, it does not start a duplicate.
    /// </summary>
    private bool TryTakeOver(TrackPolicyState state, FaceTrack track, ReadOnlySpan<FaceTrack> tracks, DateTimeOffset now)
    {
        float maxDistance = _options.HandoverDistance;
        if (maxDistance <= 0f) return false;
        BoxF box = track.Box;
        TrackPolicyState? best = null;
        float bestDistance = float.MaxValue;
        foreach (FaceTrack other in tracks)
        {
            if (other.IsObservedThisFrame || !other.IsConfirmed || other.Id == track.Id) continue;
            if (!_states.TryGetValue(other.Id, out TrackPolicyState? candidate) || candidate.Episode is null) continue;
            BoxF predicted = other.Box;
            float height = MathF.Max(predicted.Height, 1f);
            if (box.Height > height * 1.5f || box.Height * 1.5f < height) continue;
            float dx = box.CenterX - predicted.CenterX, dy = box.CenterY - predicted.CenterY;
            float distance = MathF.Sqrt(dx * dx + dy * dy) / height;
            if (distance <= maxDistance && distance < bestDistance)
            {
                best = candidate;
                bestDistance = distance;
            }
        }
        if (best is null) return false;
        ViolationEpisode episode = best.Episode!;
        best.Episode = null;
        best.CooldownUntil = now + _options.Cooldown;
        episode.TrackId = state.TrackId;
        state.Episode = episode;
        Counters.HandedOver();
        return true;
    }

    private void Start(TrackPolicyState state, in TrackObservation obs, DateTimeOffset now, float quality)
    {
        // Separate badly worn masks: the episode is about whichever kind most of the window's strong frames show
        // (a tie is no_mask, the graver one). Decided once: the announcement it triggers cannot be taken back.
        var kind = _options.IncorrectCounts == IncorrectMaskCounting.Separate && 2 * state.IncorrectStrongCount > state.StrongCount
            ? ViolationKind.Incorrect
            : ViolationKind.NoMask;
        var episode = new ViolationEpisode(_newEpisodeId(_device, _camera, state.TrackId, obs.Timestamp), state.TrackId, obs.Timestamp, kind)
        {
            BestObservation = obs,
            BestQuality = quality,
        };
        state.Episode = episode;
        ActiveViolations++;
        Counters.Started();
        _snapshots.Add(new SnapshotRequest(episode, obs, quality, IsStart: true));
        Emit(ViolationDecisionKind.Start, state, now, null, null, obs);
    }

    private void End(TrackPolicyState state, ViolationEndReason reason, DateTimeOffset now, DateTimeOffset endedAt, in TrackObservation evidence)
    {
        ViolationEpisode episode = state.Episode!;
        episode.EndedAt = endedAt;
        episode.EndReason = reason;
        episode.UpdatePending = false;
        Emit(ViolationDecisionKind.End, state, now, endedAt, reason, evidence);
        state.Episode = null;
        state.CooldownUntil = now + _options.Cooldown;
        ActiveViolations--;
        Counters.Ended();
    }

    private void Emit(ViolationDecisionKind kind, TrackPolicyState state, DateTimeOffset now, DateTimeOffset? endedAt,
        ViolationEndReason? reason, in TrackObservation evidence)
    {
        ViolationEpisode episode = state.Episode!;
        _decisions.Add(new ViolationDecision(kind, episode, episode.EventCount, now, endedAt, reason, evidence,
            state.Count, state.WeakCount, _frameWidth, _frameHeight));
        episode.EventCount++;
        episode.LastEventAt = now;
        episode.UpdatePending = false;
    }

    /// <summary>Snapshot quality: bigger, more certainly a face, more certainly in violation is better.</summary>
    private static float Quality(in BoxF clipped, float score, float pViolation) => clipped.ShortSide * score * pViolation;

    /// <summary>Inside one of the zones (or no zones are set) and inside none of the ignore zones.</summary>
    private bool InZone(in BoxF box)
    {
        if (_zonePixels.Length == 0 && _ignorePixels.Length == 0) return true;
        float x = box.CenterX;
        float y = _options.ZoneAnchor == ZoneAnchor.BottomCenter ? box.Y2 : box.CenterY;
        foreach (PointF2[] ignored in _ignorePixels)
            if (PolygonZone.Contains(ignored, x, y)) return false;
        if (_zonePixels.Length == 0) return true;
        foreach (PointF2[] zone in _zonePixels)
            if (PolygonZone.Contains(zone, x, y)) return true;
        return false;
    }

    private void ScaleZones(int width, int height)
    {
        Scale(_options.Zones, _zonePixels);
        Scale(_options.IgnoreZones, _ignorePixels);
        _zoneFrameWidth = width;
        _zoneFrameHeight = height;

        void Scale(IReadOnlyList<ZoneOptions> zones, PointF2[][] pixels)
        {
            for (int z = 0; z < pixels.Length; z++)
            {
                ZoneOptions zone = zones[z];
                bool normalized = zone.Units == ZoneUnits.Normalized;
                for (int p = 0; p < zone.Points.Count; p++)
                {
                    PointF2 pt = zone.Points[p];
                    pixels[z][p] = normalized ? new PointF2(pt.X * width, pt.Y * height) : pt;
                }
            }
        }
    }

    /// <summary>What the policy remembers of one track: the K-of-N window as a ring of flags, and the open episode.</summary>
    private sealed class TrackPolicyState
    {
        private const byte StrongFlag = 1, WeakFlag = 2, IncorrectFlag = 4;
        private byte[] _ring = new byte[ViolationPolicyOptions.MaxWindowFrames];
        private int _capacity, _head;

        public long TrackId;
        public int Count, StrongCount, WeakCount, ConsecutiveMasked;
        /// <summary>Strong frames of the window in which a badly worn mask was likelier than no mask.</summary>
        public int IncorrectStrongCount;
        public ViolationEpisode? Episode;
        public DateTimeOffset? CooldownUntil;
        public TrackObservation LastClassified;
        /// <summary>Stillness: where the face was when it last moved beyond the tolerance, and since when it has stood there.</summary>
        public BoxF StillAnchor;
        public DateTimeOffset StillSince;
        public bool HasAnchor, EverMoved, AnchorLearned, HeldCounted;
        /// <summary>Every box of the track so far was at or within a learnt stationary spot.</summary>
        public bool StayedAtSpot;

        public void Reset(long trackId, int window)
        {
            if (_ring.Length < window) _ring = new byte[window];
            TrackId = trackId;
            _capacity = window;
            _head = 0;
            Count = StrongCount = WeakCount = ConsecutiveMasked = IncorrectStrongCount = 0;
            Episode = null;
            CooldownUntil = null;
            LastClassified = default;
            StillAnchor = default;
            StillSince = default;
            HasAnchor = EverMoved = AnchorLearned = HeldCounted = StayedAtSpot = false;
        }

        /// <summary>Keeps the newest min(Count, window) flags in a ring of <paramref name="window"/> frames.</summary>
        public void Resize(int window)
        {
            int keep = Math.Min(Count, window);
            Span<byte> newest = stackalloc byte[ViolationPolicyOptions.MaxWindowFrames];
            // The oldest kept flag is `keep` slots behind the head.
            for (int i = 0; i < keep; i++) newest[i] = _ring[(_head - keep + i + 2 * _capacity) % _capacity];
            if (_ring.Length < window) _ring = new byte[window];
            _capacity = window;
            Count = keep;
            StrongCount = WeakCount = IncorrectStrongCount = 0;
            for (int i = 0; i < keep; i++)
            {
                _ring[i] = newest[i];
                if ((newest[i] & StrongFlag) != 0) StrongCount++;
                if ((newest[i] & WeakFlag) != 0) WeakCount++;
                if ((newest[i] & (StrongFlag | IncorrectFlag)) == (StrongFlag | IncorrectFlag)) IncorrectStrongCount++;
            }
            _head = keep % window;
        }

        public void Push(bool strong, bool weak, bool incorrect)
        {
            if (Count == _capacity)
            {
                byte old = _ring[_head];
                if ((old & StrongFlag) != 0) StrongCount--;
                if ((old & WeakFlag) != 0) WeakCount--;
                if ((old & (StrongFlag | IncorrectFlag)) == (StrongFlag | IncorrectFlag)) IncorrectStrongCount--;
            }
            else
            {
                Count++;
            }
            byte flags = (byte)((strong ? StrongFlag : 0) | (weak ? WeakFlag : 0) | (incorrect ? IncorrectFlag : 0));
            _ring[_head] = flags;
            _head = (_head + 1) % _capacity;
            if (strong) StrongCount++;
            if (weak) WeakCount++;
            if (strong && incorrect) IncorrectStrongCount++;
        }
    }
}
