using EdgeMask.Inference.Runtime;
using EdgeMask.Module.Configuration;
using EdgeMask.Module.Hosting;
using EdgeMask.Module.Pipeline;
using Paths = EdgeMask.Tests.Shared.TestPaths;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMask.Module.Tests.ModuleHost;

/// <summary>
/// The TensorRT engines the device runtime plans from its configuration: the provider options the model service hands
/// to TensorRT for a given set of cameras (exact option strings), the planned rebuild when a configuration moves a
/// camera outside the profile, the classifier's batch cap, and the CPU path reporting honestly. No GPU is here: what
/// TensorRT does with the options (the build, the engine cache) is not run.
/// </summary>
public sealed class EnginePlanTests : IDisposable
{
    private static string Models => Path.Combine(Paths.RepoRoot, "models");
    private readonly string _dir = Paths.NewTempDirectory();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private EdgeMaskOptions Options(string json) =>
        ConfigLoader.Parse(json.Replace("CACHE", _dir.Replace("\\", "/"), StringComparison.Ordinal), "test");

    private const string TwoCameras = """
        {
          "cameras": {
            "door": { "source": "rtsp://10.0.0.1/s1", "width": 960, "height": 540 },
            "hall": { "source": "rtsp://10.0.0.2/s1", "width": 1280, "height": 720 },
            "yard": { "source": "rtsp://10.0.0.3/s1", "width": 960, "height": 540 }
          },
          "sources": { "width": 640, "height": 360 },
          "detector": { "scale": 2 },
          "inference": { "executionProvider": "tensorrt", "tensorRtCacheDirectory": "CACHE", "classifierMaxBatch": 32 }
        }
        """;

    [Fact]
    public void ProviderOptions_ThreeCamerasOfTwoSizesAtScaleTwo_DetectorProfileSpansTheirScaledFramesOptimisedForTheCommonOne()
    {
        var options = Options(TwoCameras);
        var plan = EnginePlan.For(options, []);

        var trt = OnnxSessionFactory.TensorRtProviderOptions(options.Inference.ToProviderOptions(), plan.DetectorProfile("input"));

        Assert.Equal("input:1x3x1080x1920", trt["trt_profile_min_shapes"]);
        Assert.Equal("input:1x3x1080x1920", trt["trt_profile_opt_shapes"]);
        Assert.Equal("input:1x3x1440x2560", trt["trt_profile_max_shapes"]);
        Assert.Equal("1", trt["trt_engine_cache_enable"]);
        Assert.Equal(_dir, trt["trt_engine_cache_path"]);
        Assert.Equal("1", trt["trt_timing_cache_enable"]);
        Assert.Equal(_dir, trt["trt_timing_cache_path"]);
        Assert.All(plan.FrameSizes, s => Assert.Equal(FrameSizeOrigin.Configured, s.Origin));
    }

    [Fact]
    public void ProviderOptions_Classifier_Batch1ToTheConfiguredCapOptimisedFor16()
    {
        var options = Options(TwoCameras);

        var trt = OnnxSessionFactory.TensorRtProviderOptions(options.Inference.ToProviderOptions(), EnginePlan.For(options, []).ClassifierProfile("input", 64));

        Assert.Equal("input:1x3x64x64", trt["trt_profile_min_shapes"]);
        Assert.Equal("input:16x3x64x64", trt["trt_profile_opt_shapes"]);
        Assert.Equal("input:32x3x64x64", trt["trt_profile_max_shapes"]);
    }

