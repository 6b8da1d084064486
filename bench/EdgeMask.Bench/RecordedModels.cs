using System.Runtime.InteropServices;
using EdgeMask.Core.Detection;
using EdgeMask.Core.Geometry;
using EdgeMask.Inference.Detection;
using EdgeMask.Module.Pipeline;
using OpenCvSharp;

namespace EdgeMask.Bench;

/// <summary>What the detector and classifier said on one processed frame, and when the frame was taken.</summary>
internal sealed record RecordedFrame(long Index, double SecondsSinceStart, FaceDetection[] Faces, MaskClassification[] Classes);

/// <summary>
/// The models' output over a run, kept so the tracker and policy can be replayed on it in milliseconds (the models
/// take a minute per pass on this machine): the same pipeline, with the detector and classifier replaced by what
/// they said. Binary file: little-endian, per frame index (int64), seconds (float64), count (int32), then per face
/// box (4 × float32), score, 5 landmarks (10 × float32), p(mask), p(no_mask), p(incorrect).
/// </summary>
internal static class Recording
{
    public static void Save(string path, IReadOnlyList<RecordedFrame> frames)
    {
        using var w = new BinaryWriter(File.Create(path));
        foreach (var f in frames)
        {
            w.Write(f.Index);
            w.Write(f.SecondsSinceStart);
            w.Write(f.Faces.Length);
            for (int i = 0; i < f.Faces.Length; i++)
            {
                var d = f.Faces[i];
                w.Write(d.Box.X1); w.Write(d.Box.Y1); w.Write(d.Box.X2); w.Write(d.Box.Y2); w.Write(d.Score);
                for (int k = 0; k < Landmarks5.Count; k++) { w.Write(d.Landmarks[k].X); w.Write(d.Landmarks[k].Y); }
                var c = i < f.Classes.Length ? f.Classes[i] : new MaskClassification(1f, 0f, 0f);
                w.Write(c.MaskProbability); w.Write(c.NoMaskProbability); w.Write(c.IncorrectProbability);
            }
        }
    }

    public static List<RecordedFrame> Load(string path)
    {
        using var r = new BinaryReader(File.OpenRead(path));
        var frames = new List<RecordedFrame>();
        var p = new PointF2[Landmarks5.Count];
        while (r.BaseStream.Position < r.BaseStream.Length)
        {
            long index = r.ReadInt64();
            double seconds = r.ReadDouble();
            int n = r.ReadInt32();
            var faces = new FaceDetection[n];
            var classes = new MaskClassification[n];
            for (int i = 0; i < n; i++)
            {
                var box = new BoxF(r.ReadSingle(), r.ReadSingle(), r.ReadSingle(), r.ReadSingle());
                float score = r.ReadSingle();
                for (int k = 0; k < p.Length; k++) p[k] = new PointF2(r.ReadSingle(), r.ReadSingle());
                faces[i] = new FaceDetection(box, score, new Landmarks5(p[0], p[1], p[2], p[3], p[4]));
                classes[i] = new MaskClassification(r.ReadSingle(), r.ReadSingle(), r.ReadSingle());
            }
            frames.Add(new RecordedFrame(index, seconds, faces, classes));
        }
        return frames;
    }
}

/// <summary>Wraps real models and keeps what they say per frame (<see cref="Current"/> is set by the caller per frame).</summary>
internal sealed class RecordingModelSet(IModelSet inner) : IModelSet
{
    public List<RecordedFrame> Frames { get; } = new(1024);
    public long CurrentIndex { get; set; }
    public double CurrentSeconds { get; set; }
    public long Generation => inner.Generation;
    public string ExecutionProvider => inner.ExecutionProvider;

    public IFaceDetector CreateDetector(DetectorOptions options) => new Detector(this, inner.CreateDetector(options));
    public IMaskClassifier? CreateClassifier() => inner.CreateClassifier() is { } c ? new Classifier(this, c) : null;

    private sealed class Detector(RecordingModelSet owner, IFaceDetector detector) : IFaceDetector
    {
        public void Detect(Mat bgr, List<FaceDetection> faces)
        {
            detector.Detect(bgr, faces);
            owner.Frames.Add(new RecordedFrame(owner.CurrentIndex, owner.CurrentSeconds, faces.ToArray(), []));
        }
        public void Dispose() => detector.Dispose();
    }

    private sealed class Classifier(RecordingModelSet owner, IMaskClassifier classifier) : IMaskClassifier
    {
        public bool HasIncorrect => classifier.HasIncorrect;
        public void Classify(Mat frame, ReadOnlySpan<FaceDetection> faces, Span<MaskClassification> results)
        {
            classifier.Classify(frame, faces, results);
            // The pipeline may classify a subset of the detections (faces too small to count are skipped): keep the
            // classes aligned with the detections, NaN where a face was not classified.
            var recorded = owner.Frames[^1];
            var classes = new MaskClassification[recorded.Faces.Length];
            classes.AsSpan().Fill(new MaskClassification(float.NaN, float.NaN, float.NaN));
            for (int i = 0; i < faces.Length; i++)
            {
                int at = Array.IndexOf(recorded.Faces, faces[i]);
                if (at >= 0) classes[at] = results[i];
            }
            owner.Frames[^1] = recorded with { Classes = classes };
        }
        public void Dispose() => classifier.Dispose();
    }
}

/// <summary>Plays a recording back as the detector and classifier (the caller sets <see cref="Current"/> per frame).</summary>
internal sealed class ReplayModelSet : IModelSet
{
    public RecordedFrame? Current { get; set; }
    public long Generation => 1;
    public string ExecutionProvider => "replay";
    public IFaceDetector CreateDetector(DetectorOptions options) => new Detector(this);
    public IMaskClassifier? CreateClassifier() => new Classifier(this);

    private sealed class Detector(ReplayModelSet owner) : IFaceDetector
    {
        public void Detect(Mat bgr, List<FaceDetection> faces)
        {
            faces.Clear();
            if (owner.Current is { } f) faces.AddRange(f.Faces);
        }
        public void Dispose() { }
    }

    private sealed class Classifier(ReplayModelSet owner) : IMaskClassifier
    {
        public void Classify(Mat frame, ReadOnlySpan<FaceDetection> faces, Span<MaskClassification> results)
        {
            var f = owner.Current ?? throw new InvalidOperationException("No recorded frame is current.");
            for (int i = 0; i < faces.Length; i++)
            {
                int at = Array.IndexOf(f.Faces, faces[i]);
                if (at < 0 || float.IsNaN(f.Classes[at].MaskProbability))
                    throw new InvalidOperationException($"Frame {f.Index}: face {faces[i].Box} was not classified in the recording; record with every face classified (the every-frame mode does).");
                results[i] = f.Classes[at];
            }
        }
        public void Dispose() { }
    }
}
