using EdgeMask.Core.Geometry;

namespace EdgeMask.Core.Policy;

/// <summary>A learnt stationary face: where a face stood put long enough to be taken for a picture.</summary>
/// <param name="Box">The face's box in pixels of a <paramref name="FrameWidth"/> × <paramref name="FrameHeight"/> frame.</param>
/// <param name="LearnedAt">When the face had stood put for <see cref="StationaryFaceOptions.After"/>.</param>
/// <param name="HeldStarts">Faces that appeared here since and would have started a violation but were held back.</param>
public sealed record StationaryFace(BoxF Box, int FrameWidth, int FrameHeight, DateTimeOffset LearnedAt, int HeldStarts)
{
    /// <summary>The box as fractions of the frame (x1, y1, x2, y2), rounded to 0.001: what a zone's normalized points use.</summary>
    public BoxF NormalizedBox => new(
        Round(Box.X1 / FrameWidth), Round(Box.Y1 / FrameHeight), Round(Box.X2 / FrameWidth), Round(Box.Y2 / FrameHeight));

    /// <summary>
    /// A normalized rectangle around the face, half a face wider on each side (the box of a still picture jitters, and a
    /// zone is tested against the box's anchor point), to paste into <c>violation.ignoreZones</c>.
    /// </summary>
    public ZoneOptions SuggestedIgnoreZone(string name)
    {
        float mx = Box.Width * 0.5f, my = Box.Height * 0.5f;
        float x1 = Round(Math.Clamp((Box.X1 - mx) / FrameWidth, 0f, 1f)), y1 = Round(Math.Clamp((Box.Y1 - my) / FrameHeight, 0f, 1f));
        float x2 = Round(Math.Clamp((Box.X2 + mx) / FrameWidth, 0f, 1f)), y2 = Round(Math.Clamp((Box.Y2 + my) / FrameHeight, 0f, 1f));
        return new ZoneOptions { Name = name, Points = [new(x1, y1), new(x2, y1), new(x2, y2), new(x1, y2)] };
    }

    private static float Round(float v) => MathF.Round(v, 3);
}

/// <summary>
/// One camera's learnt stationary faces (<see cref="StationaryFaceOptions"/>). Written only by the camera's
/// <see cref="ViolationPolicy"/> on the camera thread; <see cref="Current"/> may be read from any thread. Owned by the
/// camera, not by a pipeline, so the spots outlive a pipeline restart as the camera's counters do.
/// </summary>
/// <remarks>
/// Fixed capacity (<see cref="StationaryFaceOptions.MaxSpots"/>), no allocation per frame: the published list is rebuilt
/// only when a spot is learnt, forgotten or holds a start back.
/// </remarks>
public sealed class StationaryFaces
{
    private readonly Spot[] _spots = new Spot[StationaryFaceOptions.MaxSpots];
    private int _count;
    private int _frameWidth, _frameHeight;
    private IReadOnlyList<StationaryFace> _current = [];

    private struct Spot
    {
        public BoxF Box;
        public DateTimeOffset LearnedAt, LastSeenAt;
        public int HeldStarts;
    }

    /// <summary>The learnt spots, oldest first; an immutable list replaced on every change.</summary>
    public IReadOnlyList<StationaryFace> Current => Volatile.Read(ref _current);

    /// <summary>
    /// Raised after <see cref="Current"/> changed (a spot learnt, forgotten or holding a start back), on the camera thread:
    /// a handler must only note it (the device keeps the spots across restarts by saving them off that thread).
    /// </summary>
    public event Action? Changed;

    /// <summary>
    /// Starts from spots learnt before (a module restart): each is taken as seen at <paramref name="seenAt"/>, so it is
    /// forgotten after <see cref="StationaryFaceOptions.ForgetAfter"/> unless a face is found there again. Spots of
    /// another frame size than the first one's are left out; at most <see cref="StationaryFaceOptions.MaxSpots"/>, newest
    /// kept. Only before the first frame: spots already learnt are kept as they are.
    /// </summary>
    public void Restore(IEnumerable<StationaryFace> faces, DateTimeOffset seenAt)
    {
        ArgumentNullException.ThrowIfNull(faces);
        if (_count > 0) return;
        var list = faces.ToList();
        if (list.Count == 0) return;
        _frameWidth = list[0].FrameWidth;
        _frameHeight = list[0].FrameHeight;
        foreach (StationaryFace face in list.Where(f => f.FrameWidth == _frameWidth && f.FrameHeight == _frameHeight).TakeLast(_spots.Length))
            _spots[_count++] = new Spot { Box = face.Box, LearnedAt = face.LearnedAt, LastSeenAt = seenAt, HeldStarts = face.HeldStarts };
        Publish();
    }

    internal int Count => _count;