    [Fact]
    public void For_CameraWithoutSize_SourcesSizeOrLearnedOrAssumed720p()
    {
        var globalSize = Options("""{ "cameras": { "a": { "source": "rtsp://h/s" } }, "sources": { "width": 800, "height": 448 } }""");
        Assert.Equal(new PlannedFrameSize("a", 800, 448, FrameSizeOrigin.Configured), Assert.Single(EnginePlan.For(globalSize, []).FrameSizes));

        var unsized = Options("""{ "cameras": { "a": { "source": "rtsp://h/s" }, "b": { "source": "rtsp://h/t", "width": 640, "height": 480 } } }""");
        var first = EnginePlan.For(unsized, []);
        Assert.Contains(new PlannedFrameSize("a", 1280, 720, FrameSizeOrigin.Assumed), first.FrameSizes);
        Assert.Contains(new PlannedFrameSize("b", 640, 480, FrameSizeOrigin.Configured), first.FrameSizes);

        var learned = EnginePlan.For(unsized, [(960, 540)]);
        Assert.DoesNotContain(learned.FrameSizes, s => s.Origin == FrameSizeOrigin.Assumed);
        Assert.Contains(new PlannedFrameSize(null, 960, 540, FrameSizeOrigin.Learned), learned.FrameSizes);
    }

    [Fact]
    public void ProfileReloadReason_CameraMovedOutsideTheProfile_PlannedReloadNamingTheCamera()
    {
        var before = Options(TwoCameras);
        var after = before with { Cameras = new Dictionary<string, CameraOptions>(before.Cameras) { ["hall"] = before.Cameras["hall"] with { Width = 1920, Height = 1080 } } };

        string? reason = ModelService.ProfileReloadReason(ExecutionProviderKind.TensorRT, EnginePlan.For(before, []), EnginePlan.For(after, []));

        Assert.NotNull(reason);
        Assert.Contains("hall 1920x1080", reason);
        Assert.Contains("3840x2160", reason);
    }

    [Fact]
    public void ProfileReloadReason_CameraResizedInsideTheRange_NoReload()
    {
        var before = Options(TwoCameras);
        var after = before with { Cameras = new Dictionary<string, CameraOptions>(before.Cameras) { ["yard"] = before.Cameras["yard"] with { Width = 1024, Height = 576 } } };

        Assert.Null(ModelService.ProfileReloadReason(ExecutionProviderKind.TensorRT, EnginePlan.For(before, []), EnginePlan.For(after, [])));
    }

    [Fact]
    public void ProfileReloadReason_ScaleOrBatchCapChanged_PlannedReload()
    {
        var before = Options(TwoCameras);
        var plan = EnginePlan.For(before, []);

        Assert.Contains("detector profile", ModelService.ProfileReloadReason(ExecutionProviderKind.TensorRT, plan,
            EnginePlan.For(before with { Detector = before.Detector with { Scale = 1 } }, [])));
        Assert.Contains("batch cap changes from 32 to 64", ModelService.ProfileReloadReason(ExecutionProviderKind.TensorRT, plan,
            EnginePlan.For(before with { Inference = before.Inference with { ClassifierMaxBatch = 64 } }, [])));
    }

    [Theory]
    [InlineData(ExecutionProviderKind.Cpu)]
    [InlineData(ExecutionProviderKind.Cuda)]
    public void ProfileReloadReason_OffTensorRt_NeverForFrameSizes(ExecutionProviderKind provider)
    {
        var before = Options(TwoCameras);
        var after = before with { Detector = before.Detector with { Scale = 1 } };

        Assert.Null(ModelService.ProfileReloadReason(provider, EnginePlan.For(before, []), EnginePlan.For(after, [])));
    }

    [Fact]
    public void Spanning_ReloadPlan_CoversThePreviousInputsAndStaysOptimisedForTheNew()
    {
        var before = Options(TwoCameras);
        var after = before with { Detector = before.Detector with { Scale = 1 } };

        var reload = EnginePlan.For(after, []).Spanning(EnginePlan.For(before, []));
        var range = reload.DetectorProfile("input").Inputs[0];

        Assert.True(range.Covers([1, 3, 540, 960]));
        Assert.True(range.Covers([1, 3, 1440, 2560]), "a camera still on scale 2 for a frame after the switch");
        Assert.Equal([1L, 3, 540, 960], range.Opt);
        Assert.True(EnginePlan.For(before, []).Spanning(null) is { TransitionInputs.Count: 0 });
    }

    private static string CpuConfig(string cache, int maxBatch = 64) => $$"""
        {
          "cameras": { "door": { "source": "rtsp://10.0.0.1/s1", "width": 960, "height": 540 } },
          "inference": { "modelsDirectory": "{{Models}}", "executionProvider": "cpu", "intraOpThreads": 1,
                         "tensorRtCacheDirectory": "{{cache}}", "classifierMaxBatch": {{maxBatch}} }
        }
        """;

