using EdgeMask.Core.Detection;
using EdgeMask.Inference.Classification;
using EdgeMask.Inference.Detection;
using OpenCvSharp;

namespace EdgeMask.Module.Pipeline;

/// <summary>
/// Finds faces in a frame. One instance per camera pipeline (it owns per-caller buffers); called on the camera's
/// thread only. Implementations must not keep the frame.
/// </summary>
public interface IFaceDetector : IDisposable
{
    /// <summary>Clears <paramref name="faces"/> and fills it with the faces of <paramref name="bgr"/> (8-bit BGR), in pixels of the frame.</summary>
    void Detect(Mat bgr, List<FaceDetection> faces);
}

/// <summary>Decides mask / no mask for every face of a frame in one batch. One instance per camera pipeline, like the detector.</summary>
public interface IMaskClassifier : IDisposable
{
    /// <summary>Writes one classification per face into <paramref name="results"/> (same length as <paramref name="faces"/>).</summary>
    void Classify(Mat frame, ReadOnlySpan<FaceDetection> faces, Span<MaskClassification> results);

    /// <summary>Whether the model has the label <c>incorrect</c> (false for a two-class model, whose events then leave
    /// <c>probabilities.incorrect</c> out rather than claim it is 0).</summary>
    bool HasIncorrect => true;
}

/// <summary>
/// One generation of model sessions, opened once and shared by every camera: each camera makes its own detector and
/// classifier over them (buffers are never shared between concurrent callers). Valid while a lease on it is held.
/// </summary>
public interface IModelSet
{
    /// <summary>Increases each time the sessions are reopened (a model file or execution provider changed).</summary>
    long Generation { get; }

    /// <summary>The execution provider the sessions run on (<c>cpu</c>, <c>cuda</c>, <c>tensorrt</c>).</summary>
    string ExecutionProvider { get; }

    IFaceDetector CreateDetector(DetectorOptions options);

    /// <summary>Null when the classifier is turned off (faces are tracked, never classified).</summary>
    IMaskClassifier? CreateClassifier();
}

/// <summary>A camera's hold on one <see cref="IModelSet"/>: its sessions stay open until every lease is disposed.</summary>
public interface IModelLease : IDisposable
{
    IModelSet Models { get; }
}

/// <summary>
/// Where a camera pipeline gets its models. The current generation may change while cameras run (a new model file):
/// each pipeline notices at a frame boundary (<see cref="Generation"/> differs from its lease's), takes a lease on
/// the new one and releases the old, whose sessions are closed once the last camera let go.
/// </summary>
public interface IModelSource
{
    /// <summary>The generation a new lease gets; cheap (read per frame).</summary>
    long Generation { get; }

    /// <summary>A lease on the current generation. Throws <see cref="ObjectDisposedException"/> after the source stopped.</summary>
    IModelLease Acquire();
}

/// <summary><see cref="IFaceDetector"/> over the ONNX Runtime RetinaFace (owns the wrapper, not the session).</summary>
public sealed class OnnxFaceDetector(RetinaFaceDetector detector) : IFaceDetector
{
    public RetinaFaceDetector Detector { get; } = detector;
    public void Detect(Mat bgr, List<FaceDetection> faces) => Detector.Detect(bgr, faces);
    public void Dispose() => Detector.Dispose();
}

/// <summary><see cref="IMaskClassifier"/> over the ONNX Runtime mask classifier (owns the wrapper, not the session).</summary>
public sealed class OnnxMaskClassifier(MaskClassifier classifier) : IMaskClassifier
{
    public MaskClassifier Classifier { get; } = classifier;
    public void Classify(Mat frame, ReadOnlySpan<FaceDetection> faces, Span<MaskClassification> results) => Classifier.Classify(frame, faces, results);
    public bool HasIncorrect => Classifier.Contract.HasIncorrect;
    public void Dispose() => Classifier.Dispose();
}
