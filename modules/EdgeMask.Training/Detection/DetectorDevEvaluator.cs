using System.Globalization;
using EdgeMask.Core.Classification;
using EdgeMask.Core.Detection;
using EdgeMask.Core.Evaluation;
using EdgeMask.Inference.Detection;
using EdgeMask.Inference.Models;
using EdgeMask.Inference.Runtime;
using Microsoft.Extensions.Logging;

namespace EdgeMask.Training.Detection;

/// <summary>Detection figures of one ONNX file on a dev set at one input scale, as <c>edgemask eval</c> reports them.</summary>
internal sealed record DetectorFigures(
    float Scale, int Images, Fraction RecallMaskedLarge, Fraction RecallBareLarge, Fraction RecallIncorrectLarge,
    Fraction RecallLarge, Fraction RecallSmall, Fraction Recall, int Detections, int FalseDetections)
{
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"×{Scale:0.#}: ≥20px masked {Pct(RecallMaskedLarge)} bare {Pct(RecallBareLarge)} incorrect {Pct(RecallIncorrectLarge)} all {Pct(RecallLarge)} | <20px {Pct(RecallSmall)} | false {FalseDetections}/{Detections}");

    public static string Pct(Fraction f) => double.IsNaN(f.Value) ? "—" : f.Value.ToString("P1", CultureInfo.InvariantCulture);
}

/// <summary>
/// Runs a RetinaFace ONNX through the run-time <see cref="RetinaFaceDetector"/> (ONNX Runtime, manifest contract and
/// prior configuration, default thresholds: score 0.5, NMS 0.4) over a VOC dev set and scores it with
/// <see cref="MaskEvaluator"/> (IoU 0.5, 20 px) — the code path of <c>edgemask eval --detector FILE</c>.
/// </summary>
internal sealed class DetectorDevEvaluator(ModelEntry detectorEntry, int threads, ILogger logger)
{
    public DetectorFigures Evaluate(string onnxPath, IReadOnlyList<VocPhoto> photos, float scale)
    {
        var options = new DetectorOptions { Sizing = new InputSizing { Scale = scale } };
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
        return new DetectorFigures(scale, r.Images, Class(MaskClassNames.WithMask), Class(MaskClassNames.WithoutMask), Class(MaskClassNames.MaskWornIncorrectly),
            r.RecallLarge, r.RecallSmall, r.Recall, r.Detections, r.FalseDetections);
    }
}
