using EdgeMask.Core.Detection;
using EdgeMask.Core.Geometry;
using EdgeMask.Inference.Detection;
using EdgeMask.Inference.Models;
using EdgeMask.Inference.Runtime;
using Microsoft.Extensions.Logging;

namespace EdgeMask.Training.Detection;

/// <summary>
/// Which of the start model's own detections on the training photos become extra training faces.
/// </summary>
/// <param name="MinScore">A detection is used when its face score is at least this (the start model's score, softmax).</param>
/// <param name="Sizings">The detector input sizings it runs at (e.g. the product's 960 px long side); detections from
/// several sizings are merged by NMS.</param>
/// <param name="MaxOverlap">A detection whose IoU with an annotated face reaches this is that face, not a new one.</param>
internal sealed record PseudoLabelOptions(float MinScore, IReadOnlyList<DevSizing> Sizings, float MaxOverlap = 0.3f)
{
    public PseudoLabelOptions Validate()
    {
        if (!(MinScore is > 0f and < 1f)) throw new ArgumentOutOfRangeException(nameof(MinScore), MinScore, "--pseudo-labels must be a face score in (0, 1), e.g. 0.8.");
        if (Sizings.Count == 0 || Sizings.Any(s => !s.IsValid))
            throw new ArgumentException("--pseudo-sizings must list scales in (0, 4] or long sides in [32, 4096] px (e.g. 960px).");
        if (!(MaxOverlap is > 0f and <= 1f)) throw new ArgumentOutOfRangeException(nameof(MaxOverlap), MaxOverlap, "The overlap bound must be in (0, 1].");
        return this;
    }
}

/// <summary>
/// The start model's confident detections on the training photos that match no annotated face: faces the annotators
/// left out (voc853 annotates the faces in front; crowds behind them are mostly unannotated). Trained as background,
/// they teach the tuned model to suppress real faces — that is part of how fine-tuning forgets what WIDER FACE taught.
/// As extra training faces (pseudo-labels) they keep it. Found once per run with the run-time detector (ONNX Runtime),
/// in photo pixels, so the augmentation crops and scales them like annotated faces.
/// </summary>
internal static class TeacherPseudoLabels
{
    /// <returns>Per photo (same order), the extra faces in photo pixels, best first.</returns>
    public static IReadOnlyList<IReadOnlyList<BoxF>> Find(string teacherOnnx, ModelEntry detectorEntry, IReadOnlyList<VocPhoto> photos,
        PseudoLabelOptions options, int threads, ILogger logger)
    {
        options.Validate();
        var providers = new ExecutionProviderOptions { Preference = ExecutionProviderKind.Cpu, Strict = true, IntraOpThreads = threads };
        var perSizing = new List<List<FaceDetection>[]>();
        foreach (var sizing in options.Sizings)
        {
            var detectorOptions = new DetectorOptions
            {
                Sizing = sizing.ToInputSizing(),
                // ScoreThreshold is exclusive (score > threshold); the option reads "at least".
                Thresholds = new DetectionThresholds { ScoreThreshold = MathF.BitDecrement(options.MinScore) },
            };
            var session = OnnxSessionFactory.Create(teacherOnnx, providers, logger);
            using var detector = new RetinaFaceDetector(session, detectorEntry, detectorOptions, shouldDispose: true);
            var found = new List<FaceDetection>[photos.Count];
            for (int i = 0; i < photos.Count; i++)
            {
                found[i] = [];
                detector.Detect(photos[i].Image, found[i]);
            }
            perSizing.Add(found);
        }

        var result = new IReadOnlyList<BoxF>[photos.Count];
        int total = 0, withExtra = 0;
        var nmsIoU = new DetectionThresholds().NmsIoU;
        for (int i = 0; i < photos.Count; i++)
        {
            var annotated = photos[i].Annotation.Objects.Select(o => o.Box).ToArray();
            var merged = perSizing.SelectMany(s => s[i]).ToList();
            result[i] = Select(merged, annotated, options.MaxOverlap, nmsIoU);
            total += result[i].Count;
            if (result[i].Count > 0) withExtra++;
        }
        logger.LogInformation("Pseudo-labels: {Faces} faces the start model finds (score ≥ {Score} at {Sizings}) beyond the annotations, on {Photos} of {All} training photos",
            total, options.MinScore, string.Join(", ", options.Sizings), withExtra, photos.Count);
        return result;
    }

    /// <summary>
    /// The detections (any order, possibly from several sizings) that are new faces: merged by greedy NMS at
    /// <paramref name="nmsIoU"/> (best score first), then every one that is an annotated face dropped — IoU with it at
    /// <paramref name="maxOverlap"/> or more, or half of the smaller box inside the other (a box on part of an annotated
    /// face, or an annotated face inside a loose box, is not a second face).
    /// </summary>
    internal static List<BoxF> Select(List<FaceDetection> detections, IReadOnlyList<BoxF> annotated, float maxOverlap, float nmsIoU)
    {
        detections.Sort(static (a, b) => b.Score.CompareTo(a.Score));
        NonMaximumSuppression.ApplyInPlace(detections, nmsIoU);
        var extra = new List<BoxF>();
        foreach (var d in detections)
        {
            bool known = false;
            foreach (var a in annotated)
            {
                if (a.IoU(d.Box) >= maxOverlap || IntersectionOverSmaller(a, d.Box) >= 0.5f) { known = true; break; }
            }
            if (!known && d.Box.Width > 0 && d.Box.Height > 0) extra.Add(d.Box);
        }
        return extra;
    }

    private static float IntersectionOverSmaller(BoxF a, BoxF b)
    {
        float w = MathF.Min(a.X2, b.X2) - MathF.Max(a.X1, b.X1), h = MathF.Min(a.Y2, b.Y2) - MathF.Max(a.Y1, b.Y1);
        float smaller = MathF.Min(a.Area, b.Area);
        return w <= 0 || h <= 0 || smaller <= 0 ? 0f : w * h / smaller;
    }
}