    [Fact]
    public async Task ModelService_CpuCameraResized_NoReloadAndReportsNoProfiles()
    {
        var options = ConfigLoader.Parse(CpuConfig(_dir), "test");
        await using var service = new ModelService(options, NullLoggerFactory.Instance);
        await service.StartAsync(CancellationToken.None);

        var resized = options with { Cameras = new Dictionary<string, CameraOptions> { ["door"] = options.Cameras["door"] with { Width = 1920, Height = 1080 } } };
        Assert.False(service.NeedsReload(resized));

        var report = service.Report();
        Assert.Equal("cpu", report["provider"]!.GetValue<string>());
        Assert.Null(report["frameSizes"]);
        var engines = report["engines"]!.AsArray();
        Assert.Equal(2, engines.Count);
        foreach (var engine in engines)
        {
            Assert.Equal("cpu", engine!["provider"]!.GetValue<string>());
            Assert.Null(engine["tensorRtProfile"]);
            Assert.Null(engine["tensorRtShapes"]);
            Assert.Null(engine["engineCache"]);
            Assert.Null(engine["engineCacheDirectory"]);
            Assert.Null(engine["warmUp"]);
        }
    }

    /// <summary>
    /// With <c>inference.intraOpThreads</c> 0 the shared sessions give each run the cameras' share of the CPUs: a second
    /// camera reopens them with half the threads (two camera threads running them at once would otherwise ask for more
    /// threads than there are cores), a set value is kept whatever the number of cameras.
    /// </summary>
    [Fact]
    public async Task ModelService_AutoThreadsSecondCameraAdded_ReopenedWithTheCamerasShare()
    {
        var set = ConfigLoader.Parse(CpuConfig(_dir), "test");
        var auto = set with { Inference = set.Inference with { IntraOpThreads = 0 } };
        var gate = new CameraOptions { Source = "rtsp://10.0.0.9/s1", Width = 640, Height = 480 };
        Dictionary<string, CameraOptions> Cameras(int n) =>
            Enumerable.Range(0, n).ToDictionary(i => i == 0 ? "door" : $"gate{i}", i => i == 0 ? set.Cameras["door"] : gate);

        Assert.Equal(1, set.Inference.ThreadsPerRun(4));
        Assert.Equal(Environment.ProcessorCount, auto.Inference.ThreadsPerRun(1));
        Assert.Equal(Environment.ProcessorCount, auto.Inference.ThreadsPerRun(0)); // a module whose cameras come later
        Assert.Equal(Math.Max(1, Environment.ProcessorCount / 2), auto.Inference.ThreadsPerRun(2));
        Assert.Equal(1, auto.Inference.ThreadsPerRun(Environment.ProcessorCount + 1));

        await using var service = new ModelService(auto, NullLoggerFactory.Instance);
        await service.StartAsync(CancellationToken.None);
        Assert.Equal(Environment.ProcessorCount, service.Report()["intraOpThreads"]!.GetValue<int>());

        var two = auto with { Cameras = Cameras(2) };
        if (Environment.ProcessorCount >= 2)
        {
            Assert.Contains("share of the CPU", service.ReloadReason(two), StringComparison.Ordinal);
            await service.ReloadAsync(two, CancellationToken.None);
            Assert.Equal(2, service.Generation);
            Assert.Equal(Environment.ProcessorCount / 2, service.Report()["intraOpThreads"]!.GetValue<int>());
        }
        else
        {
            Assert.Null(service.ReloadReason(two)); // one CPU: one thread either way
        }

        // Set by hand: the number of cameras changes nothing.
        await using var fixedService = new ModelService(set, NullLoggerFactory.Instance);
        await fixedService.StartAsync(CancellationToken.None);
        Assert.Null(fixedService.ReloadReason(set with { Cameras = Cameras(3) }));
        Assert.Equal(1, fixedService.Report()["intraOpThreads"]!.GetValue<int>());
    }

