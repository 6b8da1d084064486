using System.Diagnostics;
using EdgeMask.Core.Events;
using EdgeMask.Core.Policy;
using EdgeMask.Module.Configuration;
using EdgeMask.Module.Pipeline;
using EdgeMask.Module.Sources;
using Microsoft.Extensions.Logging.Abstractions;
using OpenCvSharp;

namespace EdgeMask.Bench;

/// <summary>
/// Part 5 of issue 16, "one violation per person": the sample through the device's pipeline at the default
/// configuration, <c>violation.start</c> / <c>incorrect.start</c> counted per 36-frame scene against the scene table
/// (<see cref="SceneStartScore"/>), under each way of counting badly worn masks.
/// </summary>
/// <remarks>
/// <para>Default: every frame is processed, stamped at the video's 15 frames/s — what <c>edgemask run --realtime</c>
/// does on a machine that drops nothing (issue 16's part 4 goal), and the same on every machine.
/// <c>--realtime</c>: the real capture paces the file at 15 frames/s and drops what the pipeline cannot take (newest
/// frame wins) — what the product does on this machine now; processed and dropped frames are printed per scene.</para>
/// <para>The models' output is recorded as it runs; the other counting modes replay it through the same pipeline, so
/// one pass of the models serves every table. <c>--record FILE</c> keeps it, <c>--replay FILE</c> runs tracker and
/// policy alone on a recording (milliseconds: for trying tracker and policy settings).</para>
/// </remarks>
internal static class SceneMeasurement
{
    private const double Fps = 15.0;

    private sealed class StartSink : IPipelineSink
    {
        public long Frame;
        public readonly List<EpisodeStart> Starts = new();
        public readonly List<(long Frame, MaskEvent Event)> Log = new();
        public int Events;
        public void OnEvent(MaskEvent e)
        {
            Events++;
            if (EventTypes.IsStart(e.Type) || EventTypes.IsEnd(e.Type)) Log.Add((Frame, e));
            if (e.Type == EventTypes.ViolationStart) Starts.Add(new EpisodeStart(Frame, ViolationKind.NoMask));
            else if (e.Type == EventTypes.IncorrectStart) Starts.Add(new EpisodeStart(Frame, ViolationKind.Incorrect));
        }
        public void OnStats(CameraStats stats) { }
    }

