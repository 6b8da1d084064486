using EdgeMask.Core.Classification;
using EdgeMask.Core.Detection;
using EdgeMask.Core.Geometry;
using EdgeMask.Inference.Classification;
using EdgeMask.Inference.Detection;
using EdgeMask.Inference.Models;
using EdgeMask.Inference.Runtime;
using EdgeMask.Inference.Tests.Classification;
using EdgeMask.Tests.Shared;
using Microsoft.Extensions.Logging.Abstractions;
using OpenCvSharp;

namespace EdgeMask.Inference.Tests.Runtime;

/// <summary>
/// The TensorRT optimization profiles: the provider options follow the configured cameras and the classifier's batch
/// cap exactly. No GPU is here, so what TensorRT does with them is not run; the options are checked against the
/// documented format (<c>name:AxBxCxD</c>, comma-separated) and the CPU path is run for real.
/// </summary>
public sealed class TensorRtProfileTests
{
    private static readonly ExecutionProviderOptions Trt = new() { Preference = ExecutionProviderKind.TensorRT, TensorRtCacheDirectory = "/var/cache/edgemask-trt" };

    [Fact]
    public void TensorRtProviderOptions_OneCamera960x540AtNativeScale_OneExactDetectorShape()
    {
        var profile = TensorRtProfile.ForDetector("input", [(960, 540)], new InputSizing());

        var options = OnnxSessionFactory.TensorRtProviderOptions(Trt, profile);

        Assert.Equal("input:1x3x540x960", options["trt_profile_min_shapes"]);
        Assert.Equal("input:1x3x540x960", options["trt_profile_opt_shapes"]);
        Assert.Equal("input:1x3x540x960", options["trt_profile_max_shapes"]);
        Assert.Equal("1", options["trt_engine_cache_enable"]);
        Assert.Equal("/var/cache/edgemask-trt", options["trt_engine_cache_path"]);
        Assert.Equal("1", options["trt_fp16_enable"]);
    }

    [Fact]
    public void TensorRtProviderOptions_CamerasOfTwoSizesAtScaleTwo_RangeSpansBothScaledFramesOptimisedForTheCommonOne()
    {
        // Three cameras: two 960×540, one 1280×720, detector at ×2.
        var profile = TensorRtProfile.ForDetector("input", [(960, 540), (1280, 720), (960, 540)], new InputSizing { Scale = 2f });

        var options = OnnxSessionFactory.TensorRtProviderOptions(Trt, profile);

        Assert.Equal("input:1x3x1080x1920", options["trt_profile_min_shapes"]);
        Assert.Equal("input:1x3x1080x1920", options["trt_profile_opt_shapes"]);
        Assert.Equal("input:1x3x1440x2560", options["trt_profile_max_shapes"]);
    }

    [Fact]
    public void ForDetector_TargetLongSide_UsesTheResizedInput()
    {
        var profile = TensorRtProfile.ForDetector("input", [(1920, 1080)], new InputSizing { TargetLongSide = 960 });

        Assert.Equal("input:1x3x540x960", profile.ProviderOptions()["trt_profile_max_shapes"]);
    }

    [Fact]
    public void ForDetector_BorderPad_CoversTheFramedTensor()
    {
        // The engine must be built for what the network sees: the frame plus the border on every side.
        var profile = TensorRtProfile.ForDetector("input", [(960, 540)], new InputSizing { BorderPad = 32 });

        Assert.Equal("input:1x3x604x1024", profile.ProviderOptions()["trt_profile_max_shapes"]);
    }

    [Fact]
    public void ForDetector_NoCamera_IsRefused()
    {
        var e = Assert.Throws<ArgumentException>(() => TensorRtProfile.ForDetector("input", [], new InputSizing()));
        Assert.Contains("at least one camera", e.Message);
    }

    [Fact]
    public void TensorRtProviderOptions_Classifier_Batch1ToTheCapOfTheMaskClassifier()
    {
        var profile = TensorRtProfile.ForClassifier("input", 64, MaskClassifier.DefaultMaxBatch, MaskClassifier.DefaultOptBatch);

        var options = OnnxSessionFactory.TensorRtProviderOptions(Trt, profile);

        Assert.Equal("input:1x3x64x64", options["trt_profile_min_shapes"]);
        Assert.Equal("input:16x3x64x64", options["trt_profile_opt_shapes"]);
        Assert.Equal("input:64x3x64x64", options["trt_profile_max_shapes"]);
        Assert.Equal(64, profile.MaxBatch);
    }

    [Fact]
    public void TensorRtProviderOptions_NoProfile_NoProfileOptions()
    {
        var options = OnnxSessionFactory.TensorRtProviderOptions(Trt, null);

        Assert.DoesNotContain(options.Keys, k => k.StartsWith("trt_profile_", StringComparison.Ordinal));
    }

