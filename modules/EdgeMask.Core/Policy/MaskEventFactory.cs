using EdgeMask.Core.Events;
using EdgeMask.Core.Geometry;

namespace EdgeMask.Core.Policy;

/// <summary>Builds the <see cref="MaskEvent"/> of DESIGN.md §3 from a policy decision, for one device and camera.</summary>
public sealed class MaskEventFactory
{
    public MaskEventFactory(string device, string camera)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(device);
        ArgumentException.ThrowIfNullOrWhiteSpace(camera);
        Device = device;
        Camera = camera;
    }

    public string Device { get; }
    public string Camera { get; }

    /// <summary>
    /// Whether the classifier has the incorrect label (false for a two-class model: <c>probabilities.incorrect</c> is
    /// then left out rather than claimed to be 0). Set when the pipeline moves to another classifier; read when an event
    /// is built, possibly on another thread (a plain bool: a stale read names one event's probabilities the old way).
    /// </summary>
    public bool HasIncorrect { get => Volatile.Read(ref _hasIncorrect); set => Volatile.Write(ref _hasIncorrect, value); }

    private bool _hasIncorrect = true;

    /// <summary>
    /// The event for <paramref name="decision"/>, naming <paramref name="snapshot"/>: the latest snapshot the pipeline
    /// stored for this episode (<see cref="EventSnapshot.None"/> when none was). Boxes are clipped to the frame, so the
    /// normalized box is in 0..1.
    /// </summary>
    public MaskEvent Create(in ViolationDecision decision, EventSnapshot snapshot)
    {
        ViolationEpisode episode = decision.Episode ?? throw new ArgumentException("The decision has no episode (default value?).", nameof(decision));
        int w = decision.FrameWidth, h = decision.FrameHeight;
        if (w <= 0 || h <= 0)
            throw new ArgumentException($"The decision's frame size {w}×{h} is not a frame size.", nameof(decision));

        var evidence = decision.Evidence;
        BoxF box = evidence.Box.ClipTo(w, h);
        var landmarks = new float[Landmarks5.Count][];
        for (int i = 0; i < Landmarks5.Count; i++)
        {
            PointF2 p = evidence.Landmarks[i];
            landmarks[i] = [p.X, p.Y];
        }
        var classification = evidence.Classification;
        return new MaskEvent
        {
            Id = episode.Id,
            Type = decision.Kind.ToWireName(episode.Kind),
            Sequence = decision.Sequence,
            Device = Device,
            Camera = Camera,
            TrackId = episode.TrackId,
            StartedAt = episode.StartedAt,
            At = decision.At,
            EndedAt = decision.EndedAt,
            EndReason = decision.EndReason?.ToWireName(),
            Frame = new EventFrame(w, h),
            Face = new EventFace(
                [box.X1, box.Y1, box.X2, box.Y2],
                [box.X1 / w, box.Y1 / h, box.X2 / w, box.Y2 / h],
                landmarks,
                evidence.Score),
            // An episode always has classified evidence; the fallback names the episode's kind with no probability.
            Mask = new EventMask(
                classification?.LabelText ?? (episode.Kind == ViolationKind.Incorrect ? "incorrect" : "no_mask"),
                classification?.Probability ?? 0f,
                decision.FramesObserved,
                decision.FramesUnmasked)
            {
                Probabilities = classification is { } c
                    ? new EventProbabilities(c.MaskProbability, c.NoMaskProbability, HasIncorrect ? c.IncorrectProbability : null)
                    : null,
            },
            Snapshot = snapshot ?? throw new ArgumentNullException(nameof(snapshot)),
        };
    }
}
