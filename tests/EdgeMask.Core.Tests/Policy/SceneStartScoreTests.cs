using EdgeMask.Core.Policy;

namespace EdgeMask.Core.Tests.Policy;

public class SceneStartScoreTests
{
    // Three scenes of 36 frames: 2 bare faces; 1 bare + 1 badly worn mask; nobody to report.
    private static readonly SceneExpectation[] Scenes =
    [
        new("a", 0, 36, Unmasked: 2, Incorrect: 0),
        new("b", 36, 36, Unmasked: 1, Incorrect: 1),
        new("c", 72, 36, Unmasked: 0, Incorrect: 0),
    ];

    private static EpisodeStart V(long frame) => new(frame, ViolationKind.NoMask);
    private static EpisodeStart I(long frame) => new(frame, ViolationKind.Incorrect);

    [Fact]
    public void Compute_StartsPerScene_SumsAbsoluteErrorsSceneByScene()
    {
        // Scene a: 1 of 2 (−1); scene b: 2 of 2 (0); scene c: 1 of 0 (+1). The totals agree (4 of 4), the scenes do not: Σ = 2.
        var score = SceneStartScore.Compute(Scenes, [V(5), V(40), V(71), V(100)], IncorrectMaskCounting.Violation);

        Assert.Equal([1, 2, 1], score.Rows.Select(r => r.Violations));
        Assert.Equal([2, 2, 0], score.Rows.Select(r => r.ExpectedViolations));
        Assert.Equal(4, score.StartedTotal);
        Assert.Equal(4, score.ExpectedTotal);
        Assert.Equal(2, score.TotalError);
    }

    [Fact]
    public void Compute_ViolationCounting_ExpectsBadlyWornMasksAsViolations()
    {
        var score = SceneStartScore.Compute(Scenes, [V(1), V(2), V(40), V(41)], IncorrectMaskCounting.Violation);

        Assert.Equal(2, score.Rows[1].ExpectedViolations);
        Assert.Equal(0, score.Rows[1].ExpectedIncorrect);
        Assert.Equal(0, score.TotalError);
    }

    [Fact]
    public void Compute_CompliantCounting_ExpectsBareFacesOnly()
    {
        var score = SceneStartScore.Compute(Scenes, [V(1), V(2), V(40), V(41)], IncorrectMaskCounting.Compliant);

        Assert.Equal(1, score.Rows[1].ExpectedViolations);
        Assert.Equal(1, score.TotalError);
    }

    [Fact]
    public void Compute_SeparateCounting_ScoresIncorrectStartsApart()
    {
        // Scene b: the badly worn mask announced as no mask is one violation too many and one incorrect too few.
        var wrongKind = SceneStartScore.Compute(Scenes, [V(1), V(2), V(40), V(41)], IncorrectMaskCounting.Separate);
        var right = SceneStartScore.Compute(Scenes, [V(1), V(2), V(40), I(41)], IncorrectMaskCounting.Separate);

        Assert.Equal(2, wrongKind.TotalError);
        Assert.Equal(0, right.TotalError);
        Assert.Equal(1, right.Rows[1].Incorrect);
        Assert.Equal(1, right.Rows[1].ExpectedIncorrect);
    }

    [Fact]
    public void Compute_StartOnALoopedPass_CountsInItsSceneModuloTheTable()
    {
        var score = SceneStartScore.Compute(Scenes, [V(108 + 40)], IncorrectMaskCounting.Violation);

        Assert.Equal(1, score.Rows[1].Violations);
        Assert.Equal(0, score.StartsOutsideScenes);
    }

    [Fact]
    public void Compute_StartInAGapOfTheTable_CountedOutsideEveryScene()
    {
        SceneExpectation[] gappy = [new("a", 0, 10, 1, 0), new("b", 20, 10, 0, 0)];

        var score = SceneStartScore.Compute(gappy, [V(15)], IncorrectMaskCounting.Violation);

        Assert.Equal(1, score.StartsOutsideScenes);
        Assert.Equal(0, score.StartedTotal);
    }

    [Fact]
    public void Compute_OverlappingScenes_ThrowsNamingTheScene()
    {
        SceneExpectation[] overlapping = [new("a", 0, 36, 1, 0), new("b", 30, 36, 1, 0)];

        var ex = Assert.Throws<ArgumentException>(() => SceneStartScore.Compute(overlapping, [], IncorrectMaskCounting.Violation));
        Assert.Contains("(b)", ex.Message);
    }
}