    /// <summary>Whether <paramref name="b"/> is where <paramref name="a"/> is: centre within <paramref name="tolerance"/> of a's height, height within that fraction.</summary>
    internal static bool SamePlace(in BoxF a, in BoxF b, float tolerance)
    {
        float h = MathF.Max(a.Height, 1f);
        float limit = tolerance * h;
        return MathF.Abs(b.CenterX - a.CenterX) <= limit && MathF.Abs(b.CenterY - a.CenterY) <= limit
            && b.Height <= h * (1f + tolerance) && b.Height * (1f + tolerance) >= h;
    }

    /// <summary>Forgets every spot when the frame size changes (pixel boxes of another resolution mean nothing) and spots not seen since <paramref name="seenBefore"/>.</summary>
    internal void BeginFrame(int frameWidth, int frameHeight, DateTimeOffset seenBefore)
    {
        if (_count == 0)
        {
            _frameWidth = frameWidth;
            _frameHeight = frameHeight;
            return;
        }
        bool changed = false;
        if (frameWidth != _frameWidth || frameHeight != _frameHeight)
        {
            _count = 0;
            _frameWidth = frameWidth;
            _frameHeight = frameHeight;
            changed = true;
        }
        for (int i = _count - 1; i >= 0; i--)
        {
            if (_spots[i].LastSeenAt >= seenBefore) continue;
            RemoveAt(i);
            changed = true;
        }
        if (changed) Publish();
    }

    /// <summary>The spot where <paramref name="box"/> is, or -1.</summary>
    internal int Find(in BoxF box, float tolerance)
    {
        for (int i = 0; i < _count; i++)
            if (SamePlace(_spots[i].Box, box, tolerance)) return i;
        return -1;
    }

    /// <summary>
    /// The spot where <paramref name="box"/> is, or that holds it: a box mostly (90 %) inside the spot's box widened by
    /// the tolerance is a part of that face — the picture half hidden by a passer-by. -1 when none.
    /// </summary>
    internal int FindCovering(in BoxF box, float tolerance)
    {
        for (int i = 0; i < _count; i++)
        {
            ref readonly BoxF s = ref _spots[i].Box;
            if (SamePlace(s, box, tolerance)) return i;
            float margin = tolerance * MathF.Max(s.Height, 1f);
            var widened = new BoxF(s.X1 - margin, s.Y1 - margin, s.X2 + margin, s.Y2 + margin);
            if (box.Area > 0f && box.IntersectionArea(widened) >= 0.9f * box.Area) return i;
        }
        return -1;
    }

    /// <summary>A face was seen at spot <paramref name="index"/>: the spot is still there.</summary>
    internal void Seen(int index, DateTimeOffset at)
    {
        if (at > _spots[index].LastSeenAt) _spots[index].LastSeenAt = at;
    }

    /// <summary>A face at spot <paramref name="index"/> was kept from starting a violation.</summary>
    internal void Held(int index)
    {
        _spots[index].HeldStarts++;
        Publish();
    }

    /// <summary>
    /// Learns <paramref name="box"/> as a stationary face (or refreshes the spot already there). Returns the new spot, or
    /// null when the place was already known.
    /// </summary>
    internal StationaryFace? Learn(in BoxF box, float tolerance, DateTimeOffset at)
    {
        int existing = Find(box, tolerance);
        if (existing >= 0)
        {
            Seen(existing, at);
            return null;
        }
        if (_count == _spots.Length)
        {
            int stalest = 0;
            for (int i = 1; i < _count; i++)
                if (_spots[i].LastSeenAt < _spots[stalest].LastSeenAt) stalest = i;
            RemoveAt(stalest);
        }
        _spots[_count++] = new Spot { Box = box, LearnedAt = at, LastSeenAt = at };
        Publish();
        return Current[^1];
    }

    /// <summary>Moves the spots' instants by a step of the wall clock (see <see cref="ViolationPolicy.ShiftTimes"/>).</summary>
    internal void ShiftTimes(TimeSpan step)
    {
        if (_count == 0) return;
        for (int i = 0; i < _count; i++)
        {
            _spots[i].LearnedAt += step;
            _spots[i].LastSeenAt += step;
        }
        Publish();
    }

    /// <summary>Forgets every spot (learning turned off).</summary>
    internal void Clear()
    {
        if (_count == 0) return;
        _count = 0;
        Publish();
    }

    private void RemoveAt(int index)
    {
        Array.Copy(_spots, index + 1, _spots, index, _count - index - 1);
        _count--;
    }

    private void Publish()
    {
        var list = new StationaryFace[_count];
        for (int i = 0; i < _count; i++)
            list[i] = new StationaryFace(_spots[i].Box, _frameWidth, _frameHeight, _spots[i].LearnedAt, _spots[i].HeldStarts);
        Volatile.Write(ref _current, list);
        Changed?.Invoke();
    }
}
