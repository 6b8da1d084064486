using EdgeMask.Core.Detection;
using EdgeMask.Core.Evaluation;
using EdgeMask.Core.Events;
using EdgeMask.Core.Geometry;
using EdgeMask.Core.Policy;

namespace EdgeMask.Bench;

/// <summary>
/// <c>scenes --attribute</c>: every start and every expected-but-missing start of the sample, matched against the
/// voc853 annotation of the scene's photo — which annotated face a start is about (or none), which counted face got no
/// start and why. The photos' boxes are carried into the video the way it was made (<c>../shared/samples/README.md</c>):
/// scaled to fit 960×540 and centred, then zoomed 0.4 % a frame towards the frame centre from the scene's first frame.
/// </summary>
internal static class SceneAttribution
{
    private const float FrameWidth = 960f, FrameHeight = 540f, ZoomPerFrame = 0.004f;

    // The scene table counts unmasked and badly worn faces at least 20 px wide and high at the video's scale.
    private const float CountedSize = 20f;

    // A start or a detection is "on" an annotated face at this IoU (the zoom model is exact to a pixel or two; face
    // boxes of the detector and of the annotators differ more than that).
    private const float MatchIoU = 0.3f;

    private sealed record AnnotatedFace(int Index, string Label, BoxF PhotoBox, float Size, bool Counted);

    public static string AnnotationPath(string image) =>
        Path.Combine(BenchPaths.Shared, "data", "face-mask-voc853", "annotations", Path.ChangeExtension(image, ".xml"));

    /// <summary>A box of the photo (<paramref name="photoWidth"/> × <paramref name="photoHeight"/>) in frame <paramref name="frameInScene"/> of its scene.</summary>
    public static BoxF ToVideo(BoxF photoBox, int photoWidth, int photoHeight, long frameInScene)
    {
        float s = MathF.Min(FrameWidth / photoWidth, FrameHeight / photoHeight);
        float ox = (FrameWidth - photoWidth * s) / 2f, oy = (FrameHeight - photoHeight * s) / 2f;
        float z = 1f + ZoomPerFrame * frameInScene;
        float X(float x) => FrameWidth / 2f + (ox + x * s - FrameWidth / 2f) * z;
        float Y(float y) => FrameHeight / 2f + (oy + y * s - FrameHeight / 2f) * z;
        return new BoxF(X(photoBox.X1), Y(photoBox.Y1), X(photoBox.X2), Y(photoBox.Y2));
    }

    public static void Print(IReadOnlyList<SceneExpectation> scenes, IReadOnlyList<RecordedFrame> frames,
        IReadOnlyList<(long Frame, MaskEvent Event)> log, ViolationPolicyOptions policy)
    {
        var byIndex = frames.ToDictionary(f => f.Index);
        var starts = log.Where(l => EventTypes.IsStart(l.Event.Type)).ToList();
        int person = 0, again = 0, uncounted = 0, unannotated = 0, missed = 0;
        var reasons = new Dictionary<string, int>();
        Console.WriteLine();
        Console.WriteLine($"attribution against the photos' annotations (start = IoU ≥ {MatchIoU} with an annotated face in the start frame; counted = unmasked or badly worn, ≥ {CountedSize} px):");
        for (int si = 0; si < scenes.Count; si++)
        {
            var scene = scenes[si];
            var voc = VocAnnotation.Load(AnnotationPath(scene.Name));
            float scale = MathF.Min(FrameWidth / voc.Width, FrameHeight / voc.Height);
            var faces = voc.Objects.Select((o, i) =>
            {
                float size = o.Box.ShortSide * scale;
                return new AnnotatedFace(i, o.Name, o.Box, size, o.Name != "with_mask" && size >= CountedSize);
            }).ToList();
            var lines = new List<string>();
            var started = new HashSet<int>();
            foreach (var (frame, e) in starts.Where(s => SampleScenes.SceneOf(scenes, s.Frame) == si))
            {
                long k = frame - scene.StartFrame;
                var box = new BoxF(e.Face.Box[0], e.Face.Box[1], e.Face.Box[2], e.Face.Box[3]);
                var (face, iou) = Best(faces, voc, k, box);
                string what = $"start f{frame} track {e.TrackId} {Describe(box)} s {e.Face.Score:0.00} p {e.Mask.Probability:0.00}";
                if (face is null)
                {
                    unannotated++;
                    lines.Add($"    + {what}: no annotated face (best IoU {iou:0.00})");
                }
                else if (!face.Counted)
                {
                    uncounted++;
                    lines.Add($"    + {what}: annotated #{face.Index} {face.Label} {face.Size:0.0} px, not counted");
                }
                else if (!started.Add(face.Index))
                {
                    again++;
                    lines.Add($"    + {what}: annotated #{face.Index} again (a second start for one person)");
                }
                else
                {
                    person++;
                }
            }
            foreach (var face in faces.Where(f => f.Counted && !started.Contains(f.Index)))
            {
                missed++;
                string reason = WhyMissed(face, voc, scene, byIndex, policy, out string detail);
                reasons[reason] = reasons.GetValueOrDefault(reason) + 1;
                lines.Add($"    − annotated #{face.Index} {face.Label} {face.Size:0} px {Describe(ToVideo(face.PhotoBox, voc.Width, voc.Height, 0))}: {reason} ({detail})");
            }
            int expected = scene.Unmasked + scene.Incorrect;
            int count = starts.Count(s => SampleScenes.SceneOf(scenes, s.Frame) == si);
            if (lines.Count > 0)
            {
                Console.WriteLine($"  scene {si,2} {scene.Name}: {count} starts for {expected} expected");
                foreach (var l in lines) Console.WriteLine(l);
            }
        }
        Console.WriteLine($"  starts: {person} on counted faces, {again} a second time on a counted face, {uncounted} on annotated faces not counted (masked or < {CountedSize} px), {unannotated} on no annotated face");
        Console.WriteLine($"  counted faces without a start: {missed} — " + string.Join(", ", reasons.OrderByDescending(r => r.Value).Select(r => $"{r.Value} {r.Key}")));
    }

