using System.Text.Json;
using EdgeMask.Core.Events;
using EdgeMask.Core.Policy;
using EdgeMask.Module.Configuration;
using EdgeMask.Module.Pipeline;
using EdgeMask.Tests.Shared;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OpenCvSharp;
using LogEntry = EdgeMask.Messaging.Tests.Support.LogEntry;
using LogLevel = Microsoft.Extensions.Logging.LogLevel;
using TestLoggerFactory = EdgeMask.Messaging.Tests.Support.TestLoggerFactory;

namespace EdgeMask.Module.Tests.Pipeline;

/// <summary>
/// A poster on a platform wall, through the real detector and classifier: people keep walking in front of it, and each
/// time the tracker finds the face again it is a new track. It must start one violation, not one per passer-by; and the
/// zone the log suggests, pasted into the configuration, must silence it for good.
/// </summary>
public class StationaryFacePipelineTests
{
    private const double Fps = 15;
    private static readonly DateTimeOffset T0 = new(2026, 12, 1, 9, 0, 0, TimeSpan.Zero);

    private sealed class StartSink : IPipelineSink
    {
        public int Starts;
        public void OnEvent(MaskEvent e)
        {
            if (e.Type == EventTypes.ViolationStart) Starts++;
        }
        public void OnStats(CameraStats stats) { }
    }

    /// <summary>A grey 960×540 platform wall with a portrait photo (one bare face, about 120 px) as a poster at the right.</summary>
    internal static Mat Wall()
    {
        var wall = new Mat(540, 960, MatType.CV_8UC3, new Scalar(128, 128, 128));
        using var photo = Cv2.ImRead(TestPaths.VocImage(343));
        Assert.False(photo.Empty(), "voc853 photo 343");
        using var poster = photo.Resize(new Size(225, 300));
        using (var region = new Mat(wall, new Rect(620, 120, 225, 300))) poster.CopyTo(region);
        return wall;
    }

    /// <summary>The wall with someone standing in front of the poster (their back: no face).</summary>
    internal static Mat Hidden(Mat wall) => PasserBy(wall, 600);

    /// <summary>The wall with a passer-by's back (270 px wide, no face) at <paramref name="x"/>; at 600 it hides the poster.</summary>
    private static Mat PasserBy(Mat wall, int x)
    {
        var image = wall.Clone();
        Cv2.Rectangle(image, new Rect(x, 80, 270, 400), new Scalar(40, 30, 30), -1);
        return image;
    }

    private static (int Starts, IReadOnlyList<StationaryFace> Learnt) Run(ViolationPolicyOptions violation, ILogger logger, CameraMetrics? metrics = null)
    {
        var sink = new StartSink();
        using var real = new RealModelPipeline("platform", sink, violation, logger, metrics);
        var pipeline = real.Pipeline;
        using var wall = Wall();
        using var hidden = Hidden(wall);
        long frame = 0;
        void Show(Mat image, double seconds)
        {
            for (int i = 0; i < seconds * Fps; i++, frame++) pipeline.ProcessFrame(image, frame, T0 + TimeSpan.FromSeconds(frame / Fps));
        }

        // One frame each of a passer-by walking from the left (x 330) to the right (x 870) past the poster, in a second,
        // so the face is hidden and revealed bit by bit as in a real scene.
        var walk = Enumerable.Range(0, (int)Fps + 1).Select(i => PasserBy(wall, 330 + i * 540 / (int)Fps)).ToArray();
        try
        {
            // In view for 4 s, then three passers-by, each stopping in front of it for 3 s (longer than the tracker keeps
            // a lost track).
            Show(wall, 4);
            for (int passerBy = 0; passerBy < 3; passerBy++)
            {
                foreach (Mat step in walk[..((int)Fps / 2)]) Show(step, 1 / Fps);
                Show(hidden, 3);
                foreach (Mat step in walk[((int)Fps / 2)..]) Show(step, 1 / Fps);
                Show(wall, 2);
            }
        }
        finally
        {
            foreach (Mat step in walk) step.Dispose();
        }
        var learnt = pipeline.Policy.Stationary.Current;
        pipeline.Complete();
        return (sink.Starts, learnt);
    }

    private static readonly ViolationPolicyOptions Learning = new ViolationPolicyOptions()
        with { Stationary = new StationaryFaceOptions { After = TimeSpan.FromSeconds(3) } };

    [Fact]
    public void Poster_HiddenByPassersBy_StartsOneViolationAndTheSuggestedZoneSilencesIt()
    {
        // Without learning, the control: the poster starts again after every passer-by.
        var (startsWithout, _) = Run(Learning with { Stationary = Learning.Stationary with { Enabled = false } }, NullLogger.Instance);
        Assert.Equal(4, startsWithout);

        using var logs = new TestLoggerFactory(null);
        string camera = $"poster-{Guid.NewGuid():N}";
        var metrics = new CameraMetrics(camera);
        var (starts, learnt) = Run(Learning, logs.CreateLogger("pipeline"), metrics);

        Assert.Equal(1, starts);
        StationaryFace poster = Assert.Single(learnt);
        Assert.Equal(3, poster.HeldStarts);
        Assert.InRange(poster.Box.CenterX, 620, 845);
        Assert.InRange(poster.Box.CenterY, 120, 420);
        Assert.Equal("1", PrometheusText.Metric("edgemask_stationary_faces", camera));
        Assert.Equal("3", PrometheusText.Metric("edgemask_violation_starts_held_total", camera));
        metrics.Remove();

        // The warning names the zone to paste; pasted, the poster never starts a violation.
        LogEntry warning = Assert.Single(logs.Entries, e => e.Level == LogLevel.Warning && e.Message.Contains("taken for a picture", StringComparison.Ordinal));
        int from = warning.Message.IndexOf("add ", StringComparison.Ordinal) + 4;
        int to = warning.Message.IndexOf(" to violation.ignoreZones", StringComparison.Ordinal);
        ZoneOptions zone = JsonSerializer.Deserialize<ZoneOptions>(warning.Message[from..to], ConfigLoader.JsonOptions)!;
        var (startsIgnored, learntIgnored) = Run(Learning with { IgnoreZones = [zone] }, NullLogger.Instance);

        Assert.Equal(0, startsIgnored);
        // Learning goes on inside ignore zones (the face still stands there), but nothing was held: nothing counted.
        Assert.Equal(0, Assert.Single(learntIgnored).HeldStarts);
    }
}