    public static async Task<int> RunAsync(string[] args)
    {
        bool realtime = false;
        string? detector = null, record = null, replay = null, config = null;
        (double Fixed, double PerFace)? cost = null;
        float scale = 1f;
        int detectEvery = 1;
        bool perScene = true, listStarts = false, attribute = false;
        for (int i = 1; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--realtime": realtime = true; break;
                case "--detector": detector = args[++i]; break;
                case "--scale": scale = float.Parse(args[++i], System.Globalization.CultureInfo.InvariantCulture); break;
                case "--detect-every": detectEvery = int.Parse(args[++i]); break;
                case "--record": record = args[++i]; break;
                case "--replay": replay = args[++i]; break;
                case "--totals": perScene = false; break;
                case "--starts": listStarts = true; break;
                case "--attribute": attribute = true; break;
                case "--config": config = args[++i]; break;
                case "--simulate-ms":
                    var parts = args[++i].Split(',');
                    cost = (double.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture), double.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture));
                    break;
                default: throw new ArgumentException($"scenes: unknown option {args[i]} (--realtime, --detector FILE|stock, --scale S, --detect-every N, --record FILE, --replay FILE, --totals, --starts, --attribute, --config FILE, --simulate-ms FIXED,PERFACE).");
            }
        }
        var scenes = SampleScenes.Load();
        // --config: a configuration file as `edgemask run --config` reads it (its tracking, violation and detector sections).
        var defaults = config is null ? new EdgeMaskOptions() : ConfigLoader.Load(config);
        var settings = new CameraPipelineSettings
        {
            Device = "bench",
            Camera = "sample",
            DetectEveryNthFrame = detectEvery,
            Detector = (defaults.Detector with { Scale = scale }).ToDetectorOptions(),
            Tracking = defaults.Tracking,
            Violation = defaults.Violation,
            ClassifySmallFaces = defaults.Classifier.ClassifySmallFaces,
            ClassifySettledEveryNthFrame = defaults.Classifier.SettledEveryNthFrame,
            StatsInterval = TimeSpan.FromHours(1),
        };

        List<RecordedFrame> frames;
        if (replay is not null)
        {
            frames = Recording.Load(replay);
            Console.WriteLine($"replaying {frames.Count} frames of {replay}");
        }
        else
        {
            var inference = EndToEndMeasurement.Inference(detector, threads: 0, spinning: false);
            using var models = InferenceModels.Open(inference, defaults.Classifier, NullLogger.Instance);
            var recording = new RecordingModelSet(models);
            // Frame by frame, every face is classified on every frame so that a replay may use any setting; paced, the product's settings.
            var live = realtime ? settings : settings with { ClassifySmallFaces = true, ClassifySettledEveryNthFrame = 1 };
            var sink = new StartSink();
            using var pipeline = new CameraPipeline(live, new FixedModelSource(recording), new DirectEventOutput("bench", "sample", sink), sink, TimeProvider.System, NullLogger.Instance);
            Console.WriteLine($"detector {Path.GetFileName(models.DetectorPath)} ×{scale}, detect every {detectEvery}, {(realtime ? "paced at 15 frames/s by the capture (drops)" : "every frame, stamped at 15 frames/s")}; load average {LoadAverage()}");
            var wall = Stopwatch.StartNew();
            long processed = realtime
                ? await RunRealtimeAsync(pipeline, recording, sink, scenes)
                : RunEveryFrame(pipeline, recording, sink);
            pipeline.Complete();
            Console.WriteLine($"{processed} frames processed in {wall.Elapsed.TotalSeconds:0.0} s; load average {LoadAverage()}");
            frames = recording.Frames;
            if (record is not null)
            {
                Recording.Save(record, frames);
                Console.WriteLine($"recorded to {record}");
            }
        }

        if (cost is { } c)
        {
            frames = SimulateCapture(frames, c.Fixed, c.PerFace);
            Console.WriteLine($"simulated realtime capture at 15 frames/s, a frame costing {c.Fixed} ms + {c.PerFace} ms per face: {frames.Count} of {frames[^1].Index + 1} frames processed");
            var scenesTaken = new int[scenes.Count];
            foreach (var f in frames) if (SampleScenes.SceneOf(scenes, f.Index) is var sc and >= 0) scenesTaken[sc]++;
            Console.WriteLine("processed / dropped per scene: " + string.Join(" ", scenes.Select((s, i) => $"{i}:{scenesTaken[i]}/{s.Frames - scenesTaken[i]}")));
        }

        foreach (var counting in new[] { IncorrectMaskCounting.Violation, IncorrectMaskCounting.Separate })
        {
            var (starts, log) = Replay(frames, settings with { Violation = settings.Violation with { IncorrectCounts = counting } });
            if (listStarts && counting == IncorrectMaskCounting.Violation) PrintStarts(log, scenes);
            Print(SceneStartScore.Compute(scenes, starts, counting), perScene);
            if (attribute && counting == IncorrectMaskCounting.Violation) SceneAttribution.Print(scenes, frames, log, settings.Violation);
            if (counting == IncorrectMaskCounting.Violation)
            {
                var bare = SceneStartScore.Compute(scenes, starts, IncorrectMaskCounting.Compliant);
                Console.WriteLine($"  the same starts against unmasked faces only (issue 16's count of {bare.ExpectedTotal}): {bare.StartedTotal} started, Σ|starts − expected| = {bare.TotalError}");
            }
        }
        return 0;
    }

    /// <summary>Tracker and policy over recorded model output, through the pipeline; the starts and their frames.</summary>
    public static (List<EpisodeStart> Starts, List<(long Frame, MaskEvent Event)> Log) Replay(IReadOnlyList<RecordedFrame> frames, CameraPipelineSettings settings)
    {
        var models = new ReplayModelSet();
        var sink = new StartSink();
        using var blank = new Mat(540, 960, MatType.CV_8UC3, Scalar.Black);
        using var pipeline = new CameraPipeline(settings, new FixedModelSource(models), new DirectEventOutput("bench", "sample", sink), sink, TimeProvider.System, NullLogger.Instance);
        var t0 = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        foreach (var f in frames)
        {
            models.Current = f;
            sink.Frame = f.Index;
            pipeline.ProcessFrame(blank, f.Index, t0 + TimeSpan.FromSeconds(f.SecondsSinceStart));
        }
        pipeline.Complete();
        return (sink.Starts, sink.Log);
    }

    /// <summary>
    /// Which frames of an every-frame recording a realtime camera would have processed if each frame cost
    /// <paramref name="fixedMs"/> + <paramref name="perFaceMs"/> × faces: frames arrive every 1/15 s into the capture's
    /// queue (2 frames, the oldest dropped when full, as <c>CameraCapture</c>), the pipeline takes the oldest when free.
    /// A machine-independent way to see what drops do to tracking and the policy; their timestamps are the arrival times.
    /// </summary>
    public static List<RecordedFrame> SimulateCapture(IReadOnlyList<RecordedFrame> frames, double fixedMs, double perFaceMs, int capacity = 2)
    {
        var taken = new List<RecordedFrame>(frames.Count);
        var pending = new Queue<RecordedFrame>(capacity + 1);
        double free = 0;
        void Take(double now)
        {
            while (pending.Count > 0 && free <= now)
            {
                var f = pending.Dequeue();
                free = Math.Max(free, f.Index * 1000.0 / Fps) + fixedMs + perFaceMs * f.Faces.Length;
                taken.Add(f with { SecondsSinceStart = f.Index / Fps });
            }
        }
        foreach (var f in frames)
        {
            double arrival = f.Index * 1000.0 / Fps;
            Take(arrival);
            pending.Enqueue(f);
            if (pending.Count > capacity) pending.Dequeue();
            Take(arrival);
        }
        Take(double.MaxValue);
        return taken;
    }

    private static long RunEveryFrame(CameraPipeline pipeline, RecordingModelSet recording, StartSink sink)
    {
        using var capture = new VideoCapture(BenchPaths.SampleVideo);
        if (!capture.IsOpened()) throw new IOException($"Cannot open {BenchPaths.SampleVideo}.");
        using var frame = new Mat();
        var t0 = DateTimeOffset.UtcNow;
        long index = 0;
        while (capture.Read(frame) && !frame.Empty())
        {
            recording.CurrentIndex = sink.Frame = index;
            recording.CurrentSeconds = index / Fps;
            pipeline.ProcessFrame(frame, index, t0 + TimeSpan.FromSeconds(index / Fps));
            index++;
        }
        return index;
    }

    private static async Task<long> RunRealtimeAsync(CameraPipeline pipeline, RecordingModelSet recording, StartSink sink, IReadOnlyList<SceneExpectation> scenes)
    {
        await using var capture = CameraCapture.Create("sample", BenchPaths.SampleVideo, new FrameSourceOptions(), new CameraCaptureOptions { Realtime = true });
        await capture.StartAsync();
        var processedPerScene = new int[scenes.Count];
        long processed = 0;
        DateTimeOffset? first = null;
        while (true)
        {
            var wait = capture.WaitForFrame(TimeSpan.FromSeconds(1), out var frame);
            if (wait == FrameWait.Completed) break;
            if (wait != FrameWait.Frame) continue;
            using (frame)
            {
                if (frame is null) continue;
                first ??= frame.CapturedAt;
                recording.CurrentIndex = sink.Frame = frame.Index;
                recording.CurrentSeconds = (frame.CapturedAt - first.Value).TotalSeconds;
                pipeline.ProcessFrame(frame.Image, frame.Index, frame.CapturedAt);
                int s = SampleScenes.SceneOf(scenes, frame.Index);
                if (s >= 0) processedPerScene[s]++;
                processed++;
            }
        }
        Console.WriteLine($"captured {capture.FramesCaptured}, processed {processed}, dropped {capture.FramesCaptured - processed}");
        Console.WriteLine("processed / dropped per scene: " + string.Join(" ", scenes.Select((s, i) => $"{i}:{processedPerScene[i]}/{s.Frames - processedPerScene[i]}")));
        return processed;
    }

    /// <summary>Every episode: scene, frames of its start and end, track, box at the start, how it ended.</summary>
    private static void PrintStarts(List<(long Frame, MaskEvent Event)> log, IReadOnlyList<SceneExpectation> scenes)
    {
        var ends = log.Where(l => EventTypes.IsEnd(l.Event.Type)).ToDictionary(l => l.Event.Id);
        foreach (var (frame, e) in log.Where(l => EventTypes.IsStart(l.Event.Type)))
        {
            var end = ends.GetValueOrDefault(e.Id);
            var b = e.Face.Box;
            Console.WriteLine($"  scene {SampleScenes.SceneOf(scenes, frame),2} frame {frame,4} track {e.TrackId,4} box {b[0],4:0} {b[1],4:0} {b[2] - b[0],3:0}x{b[3] - b[1],-3:0} s {e.Face.Score:0.00} p {e.Mask.Probability:0.00} {e.Mask.Label,-9} → frame {(end.Event is null ? -1 : end.Frame),4} {end.Event?.EndReason}");
        }
    }

    private static void Print(SceneStartScore score, bool perScene)
    {
        Console.WriteLine();
        Console.WriteLine($"incorrectCounts: {score.Counting.ToString().ToLowerInvariant()} — {score.StartedTotal} starts for {score.ExpectedTotal} expected, Σ|starts − expected| = {score.TotalError}");
        if (!perScene) return;
        bool separate = score.Counting == IncorrectMaskCounting.Separate;
        Console.WriteLine(separate ? "  scene  image                  violation.start/expected  incorrect.start/expected  error" : "  scene  image                  violation.start/expected  error");
        for (int i = 0; i < score.Rows.Count; i++)
        {
            var r = score.Rows[i];
            string line = $"  {i,5}  {r.Scene.Name,-22} {r.Violations,10}/{r.ExpectedViolations,-14}";
            if (separate) line += $" {r.Incorrect,10}/{r.ExpectedIncorrect,-14}";
            Console.WriteLine(line + $" {(r.Error == 0 ? "" : r.Error.ToString())}");
        }
    }

    public static string LoadAverage()
    {
        try { return string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)); }
        catch (IOException) { return "?"; }
    }
}
