using EdgeMask.Core.Detection;
using EdgeMask.Core.Geometry;
using EdgeMask.Core.Tracking;

namespace EdgeMask.Core.Policy;

/// <summary>Which point of a face box must lie inside a zone for the face to count.</summary>
public enum ZoneAnchor
{
    /// <summary>The centre of the face box. The default: a face half in a zone counts when its middle is in.</summary>
    BoxCenter,

    /// <summary>
    /// The middle of the box's bottom edge (the chin), the closest a face box gets to a "foot point": use it when
    /// zones are drawn as the floor area in front of a door or counter, where the face sits just above the line.
    /// </summary>
    BottomCenter,
}

/// <summary>How a face the classifier labels <c>incorrect</c> (a mask worn incorrectly: under the nose, on the chin) counts.</summary>
public enum IncorrectMaskCounting
{
    /// <summary>
    /// As a violation, like no mask (the default): a frame counts against the person when p(no_mask) + p(incorrect) &gt; 0.5,
    /// and the episode's events are <c>violation.*</c> (their <c>mask.label</c> says which it was).
    /// </summary>
    Violation,

    /// <summary>As compliant: only p(no_mask) counts against the person; a badly worn mask raises nothing.</summary>
    Compliant,

    /// <summary>
    /// As a violation of its own kind: frames count as with <see cref="Violation"/>, but an episode whose window is mostly
    /// badly worn masks is an incorrect-mask episode with events <c>incorrect.start|update|end</c>, so a site can announce
    /// "please cover your nose" instead of "please wear a mask", and count the two apart.
    /// </summary>
    Separate,
}

public static class IncorrectMaskCountingExtensions
{
    /// <summary>p(this frame counts against the person) under <paramref name="counting"/>.</summary>
    public static float ViolationProbability(this IncorrectMaskCounting counting, in MaskClassification c) =>
        counting == IncorrectMaskCounting.Compliant ? c.NoMaskProbability : c.UnmaskedProbability;

    /// <summary>Whether the frame counts against the person: <see cref="ViolationProbability"/> above one half.</summary>
    public static bool IsViolation(this IncorrectMaskCounting counting, in MaskClassification c) =>
        counting.ViolationProbability(c) > 0.5f;
}

/// <summary>How a zone's points are given.</summary>
public enum ZoneUnits
{
    /// <summary>0..1 of the frame width and height (survives a change of stream resolution). The default.</summary>
    Normalized,

    /// <summary>Pixels of the frame as decoded.</summary>
    Pixels,
}

/// <summary>
/// A polygon zone (at least 3 points, any shape, edges may not need to be convex; the even-odd rule decides
/// inside). A point exactly on an edge or vertex counts as inside.
/// </summary>
public sealed record ZoneOptions
{
    public string Name { get; init; } = "zone";
    public IReadOnlyList<PointF2> Points { get; init; } = [];
    public ZoneUnits Units { get; init; } = ZoneUnits.Normalized;
}

/// <summary>
/// Options of <see cref="ViolationPolicy"/> (configuration section <c>Violation</c>). A track starts a violation
/// when, among the last <see cref="WindowFrames"/> classified frames of the track, at least
/// <see cref="StartUnmaskedFrames"/> are in violation with p(violation) ≥ <see cref="StartProbability"/> (p(violation) is
/// p(no_mask), plus p(incorrect) unless <see cref="IncorrectCounts"/> says a badly worn mask is compliant), the current
/// frame is one of them, the face is at least <see cref="MinFaceSize"/> px (short side), inside a zone (when
/// zones are set), clear of the frame's edge (<see cref="EdgeMargin"/>) and not mostly inside the boxes of faces tracked
/// before it (<see cref="DuplicateCoverage"/>), and the track is not cooling down. It ends (hysteresis: a weaker test than the start, so a
/// flickering classifier does not end and restart it) when at most <see cref="EndMaxUnmaskedFrames"/> of the
/// window have p(violation) ≥ <see cref="EndProbability"/>, or after <see cref="EndMaskedConsecutiveFrames"/>
/// frames in a row not in violation, or when the track is lost.
/// </summary>
public sealed record ViolationPolicyOptions
{
    public const string SectionName = "Violation";
    public const int MaxWindowFrames = 64;

    /// <summary>N: the classified frames of a track the decision looks at.</summary>
    public int WindowFrames { get; init; } = 8;

    /// <summary>K: frames in violation (at <see cref="StartProbability"/>) among the window needed to start.</summary>
    public int StartUnmaskedFrames { get; init; } = 5;