    private static (AnnotatedFace? Face, float IoU) Best(List<AnnotatedFace> faces, VocAnnotation voc, long k, BoxF box)
    {
        AnnotatedFace? best = null;
        float bestIoU = 0f;
        foreach (var f in faces)
        {
            float iou = ToVideo(f.PhotoBox, voc.Width, voc.Height, k).IoU(box);
            if (iou > bestIoU) (best, bestIoU) = (f, iou);
        }
        return bestIoU >= MatchIoU ? (best, bestIoU) : (null, bestIoU);
    }

    /// <summary>The first of: never detected; detected in fewer than K frames; box below the minimum size; classified masked.</summary>
    private static string WhyMissed(AnnotatedFace face, VocAnnotation voc, SceneExpectation scene,
        Dictionary<long, RecordedFrame> frames, ViolationPolicyOptions policy, out string detail)
    {
        int detected = 0, bigEnough = 0, strong = 0, classified = 0;
        var window = new List<bool>(scene.Frames);
        float minSide = float.MaxValue, maxSide = 0f, minScore = 1f, maxScore = 0f;
        for (long k = 0; k < scene.Frames; k++)
        {
            if (!frames.TryGetValue(scene.StartFrame + k, out var frame)) continue;
            var expected = ToVideo(face.PhotoBox, voc.Width, voc.Height, k);
            int at = -1;
            float bestIoU = MatchIoU;
            for (int i = 0; i < frame.Faces.Length; i++)
            {
                float iou = frame.Faces[i].Box.IoU(expected);
                if (iou >= bestIoU) (at, bestIoU) = (i, iou);
            }
            if (at < 0) continue;
            detected++;
            var d = frame.Faces[at];
            float side = d.Box.ClipTo(FrameWidth, FrameHeight).ShortSide;
            (minSide, maxSide) = (MathF.Min(minSide, side), MathF.Max(maxSide, side));
            (minScore, maxScore) = (MathF.Min(minScore, d.Score), MathF.Max(maxScore, d.Score));
            if (side < policy.MinFaceSize) continue;
            bigEnough++;
            var c = at < frame.Classes.Length ? frame.Classes[at] : new MaskClassification(float.NaN, float.NaN, float.NaN);
            if (float.IsNaN(c.MaskProbability)) continue;
            classified++;
            bool isStrong = policy.IncorrectCounts.ViolationProbability(c) >= policy.StartProbability;
            window.Add(isStrong);
            if (isStrong) strong++;
        }
        int k5 = policy.StartUnmaskedFrames;
        if (detected == 0) { detail = $"no detection at IoU ≥ {MatchIoU} in {scene.Frames} frames"; return "not detected"; }
        detail = $"detected in {detected} of {scene.Frames} frames, score {minScore:0.00}–{maxScore:0.00}, box {minSide:0}–{maxSide:0} px";
        if (detected < k5) return "detected too rarely";
        if (bigEnough < k5) return $"box below minFaceSize {policy.MinFaceSize:0}";
        detail += $", p(violation) ≥ {policy.StartProbability} in {strong} of {classified} classified frames";
        if (strong < k5) return "classified masked or unsure";
        int n = policy.WindowFrames, most = 0;
        for (int i = 0; i < window.Count; i++) most = Math.Max(most, window.Skip(Math.Max(0, i - n + 1)).Take(Math.Min(n, i + 1)).Count(b => b));
        detail += $", at most {most} in {n} consecutive";
        if (most < k5) return $"never {k5} strong frames within {n} (the K-of-N window)";
        return "tracking (detected, big enough and unmasked)";
    }

    private static string Describe(BoxF b) => $"[{b.X1:0} {b.Y1:0} {b.Width:0}×{b.Height:0}]";
}
