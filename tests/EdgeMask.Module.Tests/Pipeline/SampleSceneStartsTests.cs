using System.Text.Json;
using EdgeMask.Core.Events;
using EdgeMask.Core.Policy;
using EdgeMask.Module.Configuration;
using EdgeMask.Module.Pipeline;
using EdgeMask.Tests.Shared;
using Microsoft.Extensions.Logging.Abstractions;
using OpenCvSharp;

namespace EdgeMask.Module.Tests.Pipeline;

/// <summary>
/// One violation per person (issue 16, part 5) on the real sample with the real models at the default configuration,
/// frame by frame at the camera's 15 frames/s — what <c>edgemask run --realtime</c> does when it drops nothing. Two
/// scenes, to stay affordable in CI: the crowd (41 bare faces ≥ 20 px among 61) and the scene with badly worn masks.
/// The whole sample is scored by <c>bench scenes</c> (bench/README.md).
/// </summary>
public class SampleSceneStartsTests
{
    private const double Fps = 15;

    private sealed class StartSink : IPipelineSink
    {
        public long Frame;
        public List<EpisodeStart> Starts { get; } = [];
        public void OnEvent(MaskEvent e)
        {
            if (e.Type == EventTypes.ViolationStart) Starts.Add(new EpisodeStart(Frame, ViolationKind.NoMask));
            else if (e.Type == EventTypes.IncorrectStart) Starts.Add(new EpisodeStart(Frame, ViolationKind.Incorrect));
        }
        public void OnStats(CameraStats stats) { }
    }

    private static SceneExpectation Scene(string image)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.ChangeExtension(TestPaths.SampleVideo, ".scenes.json")));
        var e = doc.RootElement.EnumerateArray().Single(s => s.GetProperty("image").GetString() == image);
        return new SceneExpectation(image, e.GetProperty("start_frame").GetInt64(), e.GetProperty("frames").GetInt32(),
            e.GetProperty("unmasked_ge20px").GetInt32(), e.GetProperty("incorrect_ge20px").GetInt32());
    }

    /// <summary>The scene's frames through a fresh pipeline at the default configuration; the starts and their frames.</summary>
    private static List<EpisodeStart> Run(SceneExpectation scene, IncorrectMaskCounting counting)
    {
        var sink = new StartSink();
        var defaults = new EdgeMaskOptions().Violation;
        using var real = new RealModelPipeline("sample", sink, defaults with { IncorrectCounts = counting });
        var pipeline = real.Pipeline;
        using var video = new VideoCapture(TestPaths.SampleVideo);
        Assert.True(video.IsOpened(), $"Cannot open {TestPaths.SampleVideo}");
        using var frame = new Mat();
        var t0 = new DateTimeOffset(2026, 12, 1, 9, 0, 0, TimeSpan.Zero);
        // Decoded from the start: seeking an H.264 file is not frame-exact.
        for (long i = 0; i < scene.StartFrame + scene.Frames; i++)
        {
            Assert.True(video.Read(frame) && !frame.Empty(), $"frame {i} of the sample");
            if (i < scene.StartFrame) continue;
            sink.Frame = i;
            pipeline.ProcessFrame(frame, i, t0 + TimeSpan.FromSeconds(i / Fps));
        }
        pipeline.Complete();
        return sink.Starts;
    }

    [Fact]
    public void CrowdScene_FrameByFrame_OneViolationPerBareFace()
    {
        var scene = Scene("maksssksksss240.jpg");

        var score = SceneStartScore.Compute([scene], Run(scene, IncorrectMaskCounting.Violation), IncorrectMaskCounting.Violation);

        // Measured 40 of 41 (bench scenes, every frame: the 41st start was a box bridging two neighbours, now refused by
        // violation.duplicateCoverage; one 22 px face has a box below minFaceSize); the issue saw 32 when frames were dropped.
        var row = Assert.Single(score.Rows);
        Assert.True(row.Error <= 2, $"{row.Violations} violation starts for {row.ExpectedViolations} bare faces ≥ 20 px in the crowd");
    }

    [Fact]
    public void IncorrectMaskScene_Separate_BareFacesAndBadlyWornMasksCountedApart()
    {
        var scene = Scene("maksssksksss250.jpg");

        var score = SceneStartScore.Compute([scene], Run(scene, IncorrectMaskCounting.Separate), IncorrectMaskCounting.Separate);

        // 2 bare faces and 2 masks worn under the nose: 2 violation.start and 2 incorrect.start (measured exactly).
        var row = Assert.Single(score.Rows);
        Assert.True(row.Error <= 1, $"violation.start {row.Violations}/{row.ExpectedViolations}, incorrect.start {row.Incorrect}/{row.ExpectedIncorrect}");
        Assert.True(row.Incorrect >= 1, "no incorrect.start for the masks worn under the nose");
    }
}