    /// <summary>p(violation) a frame needs to count towards a start.</summary>
    public float StartProbability { get; init; } = 0.7f;

    /// <summary>K_end: the violation ends when at most this many window frames still have p(violation) ≥ <see cref="EndProbability"/>.</summary>
    public int EndMaxUnmaskedFrames { get; init; } = 2;

    /// <summary>p(violation) that keeps a running violation alive; lower than <see cref="StartProbability"/> (hysteresis).</summary>
    public float EndProbability { get; init; } = 0.5f;

    /// <summary>M: frames in a row not in violation (masked) that end a violation at once; 0 turns this rule off.</summary>
    public int EndMaskedConsecutiveFrames { get; init; } = 4;

    /// <summary>Minimum face size in pixels (shorter side of the box clipped to the frame) for a frame to count.</summary>
    public float MinFaceSize { get; init; } = 24f;

    /// <summary>After a violation ends (masked), the same track cannot start a new one for this long.</summary>
    public TimeSpan Cooldown { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Re-identification across a lost track: a new track in violation whose box centre is within this many face
    /// heights of where an unseen track with a running episode was predicted to be (and of a similar size) takes that
    /// episode over instead of starting another — one person, one violation, even when a missed detection, an
    /// occlusion or dropped frames gave them a new track id. 0 (the default) turns it off; 0.5 is a sensible value
    /// where people are often hidden for a moment (faces in a crowd are at least a face apart, so half a face height
    /// does not hand one person's episode to a neighbour). Off by default because on the station sample, processed
    /// frame by frame, the tracker does not fragment and the handover only moved one episode between two close-ups
    /// (bench <c>scenes</c>, issue 16).
    /// </summary>
    public float HandoverDistance { get; init; }

    /// <summary>
    /// A face whose box reaches within this many pixels of the frame's edge does not count towards a start: it is taken
    /// for a face cut by the edge (the detector's box of half a face is clipped to the frame), and half a face is no
    /// evidence of a missing mask — the person counts once they are in view. The default 1 catches boxes clipped at or
    /// touching the edge; a larger margin suits cameras whose image edge is soft or vignetted; null turns it off (e.g. a
    /// camera whose view ends at a doorway's edge where faces are never whole). Once a violation runs, it does not apply.
    /// </summary>
    public float? EdgeMargin { get; init; } = 1f;

    /// <summary>
    /// A face box more than this fraction of which lies inside the boxes of faces tracked since before it appeared
    /// (confirmed, seen in the same frame, height within ×/÷ 1.5) does not count towards a start: it is taken for a
    /// duplicate box — a detection bridging two neighbours in a crowd, or a second box half a face beside one already
    /// tracked — not for a new person; its pixels are mostly those faces', and they are judged already. A person who
    /// steps out from behind others counts as soon as more than this fraction of their box is their own. Faces that
    /// appear together (a scene cut, a group entering) are never judged against each other: only earlier tracks cover.
    /// Once a violation runs, it does not apply. 0 turns it off; 0.5 (the default) means "more than half".
    /// </summary>
    public float DuplicateCoverage { get; init; } = 0.5f;

    /// <summary>Minimum time between two events of one episode caused by better evidence (<c>violation.update</c>).</summary>
    public TimeSpan UpdateMinInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// A frame is a better snapshot when its quality (face short side × detector score × p(violation)) is at least
    /// this factor above the best so far; 1.25 means one snapshot per 25 % improvement, not one per frame of a
    /// slowly approaching face.
    /// </summary>
    public float SnapshotImprovementRatio { get; init; } = 1.25f;

    /// <summary>Only faces inside one of these zones count; empty = the whole frame.</summary>
    public IReadOnlyList<ZoneOptions> Zones { get; init; } = [];

    /// <summary>
    /// Faces inside one of these zones never count, even inside <see cref="Zones"/>: a poster, an advertising screen, a
    /// mirror or a shop window whose faces are pictures, not people (Frigate calls these object masks). The same anchor
    /// point as <see cref="Zones"/> is tested.
    /// </summary>
    public IReadOnlyList<ZoneOptions> IgnoreZones { get; init; } = [];

    /// <summary>Which point of the face box is tested against the zones.</summary>
    public ZoneAnchor ZoneAnchor { get; init; } = ZoneAnchor.BoxCenter;

    /// <summary>How faces that never move (pictures: posters, screens, portraits) are learnt and kept from restarting violations.</summary>
    public StationaryFaceOptions Stationary { get; init; } = new();

    /// <summary>How a mask worn incorrectly counts: a violation (default), compliant, or a violation of its own kind.</summary>
    public IncorrectMaskCounting IncorrectCounts { get; init; } = IncorrectMaskCounting.Violation;

    /// <summary>Throws <see cref="InvalidOptionException"/> naming the first bad key.</summary>
    public ViolationPolicyOptions Validate(string section = SectionName)
    {
        string K(string name) => section.Length == 0 ? name : section + ":" + name;
        if (WindowFrames is < 1 or > MaxWindowFrames)
            throw new InvalidOptionException(K(nameof(WindowFrames)), WindowFrames, $"must be between 1 and {MaxWindowFrames}.");
        if (StartUnmaskedFrames < 1 || StartUnmaskedFrames > WindowFrames)
            throw new InvalidOptionException(K(nameof(StartUnmaskedFrames)), StartUnmaskedFrames,
                $"must be between 1 and {K(nameof(WindowFrames))} ({WindowFrames}).");
        if (EndMaxUnmaskedFrames < 0 || EndMaxUnmaskedFrames >= StartUnmaskedFrames)
            throw new InvalidOptionException(K(nameof(EndMaxUnmaskedFrames)), EndMaxUnmaskedFrames,
                $"must be at least 0 and below {K(nameof(StartUnmaskedFrames))} ({StartUnmaskedFrames}), or a fresh violation would end at once.");
        if (!(StartProbability >= 0.5f && StartProbability <= 1f))
            throw new InvalidOptionException(K(nameof(StartProbability)), StartProbability,
                "must be between 0.5 and 1 (a frame is in violation when p(violation) > 0.5).");
        if (!(EndProbability >= 0f && EndProbability <= StartProbability))
            throw new InvalidOptionException(K(nameof(EndProbability)), EndProbability,
                $"must be between 0 and {K(nameof(StartProbability))} ({StartProbability}).");
        if (EndMaskedConsecutiveFrames is < 0 or > 10_000)
            throw new InvalidOptionException(K(nameof(EndMaskedConsecutiveFrames)), EndMaskedConsecutiveFrames,
                "must be between 0 (off) and 10000.");
        if (!(MinFaceSize >= 0f && float.IsFinite(MinFaceSize)))
            throw new InvalidOptionException(K(nameof(MinFaceSize)), MinFaceSize, "must be a size in pixels, 0 or more.");
        if (!(HandoverDistance >= 0f && HandoverDistance <= 5f))
            throw new InvalidOptionException(K(nameof(HandoverDistance)), HandoverDistance, "must be between 0 (off) and 5 face heights.");
        if (EdgeMargin is { } margin && !(margin >= 0f && margin <= 1000f))
            throw new InvalidOptionException(K(nameof(EdgeMargin)), margin, "must be a margin in pixels between 0 and 1000, or null for off.");
        if (!(DuplicateCoverage >= 0f && DuplicateCoverage < 1f))
            throw new InvalidOptionException(K(nameof(DuplicateCoverage)), DuplicateCoverage,
                "must be at least 0 (off) and below 1 (the fraction of a face box covered by earlier faces' boxes).");
        if (Cooldown < TimeSpan.Zero)
            throw new InvalidOptionException(K(nameof(Cooldown)), Cooldown, "must not be negative.");
        if (UpdateMinInterval < TimeSpan.Zero)
            throw new InvalidOptionException(K(nameof(UpdateMinInterval)), UpdateMinInterval, "must not be negative.");
        if (!(SnapshotImprovementRatio >= 1f && float.IsFinite(SnapshotImprovementRatio)))
            throw new InvalidOptionException(K(nameof(SnapshotImprovementRatio)), SnapshotImprovementRatio, "must be 1 or more.");
        if (!Enum.IsDefined(ZoneAnchor))
            throw new InvalidOptionException(K(nameof(ZoneAnchor)), ZoneAnchor, "must be BoxCenter or BottomCenter.");
        if (!Enum.IsDefined(IncorrectCounts))
            throw new InvalidOptionException(K(nameof(IncorrectCounts)), IncorrectCounts, "must be violation, compliant or separate.");
        if (Zones is null)
            throw new InvalidOptionException(K(nameof(Zones)), null, "must be a list (empty for the whole frame).");
        ValidateZones(Zones, K(nameof(Zones)));
        if (IgnoreZones is null)
            throw new InvalidOptionException(K(nameof(IgnoreZones)), null, "must be a list (empty for none).");
        ValidateZones(IgnoreZones, K(nameof(IgnoreZones)));
        if (Stationary is null)
            throw new InvalidOptionException(K(nameof(Stationary)), null, "must be a section (set Enabled to false to turn it off).");
        Stationary.Validate(K(nameof(Stationary)));
        return this;
    }

    private static void ValidateZones(IReadOnlyList<ZoneOptions> zones, string key)
    {
        for (int z = 0; z < zones.Count; z++)
        {
            string zk = $"{key}:{z}";
            ZoneOptions? zone = zones[z] ?? throw new InvalidOptionException(zk, null, "must be a zone.");
            if (!Enum.IsDefined(zone.Units))
                throw new InvalidOptionException(zk + ":" + nameof(ZoneOptions.Units), zone.Units, "must be Normalized or Pixels.");
            if (zone.Points is null || zone.Points.Count < 3)
                throw new InvalidOptionException(zk + ":" + nameof(ZoneOptions.Points), zone.Points?.Count ?? 0,
                    "a zone needs at least 3 points.");
            for (int p = 0; p < zone.Points.Count; p++)
            {
                PointF2 pt = zone.Points[p];
                string pk = $"{zk}:{nameof(ZoneOptions.Points)}:{p}";
                if (!float.IsFinite(pt.X) || !float.IsFinite(pt.Y))
                    throw new InvalidOptionException(pk, pt, "must be a finite point.");
                if (zone.Units == ZoneUnits.Normalized && (pt.X is < 0f or > 1f || pt.Y is < 0f or > 1f))
                    throw new InvalidOptionException(pk, pt, "normalized coordinates are between 0 and 1 (set Units to Pixels for pixels).");
            }
            if (MathF.Abs(PolygonZone.SignedArea(zone.Points)) <= 0f)
                throw new InvalidOptionException(zk + ":" + nameof(ZoneOptions.Points), zone.Points.Count,
                    "the polygon has no area (all points on one line).");
        }
    }
}

/// <summary>
/// Stationary faces (section <c>Violation:Stationary</c>). A face whose box stays put — centre within
/// <see cref="Tolerance"/> face heights of where it was, height within the same fraction — for <see cref="After"/> is
/// taken for a picture: a poster, an advertising screen, a portrait, a mannequin. Its spot is learnt, and a face that
/// later appears there and has stayed there since it appeared (a part of it inside the spot counts: a picture is revealed
/// bit by bit as a passer-by walks on) does not start a violation. Without this, every time a
/// crowd hides a poster and the tracker finds it again as a new track, the poster starts a new violation (a new event,
/// snapshot and announcement) — on a busy platform, every minute. The picture's first appearance is still reported
/// (nothing tells it from a person until it has stood still long enough); the learnt spots are listed in the camera's
/// health and reported properties, with the zone to paste into <see cref="ViolationPolicyOptions.IgnoreZones"/> to
/// ignore it for good. A person who stands as still as a picture for that long and whose track is then lost is not
/// started again until they move — one person, one violation either way.
/// </summary>
public sealed record StationaryFaceOptions
{
    /// <summary>Most spots a camera remembers; past it, the one seen least recently is forgotten first.</summary>
    public const int MaxSpots = 32;

