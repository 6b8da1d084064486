using System.Collections.Concurrent;
using EdgeMask.Core.Detection;
using EdgeMask.Core.Events;
using EdgeMask.Core.Geometry;
using EdgeMask.Inference.Detection;
using EdgeMask.Module.Pipeline;
using OpenCvSharp;

namespace EdgeMask.Module.Tests.Pipeline;

/// <summary>
/// Models whose detector reports the faces a test scripts (per detector call) and whose classifier says what the test
/// says per face, so every path of the pipeline runs without ONNX Runtime. Counts what is made, disposed and leased.
/// </summary>
internal sealed class FakeModels : IModelSource
{
    private long _generation = 1;
    private int _leases;

    /// <summary>Faces for detector call n (0-based, counted over every detector made); null: none.</summary>
    public Func<long, FaceDetection[]?> Faces { get; set; } = _ => null;

    /// <summary>p(mask) of each face; default 0.05 (no mask).</summary>
    public Func<FaceDetection, float> MaskProbability { get; set; } = _ => 0.05f;

    /// <summary>How long detector call n takes (a slow frame in flight); default none.</summary>
    public Func<long, TimeSpan> DetectTime { get; set; } = _ => TimeSpan.Zero;

    /// <summary>Detector call numbers that throw (a fault in the pipeline).</summary>
    public HashSet<long> ThrowOnCall { get; } = [];

    public bool Classifies { get; set; } = true;
    public long DetectorCalls;
    /// <summary>Faces handed to the classifier so far, and the sizes (short side) of the last batch.</summary>
    public long FacesClassified;
    public float[] LastBatchSizes { get; private set; } = [];
    public int DetectorsCreated, DetectorsDisposed, ClassifiersCreated, ClassifiersDisposed;
    public ConcurrentQueue<DetectorOptions> DetectorOptionsSeen { get; } = new();

    public int OpenLeases => Volatile.Read(ref _leases);

    public long Generation => Interlocked.Read(ref _generation);

    /// <summary>As if the model service opened new sessions: pipelines move over at their next frame.</summary>
    public void Reload() => Interlocked.Increment(ref _generation);

    public IModelLease Acquire()
    {
        Interlocked.Increment(ref _leases);
        return new Lease(this, new Set(this, Generation));
    }

    private sealed class Lease(FakeModels owner, IModelSet models) : IModelLease
    {
        private int _released;
        public IModelSet Models => models;
        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0) Interlocked.Decrement(ref owner._leases);
        }
    }

    private sealed class Set(FakeModels owner, long generation) : IModelSet
    {
        public long Generation => generation;
        public string ExecutionProvider => "fake";

        public IFaceDetector CreateDetector(DetectorOptions options)
        {
            Interlocked.Increment(ref owner.DetectorsCreated);
            owner.DetectorOptionsSeen.Enqueue(options);
            return new Detector(owner);
        }

        public IMaskClassifier? CreateClassifier()
        {
            if (!owner.Classifies) return null;
            Interlocked.Increment(ref owner.ClassifiersCreated);
            return new Classifier(owner);
        }
    }

    private sealed class Detector(FakeModels owner) : IFaceDetector
    {
        public void Detect(Mat bgr, List<FaceDetection> faces)
        {
            long call = Interlocked.Increment(ref owner.DetectorCalls) - 1;
            if (owner.ThrowOnCall.Contains(call)) throw new InvalidOperationException($"scripted detector fault at call {call}");
            if (owner.DetectTime(call) is { } busy && busy > TimeSpan.Zero) Thread.Sleep(busy);
            faces.Clear();
            if (owner.Faces(call) is { } scripted) faces.AddRange(scripted);
        }

        public void Dispose() => Interlocked.Increment(ref owner.DetectorsDisposed);
    }

    private sealed class Classifier(FakeModels owner) : IMaskClassifier
    {
        public void Classify(Mat frame, ReadOnlySpan<FaceDetection> faces, Span<MaskClassification> results)
        {
            if (results.Length != faces.Length) throw new ArgumentException("One result per face.", nameof(results));
            Interlocked.Add(ref owner.FacesClassified, faces.Length);
            var sizes = new float[faces.Length];
            for (int i = 0; i < faces.Length; i++)
            {
                results[i] = new MaskClassification(owner.MaskProbability(faces[i]));
                sizes[i] = faces[i].Box.ShortSide;
            }
            owner.LastBatchSizes = sizes;
        }

        public void Dispose() => Interlocked.Increment(ref owner.ClassifiersDisposed);
    }

    /// <summary>A square face of side <paramref name="size"/> at (cx, cy).</summary>
    public static FaceDetection Face(float cx, float cy, float size = 80, float score = 0.95f)
    {
        var box = BoxF.FromCenter(cx, cy, size, size);
        var lm = new Landmarks5(new(cx - 15, cy - 10), new(cx + 15, cy - 10), new(cx, cy + 5), new(cx - 12, cy + 18), new(cx + 12, cy + 18));
        return new FaceDetection(box, score, lm);
    }
}

/// <summary>Everything the pipeline hands out, with the thread it came from.</summary>
internal sealed class RecordingSink : IPipelineSink
{
    public ConcurrentQueue<MaskEvent> Events { get; } = new();
    public ConcurrentQueue<CameraStats> Stats { get; } = new();
    public ConcurrentQueue<string> Snapshots { get; } = new();
    /// <summary>"event:&lt;type&gt;:&lt;id&gt;" and "snapshot:&lt;id&gt;" in arrival order.</summary>
    public ConcurrentQueue<string> Order { get; } = new();
    public ConcurrentQueue<int> Threads { get; } = new();
    /// <summary>The nice value of the OS thread of every call (Linux; null elsewhere), taken during the call.</summary>
    public ConcurrentQueue<int?> CallerNice { get; } = new();
    /// <summary>When set, OnSnapshot waits for it (a slow consumer of JPEGs).</summary>
    public ManualResetEventSlim? SnapshotGate { get; set; }
    /// <summary>Runs in every OnEvent (e.g. to wake async code as the outbox and the MQTT client do).</summary>
    public Action? OnEventHook { get; set; }

    private void RecordCaller()
    {
        Threads.Enqueue(Environment.CurrentManagedThreadId);
        CallerNice.Enqueue(EdgeMask.Module.Hosting.CpuPriority.CurrentThreadId() is { } tid ? EdgeMask.Module.Hosting.CpuPriority.NiceOf(tid) : null);
    }

    public void OnEvent(MaskEvent maskEvent)
    {
        RecordCaller();
        OnEventHook?.Invoke();
        Events.Enqueue(maskEvent);
        Order.Enqueue($"event:{maskEvent.Type}:{maskEvent.Id}");
    }

    public void OnStats(CameraStats stats) => Stats.Enqueue(stats);

    /// <summary>JPEGs handed over so far, counted before the gate (the consumer is busy with the last one).</summary>
    public int SnapshotsEntered;

    public void OnSnapshot(string camera, string snapshotId, byte[] jpeg)
    {
        Interlocked.Increment(ref SnapshotsEntered);
        SnapshotGate?.Wait(TimeSpan.FromSeconds(30));
        RecordCaller();
        Snapshots.Enqueue(snapshotId);
        Order.Enqueue($"snapshot:{snapshotId}");
    }

    public IEnumerable<MaskEvent> OfType(string type) => Events.Where(e => e.Type == type);
}