    [Fact]
    public async Task ModelService_ClassifierMaxBatchChanged_ReloadsAndTheCamerasClassifierIsCappedToIt()
    {
        var options = ConfigLoader.Parse(CpuConfig(_dir), "test");
        await using var service = new ModelService(options, NullLoggerFactory.Instance);
        await service.StartAsync(CancellationToken.None);
        using (var classifier = service.Current.CreateClassifier()!) Assert.Equal(64, classifier.Classifier.MaxBatch);

        var capped = options with { Inference = options.Inference with { ClassifierMaxBatch = 8 } };
        Assert.Equal("the inference section changed", service.ReloadReason(capped));
        await service.ReloadAsync(capped, CancellationToken.None);

        Assert.Equal(2, service.Generation);
        using var lease = service.Acquire();
        using var stage = (OnnxMaskClassifier)lease.Models.CreateClassifier()!;
        Assert.Equal(8, stage.Classifier.MaxBatch);
        Assert.Equal(8, service.Report()["classifierMaxBatch"]!.GetValue<int>());
    }

    [Fact]
    public async Task OnFrameOutsideProfile_SizeLearnedKeptBesideTheEnginesAndPlannedAtTheNextStart()
    {
        var options = ConfigLoader.Parse(CpuConfig(_dir).Replace("\"width\": 960, \"height\": 540", "\"loop\": false", StringComparison.Ordinal), "test");
        await using (var first = new ModelService(options, NullLoggerFactory.Instance))
        {
            await first.StartAsync(CancellationToken.None);
            Assert.Equal(FrameSizeOrigin.Assumed, Assert.Single(first.PlanFor(options).FrameSizes).Origin);

            first.OnFrameOutsideProfile(1024, 576);
            await first.PlannedRebuildTask;

            // On the CPU every shape runs: nothing was rebuilt, and the record says it completed without error.
            Assert.Equal(1, first.Generation);
            var rebuild = first.LastPlannedRebuild!;
            Assert.Contains("1024x576", rebuild.Reason);
            Assert.NotNull(rebuild.CompletedAt);
            Assert.Null(rebuild.Error);
        }
        Assert.True(File.Exists(Path.Combine(_dir, "frame-sizes.json")));

        await using var second = new ModelService(options, NullLoggerFactory.Instance);
        Assert.Equal(new PlannedFrameSize(null, 1024, 576, FrameSizeOrigin.Learned), Assert.Single(second.PlanFor(options).FrameSizes));
    }

    [Fact]
    public async Task ConfigurationApplied_CameraAddedWithoutReload_PlannedRebuildsPlanFromIt()
    {
        var options = ConfigLoader.Parse(CpuConfig(_dir), "test");
        await using var service = new ModelService(options, NullLoggerFactory.Instance);
        await service.StartAsync(CancellationToken.None);
        var added = options with
        {
            Cameras = new Dictionary<string, CameraOptions>(options.Cameras) { ["gate"] = new() { Source = "rtsp://10.0.0.9/s1", Width = 640, Height = 480 } },
        };

        Assert.False(service.NeedsReload(added));
        service.ConfigurationApplied(added);

        Assert.Contains(new PlannedFrameSize("gate", 640, 480, FrameSizeOrigin.Configured), service.PlanFor(service.Options).FrameSizes);
        // A configuration that needs new sessions is taken by the reload, not here.
        service.ConfigurationApplied(added with { Inference = added.Inference with { ClassifierMaxBatch = 4 } });
        Assert.Equal(64, service.Options.Inference.ClassifierMaxBatch);
    }

    [Fact]
    public async Task LearnedFrameSizes_DamagedFile_PlannedWithoutThem()
    {
        await File.WriteAllTextAsync(Path.Combine(_dir, "frame-sizes.json"), "{ not json");
        var options = ConfigLoader.Parse(CpuConfig(_dir).Replace("\"width\": 960, \"height\": 540", "\"loop\": false", StringComparison.Ordinal), "test");

        await using var service = new ModelService(options, NullLoggerFactory.Instance);

        Assert.Equal(FrameSizeOrigin.Assumed, Assert.Single(service.PlanFor(options).FrameSizes).Origin);
    }
}
