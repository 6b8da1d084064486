using EdgeMask.Core.Classification;
using EdgeMask.Core.Detection;
using EdgeMask.Core.Evaluation;
using EdgeMask.Inference.Detection;
using EdgeMask.Inference.Imaging;
using EdgeMask.Inference.Models;
using EdgeMask.Inference.Runtime;
using EdgeMask.Tests.Shared;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit.Abstractions;

namespace EdgeMask.Inference.Tests.Detection;

/// <summary>
/// Regression guard for the default detector (the fine-tuned RetinaFace committed in models/) on voc853 dev, scored the
/// way <c>edgemask eval</c> scores it (<see cref="MaskEvaluator"/>: IoU 0.5, faces ≥ 20 px, score 0.5, NMS 0.4), at
/// the operating point of models/retinaface_mnet025_masked.md. The bars are issue 16's targets where the shipped model
/// meets them (masked ≥ 20 px 97 %, &lt; 20 px 80 %, ≤ 100 false detections) and its card's figure where it does not
/// (bare ≥ 20 px: 67 of 70 against the target's 68).
/// </summary>
public sealed class ShippedDetectorAccuracyTests(ITestOutputHelper output)
{
    /// <summary>
    /// The product's operating point: the detector sees 960 px on the long side — a 960×540 camera at its native size
    /// (<c>detector.scale: 1</c>); voc853's photos (mostly 400 px wide) are enlarged to it, exactly as the sample video
    /// shows them.
    /// </summary>
    internal static readonly InputSizing OperatingPoint = new() { TargetLongSide = 960 };

    [Fact]
    public void Detect_Voc853DevAtTheOperatingPoint_HoldsTheModelCardFigures()
    {
        var store = new ModelStore(Path.Combine(TestPaths.RepoRoot, "models"), ModelManifest.Load(Path.Combine(TestPaths.RepoRoot, "models", "manifest.json")));
        using var detector = RetinaFaceDetector.Open(store, new DetectorOptions { Sizing = OperatingPoint },
            new ExecutionProviderOptions { Preference = ExecutionProviderKind.Cpu }, NullLogger.Instance);
        var evaluator = new MaskEvaluator(0.5f, 20f, IncorrectMaskPolicy.AsNoMask);
        var faces = new List<FaceDetection>();
        var detections = new List<EvalDetection>();
        foreach (string stem in DetectorRecallTests.DevStems())
        {
            var annotation = VocAnnotation.Load(Path.Combine(TestPaths.Voc853, "annotations", stem + ".xml"));
            using var photo = ImageLoader.LoadBgr(Path.Combine(TestPaths.Voc853, "images", stem + ".jpg"));
            detector.Detect(photo, faces);
            detections.Clear();
            // Only recall and false detections are read, so the mask label is a placeholder.
            foreach (var f in faces) detections.Add(new EvalDetection(f.Box, f.Score, MaskLabel.Mask, 1f));
            evaluator.Add(annotation, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(detections));
        }
        var r = evaluator.Report();
        var masked = r.RecallLargePerClass[MaskClassNames.WithMask];
        var bare = r.RecallLargePerClass[MaskClassNames.WithoutMask];
        output.WriteLine($"masked ≥20 px {masked.Value:P1} ({masked.Hits}/{masked.Total}), bare ≥20 px {bare.Value:P1} ({bare.Hits}/{bare.Total}), " +
                         $"<20 px {r.RecallSmall.Value:P1}, false detections {r.FalseDetections} of {r.Detections}");

        Assert.Equal(171, r.Images);
        Assert.True(masked.Value >= 0.97, $"masked faces ≥ 20 px: {masked.Value:P1}, target 97 %");
        Assert.True(bare.Hits >= 67, $"bare faces ≥ 20 px: {bare.Hits} of {bare.Total}; the card says 67 (issue 16's target: 97 %, 68)");
        Assert.True(r.RecallSmall.Value >= 0.80, $"faces < 20 px: {r.RecallSmall.Value:P1}, target 80 %");
        Assert.True(r.FalseDetections <= 100, $"{r.FalseDetections} false detections, target ≤ 100");
    }
}
