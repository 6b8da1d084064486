namespace EdgeMask.Core.Policy;

/// <summary>
/// What a perfect run starts in one scene of a reference video (e.g. <c>station-crowd-960x540.scenes.json</c>): one
/// episode per unmasked face and per badly worn mask that is big enough to count.
/// </summary>
/// <param name="Faces">Every annotated face of the scene, counted or not (context for speed figures).</param>
public readonly record struct SceneExpectation(string Name, long StartFrame, int Frames, int Unmasked, int Incorrect, int Faces = 0);

/// <summary>One episode start seen in a run: the frame index it was decided on, and what it is about.</summary>
public readonly record struct EpisodeStart(long FrameIndex, ViolationKind Kind);

/// <summary>One scene's row of a <see cref="SceneStartScore"/>.</summary>
public readonly record struct SceneStartRow(SceneExpectation Scene, int ExpectedViolations, int Violations, int ExpectedIncorrect, int Incorrect)
{
    /// <summary>|violation starts − expected| + |incorrect starts − expected|.</summary>
    public int Error => Math.Abs(Violations - ExpectedViolations) + Math.Abs(Incorrect - ExpectedIncorrect);
}

/// <summary>
/// "One episode per person": episode starts counted per scene against what a perfect run starts, and the summed
/// per-scene error Σ|starts − expected|. Averages hide the errors that matter (a crowd scene that misses nine people
/// and a quiet one that starts four episodes for one person add up to a nearly right total); the per-scene sum does not.
/// </summary>
/// <remarks>
/// What is expected depends on how badly worn masks count (<see cref="IncorrectMaskCounting"/>): with
/// <c>Violation</c> (the default) each one starts a <c>violation.start</c> like a bare face; with <c>Compliant</c> it
/// starts nothing; with <c>Separate</c> it starts an <c>incorrect.start</c>, scored against the scene's incorrect
/// count apart. A start whose frame lies past the table (the video looped) is put in its scene modulo the table's length.
/// </remarks>
public sealed class SceneStartScore
{
    private SceneStartScore(IReadOnlyList<SceneStartRow> rows, IncorrectMaskCounting counting, int outside)
    {
        Rows = rows;
        Counting = counting;
        StartsOutsideScenes = outside;
    }

    public IReadOnlyList<SceneStartRow> Rows { get; }
    public IncorrectMaskCounting Counting { get; }

    /// <summary>Starts on frames no scene covers (a gap in the table); counted in no row.</summary>
    public int StartsOutsideScenes { get; }

    /// <summary>Σ over scenes of |starts − expected| (both kinds).</summary>
    public int TotalError => Rows.Sum(r => r.Error);
    public int ExpectedTotal => Rows.Sum(r => r.ExpectedViolations + r.ExpectedIncorrect);
    public int StartedTotal => Rows.Sum(r => r.Violations + r.Incorrect);

    /// <summary>Scores <paramref name="starts"/> against <paramref name="scenes"/> (in frame order, not overlapping).</summary>
    public static SceneStartScore Compute(IReadOnlyList<SceneExpectation> scenes, IEnumerable<EpisodeStart> starts, IncorrectMaskCounting counting)
    {
        ArgumentNullException.ThrowIfNull(scenes);
        ArgumentNullException.ThrowIfNull(starts);
        if (scenes.Count == 0) throw new ArgumentException("The scene table is empty.", nameof(scenes));
        for (int i = 0; i < scenes.Count; i++)
        {
            if (scenes[i].Frames <= 0 || scenes[i].StartFrame < 0 || scenes[i].Unmasked < 0 || scenes[i].Incorrect < 0)
                throw new ArgumentException($"Scene {i} ({scenes[i].Name}) needs a start frame ≥ 0, frames > 0 and counts ≥ 0.", nameof(scenes));
            if (i > 0 && scenes[i].StartFrame < scenes[i - 1].StartFrame + scenes[i - 1].Frames)
                throw new ArgumentException($"Scene {i} ({scenes[i].Name}) starts at frame {scenes[i].StartFrame}, inside scene {i - 1}: scenes must be in order and not overlap.", nameof(scenes));
        }
        long length = scenes[^1].StartFrame + scenes[^1].Frames;
        var violations = new int[scenes.Count];
        var incorrect = new int[scenes.Count];
        int outside = 0;
        foreach (var start in starts)
        {
            if (start.FrameIndex < 0) throw new ArgumentOutOfRangeException(nameof(starts), start.FrameIndex, "A start's frame index cannot be negative.");
            int scene = SceneOf(scenes, start.FrameIndex % length);
            if (scene < 0) { outside++; continue; }
            if (start.Kind == ViolationKind.Incorrect) incorrect[scene]++;
            else violations[scene]++;
        }
        var rows = new SceneStartRow[scenes.Count];
        for (int i = 0; i < scenes.Count; i++)
        {
            var s = scenes[i];
            var (expectedViolations, expectedIncorrect) = counting switch
            {
                IncorrectMaskCounting.Violation => (s.Unmasked + s.Incorrect, 0),
                IncorrectMaskCounting.Compliant => (s.Unmasked, 0),
                IncorrectMaskCounting.Separate => (s.Unmasked, s.Incorrect),
                _ => throw new ArgumentOutOfRangeException(nameof(counting), counting, "Unknown counting."),
            };
            rows[i] = new SceneStartRow(s, expectedViolations, violations[i], expectedIncorrect, incorrect[i]);
        }
        return new SceneStartScore(rows, counting, outside);
    }

    private static int SceneOf(IReadOnlyList<SceneExpectation> scenes, long frame)
    {
        for (int i = 0; i < scenes.Count; i++)
            if (frame >= scenes[i].StartFrame && frame < scenes[i].StartFrame + scenes[i].Frames) return i;
        return -1;
    }
}
