using EdgeMask.Core.Detection;
using EdgeMask.Core.Events;
using EdgeMask.Core.Geometry;
using EdgeMask.Core.Policy;
using EdgeMask.Core.Tests.Tracking;
using EdgeMask.Core.Tracking;

namespace EdgeMask.Core.Tests.Policy;

/// <summary>
/// A synthetic stand-in for <c>../shared/samples/station-crowd-960x540.mp4</c> (see its README): 960×540 at
/// 15 frames/s, 24 scenes of 36 frames (hard cuts), each scene a still photo zooming 0.4 % a frame towards the
/// centre, so faces drift outwards and grow. Faces are built in code with a noisy detector (jitter, low-score
/// frames, misses) and a noisy classifier (flips), so the result can be compared with the ground truth: how many
/// unmasked people there are.
/// </summary>
public class SampleVideoSimulationTests
{
    private const int Width = 960, Height = 540, Scenes = 24, FramesPerScene = 36;

    private sealed record Person(float Cx, float Cy, float Size, bool Unmasked);

    private static List<Person> Layout(Random rng)
    {
        int count = rng.Next(2, 7);
        var people = new List<Person>();
        while (people.Count < count)
        {
            float size = 36 + (float)rng.NextDouble() * 84;
            float cx = 120 + (float)rng.NextDouble() * (Width - 240);
            float cy = 90 + (float)rng.NextDouble() * (Height - 180);
            var box = BoxF.FromCenter(cx, cy, size, size).Expand(1.3f);
            if (people.Exists(p => BoxF.FromCenter(p.Cx, p.Cy, p.Size, p.Size).Expand(1.3f).IoU(box) > 0)) continue;
            // The sample's photos were chosen to hold at least one masked and one unmasked face each.
            bool unmasked = people.Count switch { 0 => true, 1 => false, _ => rng.Next(2) == 0 };
            people.Add(new Person(cx, cy, size, unmasked));
        }
        return people;
    }

    private static (List<MaskEvent> Events, int UnmaskedPeople, int UnmaskedFaceFrames, List<HashSet<long>> TracksPerScene) Run(int seed, int detectEvery, FaceTrackerOptions? tracking = null, ViolationPolicyOptions? policy = null)
    {
        var rng = new Random(seed);
        var h = new PipelineHarness(tracking ?? new FaceTrackerOptions(), policy ?? new ViolationPolicyOptions());
        int unmaskedPeople = 0, unmaskedFaceFrames = 0;
        var tracksPerScene = new List<HashSet<long>>();
        for (int scene = 0; scene < Scenes; scene++)
        {
            var people = Layout(rng);
            unmaskedPeople += people.Count(p => p.Unmasked);
            var ids = new HashSet<long>();
            tracksPerScene.Add(ids);
            for (int t = 0; t < FramesPerScene; t++)
            {
                float zoom = MathF.Pow(1.004f, t);
                if ((h.Frame + 1) % detectEvery != 0)
                {
                    h.Predict();
                    continue;
                }
                var faces = new List<(FaceDetection, MaskClassification?)>();
                foreach (Person p in people)
                {
                    float cx = Width / 2f + (p.Cx - Width / 2f) * zoom, cy = Height / 2f + (p.Cy - Height / 2f) * zoom;
                    float size = p.Size * zoom;
                    if (cx < 0 || cx > Width || cy < 0 || cy > Height) continue; // zoomed out of the picture
                    if (rng.NextDouble() < 0.03) continue; // a missed detection
                    float jitter = size * 0.02f;
                    BoxF box = new BoxF(
                        cx - size / 2 + Noise(rng, jitter), cy - size / 2 + Noise(rng, jitter),
                        cx + size / 2 + Noise(rng, jitter), cy + size / 2 + Noise(rng, jitter)).ClipTo(Width, Height);
                    float score = rng.NextDouble() < 0.05 ? 0.4f : 0.75f + 0.24f * (float)rng.NextDouble();
                    FaceDetection d = Faces.Face(box.CenterX, box.CenterY, 1) with { Box = box, Score = score };
                    float pNoMask = p.Unmasked
                        ? (rng.NextDouble() < 0.10 ? 0.3f : 0.75f + 0.23f * (float)rng.NextDouble())
                        : (rng.NextDouble() < 0.05 ? 0.75f : 0.01f + 0.19f * (float)rng.NextDouble());
                    faces.Add((d, new MaskClassification(1f - pNoMask)));
                    if (p.Unmasked) unmaskedFaceFrames++;
                }
                h.Step([.. faces]);
                foreach (FaceTrack track in h.Tracker.Tracks) if (track.IsObservedThisFrame) ids.Add(track.Id);
            }
        }
        h.Flush();
        h.AssertEpisodesWellFormed();
        return (h.Events, unmaskedPeople, unmaskedFaceFrames, tracksPerScene);
    }