    [Fact]
    public void Covers_ShapesInsideAndOutsideTheRange()
    {
        var profile = TensorRtProfile.ForDetector("input", [(960, 540), (1280, 720)], new InputSizing());

        Assert.True(profile.Covers("input", [1, 3, 540, 960]));
        Assert.True(profile.Covers("input", [1, 3, 600, 1000]));
        Assert.False(profile.Covers("input", [1, 3, 1080, 1920]));
        Assert.False(profile.Covers("input", [2, 3, 540, 960]));
        Assert.False(profile.Covers("other", [1, 3, 540, 960]));
    }

    [Theory]
    [InlineData("in,put")]
    [InlineData("in:put")]
    [InlineData("")]
    public void ShapeRange_NameTheProviderCouldNotParse_IsRefused(string name)
    {
        Assert.Throws<ArgumentException>(() => new TensorRtProfile([new TensorRtShapeRange(name, [1, 3], [1, 3], [1, 3])]));
    }

    [Fact]
    public void ShapeRange_MinAboveMax_IsRefusedNamingTheDimension()
    {
        var e = Assert.Throws<ArgumentException>(() => new TensorRtProfile([new TensorRtShapeRange("input", [1, 3, 720, 960], [1, 3, 540, 960], [1, 3, 540, 960])]));
        Assert.Contains("dimension 2", e.Message);
    }

    [Fact]
    public void Report_CpuSessionWithProfileAndWarmUp_SaysCpuNoEngineAndTheWarmedShapes()
    {
        var store = new ModelStore(Path.Combine(TestPaths.RepoRoot, "models"), ModelManifest.Embedded);   // the committed default detector
        var entry = store.Manifest.GetByRole("detector");
        var profile = TensorRtProfile.ForDetector(entry.Input.Name, [(640, 360)], new InputSizing());
        var session = OnnxSessionFactory.Create(store.GetVerifiedPath(entry), new ExecutionProviderOptions { Preference = ExecutionProviderKind.Cpu }, NullLogger.Instance, profile);
        using var detector = new RetinaFaceDetector(session, entry, new DetectorOptions(), shouldDispose: true);

        var warmUp = detector.WarmUp([(640, 360), (640, 360)]);
        var report = session.Report();

        Assert.Equal(["1x3x360x640"], warmUp.Shapes);
        Assert.Equal("cpu", report.Provider);
        Assert.Equal(Path.GetFileName(store.GetVerifiedPath(entry)), report.Model);
        Assert.Null(report.TensorRtProfile);   // CPU runs: no engine was built for it
        Assert.Same(warmUp, report.WarmUp);
        Assert.Same(profile, session.Profile);
    }

    [Fact]
    public void Classify_MoreFacesThanMaxBatch_SplitIntoRunsWithTheSameAnswers()
    {
        using var photo = Cv2.ImRead(TestPaths.VocImage(0), ImreadModes.Color);
        var boxes = Enumerable.Range(0, 11).Select(i => new BoxF(10 + 25 * i, 20 + 7 * i, 50 + 25 * i, 70 + 7 * i)).ToArray();
        using var capped = new MaskClassifier(ClassifierSessions.Create(ClassifierModelFixture.ModelPath, 1),
            ReadContract(), shouldDispose: true, initialCapacity: 2, maxBatch: 4);
        using var whole = new MaskClassifier(ClassifierSessions.Create(ClassifierModelFixture.ModelPath, 1),
            ReadContract(), shouldDispose: true, initialCapacity: 16);

        var split = new MaskClassification[boxes.Length];
        capped.Classify(photo, boxes, split);
        var reference = new MaskClassification[boxes.Length];
        whole.Classify(photo, boxes, reference);

        Assert.Equal(4, capped.Capacity);
        for (int i = 0; i < boxes.Length; i++) Assert.Equal(reference[i].MaskProbability, split[i].MaskProbability, 1e-5f);
    }

    [Fact]
    public void WarmUp_Classifier_RunsBatchOneAndTheCap()
    {
        using var classifier = new MaskClassifier(ClassifierSessions.Create(ClassifierModelFixture.ModelPath, 1), ReadContract(), shouldDispose: true, maxBatch: 8);

        var warmUp = classifier.WarmUp();

        Assert.Equal(["1x3x64x64", "8x3x64x64"], warmUp.Shapes);
        Assert.Equal(8, classifier.Capacity);
    }

    private static ClassifierContract ReadContract()
    {
        using var session = ClassifierSessions.Create(ClassifierModelFixture.ModelPath, 1);
        return MaskClassifier.ReadContract(session);
    }
}
