using System.Runtime.InteropServices;
using EdgeMask.Core.Detection;
using EdgeMask.Inference.Classification;
using EdgeMask.Inference.Detection;
using EdgeMask.Module.Configuration;
using EdgeMask.Module.Pipeline;
using Microsoft.Extensions.Logging;
using OpenCvSharp;

namespace EdgeMask.Module.Cli;

/// <summary>Detector plus (optionally) classifier over still images, for <c>detect</c> and <c>eval</c>. Owns the models.</summary>
internal sealed class FaceAnalyzer : IDisposable
{
    private readonly InferenceModels _models;
    private readonly OnnxFaceDetector _detector;
    private readonly OnnxMaskClassifier? _classifier;
    private readonly List<FaceDetection> _faces = new(64);
    private MaskClassification[] _classifications = new MaskClassification[64];

    public InferenceModels Models => _models;
    public bool Classifies => _classifier is not null;
    /// <summary>Whether the classifier tells a mask worn incorrectly from no mask (a three-class model).</summary>
    public bool HasIncorrect => _classifier?.Classifier.Contract.HasIncorrect ?? false;
    public IReadOnlyList<FaceDetection> Faces => _faces;
    public ReadOnlySpan<MaskClassification> Classifications => _classifications.AsSpan(0, _classifier is null ? 0 : _faces.Count);

    public FaceAnalyzer(InferenceSettings inference, DetectorSettings detector, ClassifierSettings classifier, ILogger logger)
    {
        _models = InferenceModels.Open(inference, classifier, logger);
        try
        {
            _detector = _models.CreateDetector(detector.ToDetectorOptions());
            _classifier = _models.CreateClassifier();
        }
        catch
        {
            _models.Dispose();
            throw;
        }
    }

    /// <summary>Detects, then classifies all faces of the image in one batch. Results stay valid until the next call.</summary>
    public void Analyze(Mat bgr)
    {
        _detector.Detect(bgr, _faces);
        if (_classifier is null || _faces.Count == 0) return;
        if (_classifications.Length < _faces.Count) _classifications = new MaskClassification[_faces.Count * 2];
        _classifier.Classify(bgr, CollectionsMarshal.AsSpan(_faces), _classifications.AsSpan(0, _faces.Count));
    }

    public MaskClassification ClassifyCrop(Mat crop) =>
        (_classifier ?? throw new InvalidOperationException("No classifier is loaded.")).Classifier.ClassifyCrop(crop);

    public void Dispose()
    {
        _classifier?.Dispose();
        _detector.Dispose();
        _models.Dispose();
    }
}