    private static float Noise(Random rng, float amplitude) => ((float)rng.NextDouble() * 2 - 1) * amplitude;

    /// <summary>
    /// Exact on these seeds. Over seeds 1–20 (tallied by <see cref="Run_TwentySampleLikeSequences_StartsWithinOnePerRunOfUnmaskedPeople"/>)
    /// 18 runs are exact and two are off by one: a new face that appears at a cut right over an old face of
    /// similar size, within the motion gate, inherits its track id — the floor of a tracker without appearance
    /// features (see FaceTrackerTests.Update_NewPersonWhereLostTrackIsPredicted_InheritsItsId).
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    public void Run_SampleLikeSequence_OneStartPerUnmaskedPersonNotPerFrame(int seed)
    {
        var (events, unmaskedPeople, unmaskedFaceFrames, tracksPerScene) = Run(seed, detectEvery: 1);

        int starts = events.Count(e => e.Type == EventTypes.ViolationStart);
        Assert.Equal(unmaskedPeople, starts);
        Assert.True(starts * 20 < unmaskedFaceFrames, $"{starts} starts for {unmaskedFaceFrames} unmasked face frames");
        Assert.Equal(starts, events.Count(e => e.Type == EventTypes.ViolationEnd));
        // Scene cuts end episodes by losing the track (the last scene's at shutdown), never by a mask.
        Assert.Equal(starts - events.Count(e => e.EndReason == "shutdown"), events.Count(e => e.EndReason == "lost"));
        // No track is carried over a cut into the next photo.
        for (int s = 1; s < tracksPerScene.Count; s++)
            Assert.Empty(tracksPerScene[s].Intersect(tracksPerScene[s - 1]));
    }

    [Fact]
    public void Run_TwentySampleLikeSequences_StartsWithinOnePerRunOfUnmaskedPeople()
    {
        int people = 0, starts = 0, offRuns = 0;
        for (int seed = 1; seed <= 20; seed++)
        {
            var (events, unmaskedPeople, _, _) = Run(seed, detectEvery: 1);
            int s = events.Count(e => e.Type == EventTypes.ViolationStart);
            Assert.InRange(s, unmaskedPeople - 1, unmaskedPeople + 1);
            if (s != unmaskedPeople) offRuns++;
            people += unmaskedPeople;
            starts += s;
        }

        Assert.InRange(offRuns, 0, 3);
        Assert.InRange(starts, people - 3, people + 3);
    }

    [Fact]
    public void Run_SampleLikeSequenceDetectingEveryThirdFrame_StillOneStartPerUnmaskedPerson()
    {
        // Every third frame leaves 12 detections per 36-frame scene, so confirmation and the window are shortened
        // to fit: what the README advises for "detect every Nth frame". Over seeds 1–20 this setting is exact in 16
        // runs; the others miss 1–4 starts, mostly to ids inherited at a cut (the motion gate is wider after three
        // predicted frames).
        var tracking = new FaceTrackerOptions { ConfirmHits = 2 };
        var policy = new ViolationPolicyOptions { WindowFrames = 6, StartUnmaskedFrames = 4, EndMaxUnmaskedFrames = 1, EndMaskedConsecutiveFrames = 3 };
        var (events, unmaskedPeople, _, _) = Run(seed: 7, detectEvery: 3, tracking, policy);

        Assert.Equal(unmaskedPeople, events.Count(e => e.Type == EventTypes.ViolationStart));
        Assert.Equal(unmaskedPeople, events.Count(e => e.Type == EventTypes.ViolationEnd));
    }
}