    /// <summary>Whether stationary faces are learnt and held back. On by default.</summary>
    public bool Enabled { get; init; } = true;

    /// <summary>How long a face must stay put to be taken for a picture.</summary>
    public TimeSpan After { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// How far a face may move and still be "put", as a fraction of its height: the centre within this many face heights,
    /// the height within this fraction. 0.15 is several times a detector's box jitter on a still face and less than a
    /// person's head moves in a minute.
    /// </summary>
    public float Tolerance { get; init; } = 0.15f;

    /// <summary>A learnt spot where no face has been seen for this long is forgotten (the poster was taken down).</summary>
    public TimeSpan ForgetAfter { get; init; } = TimeSpan.FromMinutes(15);

    public StationaryFaceOptions Validate(string section)
    {
        string K(string name) => section + ":" + name;
        if (After <= TimeSpan.Zero || After > TimeSpan.FromDays(1))
            throw new InvalidOptionException(K(nameof(After)), After, "must be more than 0 and at most a day (set Enabled to false to turn learning off).");
        if (!(Tolerance > 0f && Tolerance <= 1f))
            throw new InvalidOptionException(K(nameof(Tolerance)), Tolerance, "must be more than 0 and at most 1 (a fraction of the face height).");
        if (ForgetAfter < After || ForgetAfter > TimeSpan.FromDays(30))
            throw new InvalidOptionException(K(nameof(ForgetAfter)), ForgetAfter,
                $"must be at least {K(nameof(After))} ({After}) and at most 30 days.");
        return this;
    }
}
