using System.Globalization;
using EdgeMask.Core.Classification;
using EdgeMask.Core.Detection;
using EdgeMask.Core.Evaluation;
using EdgeMask.Inference.Detection;
using EdgeMask.Inference.Models;
using EdgeMask.Inference.Runtime;
using Microsoft.Extensions.Logging;

namespace EdgeMask.Training.Detection;

/// <summary>
/// A detector input sizing the dev figures are measured at: a scale of the photo (<c>2</c> → ×2, <c>edgemask eval
/// --scale 2</c>) or a long side in pixels (<c>960px</c>, <c>--target-long-side 960</c>: what a 960×540 camera gives
/// the detector at its native size).
/// </summary>
internal readonly record struct DevSizing(float Scale, int? LongSide = null)
{
    public static implicit operator DevSizing(float scale) => new(scale);

    public InputSizing ToInputSizing() => LongSide is int side ? new InputSizing { TargetLongSide = side } : new InputSizing { Scale = Scale };

    public bool IsValid => LongSide is int side ? side is >= 32 and <= 4096 : Scale is > 0f and <= 4f;

    public override string ToString() => LongSide is int side
        ? string.Create(CultureInfo.InvariantCulture, $"{side}px")
        : string.Create(CultureInfo.InvariantCulture, $"×{Scale:0.#}");

    /// <summary><c>2</c> or <c>1.5</c>: a scale; <c>960px</c>: a long side.</summary>
    public static DevSizing Parse(string token)
    {
        token = token.Trim();
        if (token.EndsWith("px", StringComparison.OrdinalIgnoreCase)
            && int.TryParse(token[..^2], NumberStyles.Integer, CultureInfo.InvariantCulture, out int side))
            return new DevSizing(1f, side);
        if (float.TryParse(token, NumberStyles.Float, CultureInfo.InvariantCulture, out float scale)) return new DevSizing(scale);
        throw new ArgumentException($"--dev-scales and --pseudo-sizings take scales (2, 1.5) or long sides in pixels (960px), not '{token}'.");
    }
}

/// <summary>Detection figures of one ONNX file on a dev set at one input sizing, as <c>edgemask eval</c> reports them.</summary>
internal sealed record DetectorFigures(
    DevSizing Input, int Images, Fraction RecallMaskedLarge, Fraction RecallBareLarge, Fraction RecallIncorrectLarge,
    Fraction RecallLarge, Fraction RecallSmall, Fraction Recall, int Detections, int FalseDetections)
{
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Input}: ≥20px masked {Pct(RecallMaskedLarge)} bare {Pct(RecallBareLarge)} incorrect {Pct(RecallIncorrectLarge)} all {Pct(RecallLarge)} | <20px {Pct(RecallSmall)} | false {FalseDetections}/{Detections}");

    public static string Pct(Fraction f) => double.IsNaN(f.Value) ? "—" : f.Value.ToString("P1", CultureInfo.InvariantCulture);
}

/// <summary>
/// Runs a RetinaFace ONNX through the run-time <see cref="RetinaFaceDetector"/> (ONNX Runtime, manifest contract and
/// prior configuration, default thresholds: score 0.5, NMS 0.4) over a VOC dev set and scores it with
/// <see cref="MaskEvaluator"/> (IoU 0.5, 20 px) — the code path of <c>edgemask eval --detector FILE</c>.
/// </summary>
internal sealed class DetectorDevEvaluator(ModelEntry detectorEntry, int threads, ILogger logger)
{
    public DetectorFigures Evaluate(string onnxPath, IReadOnlyList<VocPhoto> photos, DevSizing sizing)
    {
        var options = new DetectorOptions { Sizing = sizing.ToInputSizing() };
        var providers = new ExecutionProviderOptions { Preference = ExecutionProviderKind.Cpu, Strict = true, IntraOpThreads = threads };
        var session = OnnxSessionFactory.Create(onnxPath, providers, logger);
        using var detector = new RetinaFaceDetector(session, detectorEntry, options, shouldDispose: true);
        var evaluator = new MaskEvaluator(0.5f, 20f, IncorrectMaskPolicy.AsNoMask);
        var faces = new List<FaceDetection>();
        var detections = new List<EvalDetection>();
        foreach (var photo in photos)
        {
            detector.Detect(photo.Image, faces);
            detections.Clear();
            // Only face recall and false detections are read from the report, so the mask label is a placeholder.
            foreach (var f in faces) detections.Add(new EvalDetection(f.Box, f.Score, MaskLabel.Mask, 1f));
            evaluator.Add(photo.Annotation, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(detections));
        }
        var r = evaluator.Report();
        Fraction Class(string name) => r.RecallLargePerClass.TryGetValue(name, out var f) ? f : new Fraction(0, 0);
        return new DetectorFigures(sizing, r.Images, Class(MaskClassNames.WithMask), Class(MaskClassNames.WithoutMask), Class(MaskClassNames.MaskWornIncorrectly),
            r.RecallLarge, r.RecallSmall, r.Recall, r.Detections, r.FalseDetections);
    }
}
