using BenchmarkDotNet.Attributes;
using EdgeMask.Core.Detection;
using EdgeMask.Core.Geometry;
using EdgeMask.Core.Policy;
using EdgeMask.Core.Tracking;

namespace EdgeMask.Bench;

/// <summary>
/// Per-frame cost of tracking and the violation policy with a crowd in view: ~20 faces moving smoothly, half of
/// them unmasked (so episodes are open and the K-of-N windows, cooldowns and update checks all run). One
/// benchmark operation = one frame. Target: 0 bytes allocated per frame (DESIGN.md §4).
/// Run: <c>dotnet run -c Release --project bench/EdgeMask.Bench -- --filter '*TrackerBenchmarks*'</c>
/// </summary>
[MemoryDiagnoser]
public class TrackerBenchmarks
{
    private const int Width = 960, Height = 540, Cycle = 600;

    private FaceDetection[][] _frames = [];
    private MaskClassification[][] _classes = [];
    private FaceTracker _tracker = null!;
    private ViolationPolicy _policy = null!;
    private long _frame;
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    [Params(20)]
    public int Faces { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        // Periodic paths (one period = the cycle), so the replay never jumps and tracks live for ever.
        _frames = new FaceDetection[Cycle][];
        _classes = new MaskClassification[Cycle][];
        for (int f = 0; f < Cycle; f++)
        {
            _frames[f] = new FaceDetection[Faces];
            _classes[f] = new MaskClassification[Faces];
            double phase = 2 * Math.PI * f / Cycle;
            for (int i = 0; i < Faces; i++)
            {
                float cx = 40 + (Width - 80) * (i + 0.5f) / Faces + 15 * (float)Math.Sin(phase + i);
                float cy = 120 + 90 * (i % 4) + 10 * (float)Math.Cos(phase * 2 + i);
                float size = 34 + 4 * (float)Math.Sin(phase + 0.5 * i);
                BoxF box = BoxF.FromCenter(cx, cy, size, size);
                var lm = new Landmarks5(new(cx - 8, cy - 5), new(cx + 8, cy - 5), new(cx, cy + 2), new(cx - 6, cy + 9), new(cx + 6, cy + 9));
                _frames[f][i] = new FaceDetection(box, 0.8f + 0.15f * ((i * 7 + f) % 10) / 10f, lm);
                _classes[f][i] = new MaskClassification(i % 2 == 0 ? 0.92f : 0.06f);
            }
        }
        _tracker = new FaceTracker(new FaceTrackerOptions());
        _policy = new ViolationPolicy(new ViolationPolicyOptions(), "bench", "cam1");
        _frame = 0;
        for (int f = 0; f < Cycle; f++) TrackAndDecide();
        if (_tracker.Tracks.Length != Faces || _policy.ActiveViolations != Faces / 2)
            throw new InvalidOperationException(
                $"Warm-up ended with {_tracker.Tracks.Length} tracks and {_policy.ActiveViolations} violations; the scene is wrong.");
    }

    /// <summary>A benchmark of a broken scene would measure the wrong thing: tracks must have lived all along.</summary>
    [GlobalCleanup]
    public void Check()
    {
        if (_tracker.TracksStarted != Faces || _tracker.Tracks.Length != Faces)
            throw new InvalidOperationException(
                $"{_tracker.TracksStarted} tracks were started and {_tracker.Tracks.Length} live for {Faces} faces: the replay broke tracks.");
        Console.WriteLine($"// {_frame} frames, {_tracker.Tracks.Length} tracks, {_policy.ActiveViolations} open violations");
    }

    private DateTimeOffset Time(long frame) => T0 + TimeSpan.FromTicks(frame * TimeSpan.TicksPerSecond / 15);

    /// <summary>Tracker update with detections and classifications of one frame.</summary>
    [Benchmark]
    public int TrackerUpdate()
    {
        long f = _frame++;
        int k = (int)(f % Cycle);
        return _tracker.Update(_frames[k], _classes[k], f, Time(f)).Length;
    }

    /// <summary>Tracker update + policy: the per-frame work of a detection frame.</summary>
    [Benchmark]
    public int TrackAndDecide()
    {
        long f = _frame++;
        int k = (int)(f % Cycle);
        _tracker.Update(_frames[k], _classes[k], f, Time(f));
        return _policy.Evaluate(_tracker, Width, Height).Length;
    }

    /// <summary>"Detect every 3rd frame": one detection frame and two predicted frames, each with the policy; per frame.</summary>
    [Benchmark(OperationsPerInvoke = 3)]
    public int DetectEveryThirdFrame()
    {
        int n = TrackAndDecide();
        long f = _frame++;
        _tracker.Predict(f, Time(f));
        n += _policy.Evaluate(_tracker, Width, Height).Length;
        f = _frame++;
        _tracker.Predict(f, Time(f));
        return n + _policy.Evaluate(_tracker, Width, Height).Length;
    }
}
