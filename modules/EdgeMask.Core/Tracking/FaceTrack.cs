using EdgeMask.Core.Detection;
using EdgeMask.Core.Geometry;

namespace EdgeMask.Core.Tracking;

/// <summary>
/// One tracked face. Instances are owned and recycled by <see cref="FaceTracker"/>: read them during the step that
/// returned them; keep the <see cref="Id"/> (never the object) across steps.
/// </summary>
public sealed class FaceTrack
{
    private ConstantVelocityFilter _cx, _cy, _w, _h;

    internal FaceTrack() { }

    /// <summary>Per-camera id, increasing from 1, never reused while the tracker lives.</summary>
    public long Id { get; private set; }

    public TrackState State { get; internal set; }

    public bool IsConfirmed => State == TrackState.Confirmed;

    /// <summary>Detections matched to this track so far.</summary>
    public int Hits { get; private set; }

    /// <summary>The smoothed (after a match) or predicted (otherwise) box at <see cref="FrameIndex"/>.</summary>
    public BoxF Box { get; private set; }

    /// <summary>The frame index the track has been advanced to.</summary>
    public long FrameIndex { get; private set; }

    /// <summary>True when a detection was matched in the current step; then <see cref="Observation"/> is this frame's.</summary>
    public bool IsObservedThisFrame { get; private set; }

    /// <summary>The last matched detection, with its classification when it was classified.</summary>
    public TrackObservation Observation { get; private set; }

    public DateTimeOffset FirstSeenAt { get; private set; }
    public long FirstFrameIndex { get; private set; }

    /// <summary>Detection steps (calls to <see cref="FaceTracker.Update"/>) in a row without a match.</summary>
    public int MissedDetections { get; internal set; }
    public DateTimeOffset LastSeenAt => Observation.Timestamp;
    public long LastSeenFrameIndex => Observation.FrameIndex;

    /// <summary>Frames (by index) since the last matched detection; 0 when observed this frame.</summary>
    public long FramesSinceSeen => FrameIndex - Observation.FrameIndex;

    /// <summary>Estimated velocity of the box centre in pixels per frame.</summary>
    public (float X, float Y) Velocity => (_cx.Velocity, _cy.Velocity);

    /// <summary>
    /// The newest classification of the track's face, from this frame or an earlier one (a settled face is classified only
    /// every few frames); null until the first. For displays: the policy judges from the observations themselves.
    /// </summary>
    public MaskClassification? LastClassification { get; private set; }

    /// <summary>
    /// Attaches a classification to this frame's observation, for callers that classify after tracking (e.g. only
    /// confirmed tracks). Ignored when the track was not observed this frame: a prediction has no pixels to classify.
    /// </summary>
    public bool AttachClassification(MaskClassification classification)
    {
        if (!IsObservedThisFrame) return false;
        Observation = Observation with { Classification = classification };
        LastClassification = classification;
        return true;
    }

    internal void Start(long id, in TrackObservation observation, bool confirmed)
    {
        Id = id;
        State = confirmed ? TrackState.Confirmed : TrackState.Tentative;
        Hits = 1;
        MissedDetections = 0;
        FrameIndex = observation.FrameIndex;
        FirstFrameIndex = observation.FrameIndex;
        FirstSeenAt = observation.Timestamp;
        Observation = observation;
        LastClassification = observation.Classification;
        IsObservedThisFrame = true;
        BoxF b = observation.Box;
        float scale = MathF.Max(b.Height, 1f);
        _cx.Initialize(b.CenterX, scale);
        _cy.Initialize(b.CenterY, scale);
        _w.Initialize(b.Width, scale);
        _h.Initialize(b.Height, scale);
        Box = b;
    }

    /// <summary>Moves the estimate to <paramref name="frameIndex"/>; a no-op for the current or an earlier frame.</summary>
    internal void PredictTo(long frameIndex, bool useVelocity)
    {
        IsObservedThisFrame = false;
        if (frameIndex <= FrameIndex) return;
        // Bounded so a stream restart with a huge index jump cannot spin; beyond that the track is expired anyway.
        int steps = (int)Math.Min(frameIndex - FrameIndex, 10_000);
        float scale = MathF.Max(_h.Position, 1f);
        _cx.Predict(steps, scale, useVelocity);
        _cy.Predict(steps, scale, useVelocity);
        _w.Predict(steps, scale, useVelocity);
        _h.Predict(steps, scale, useVelocity);
        FrameIndex = frameIndex;
        Box = CurrentBox();
    }

    /// <summary>
    /// Squared Mahalanobis distance of a detection from this track's prediction (centre and size, 4 degrees of
    /// freedom): small when the detection is where the motion model expected it, within its current uncertainty.
    /// </summary>
    internal float MahalanobisSquared(in BoxF box)
    {
        float scale = MathF.Max(_h.Position, 1f);
        return _cx.NormalizedInnovationSquared(box.CenterX, scale) + _cy.NormalizedInnovationSquared(box.CenterY, scale)
            + _w.NormalizedInnovationSquared(box.Width, scale) + _h.NormalizedInnovationSquared(box.Height, scale);
    }

    internal void Match(in TrackObservation observation, bool confirmNow)
    {
        BoxF b = observation.Box;
        float scale = MathF.Max(_h.Position, 1f);
        _cx.Update(b.CenterX, scale);
        _cy.Update(b.CenterY, scale);
        _w.Update(b.Width, scale);
        _h.Update(b.Height, scale);
        Hits++;
        MissedDetections = 0;
        Observation = observation;
        if (observation.Classification is { } c) LastClassification = c;
        IsObservedThisFrame = true;
        FrameIndex = observation.FrameIndex;
        if (confirmNow) State = TrackState.Confirmed;
        Box = CurrentBox();
    }

    private BoxF CurrentBox()
    {
        // A shrinking prediction must not turn inside out.
        float w = MathF.Max(_w.Position, 1f), h = MathF.Max(_h.Position, 1f);
        return BoxF.FromCenter(_cx.Position, _cy.Position, w, h);
    }

    /// <summary>Moves the track's instants by a step of the wall clock (see <see cref="FaceTracker.ShiftTimes"/>).</summary>
    internal void ShiftTimes(TimeSpan step)
    {
        Observation = Observation with { Timestamp = Observation.Timestamp + step };
        FirstSeenAt += step;
    }

    public override string ToString() => $"track {Id} {State} {Box} hits {Hits} unseen {FramesSinceSeen}";
}
