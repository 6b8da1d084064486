using EdgeMask.Core.Classification;
using EdgeMask.Inference.Classification;
using EdgeMask.Inference.Detection;
using EdgeMask.Inference.Models;
using EdgeMask.Inference.Runtime;
using EdgeMask.Module.Configuration;
using Microsoft.Extensions.Logging;

namespace EdgeMask.Module.Pipeline;

/// <summary>
/// One generation of model sessions, opened once and shared by every camera (ONNX Runtime sessions are safe to run
/// concurrently); each camera gets its own detector/classifier wrapper because buffers are never shared between callers.
/// Owns the sessions: dispose it only when no camera can still run them (the model service counts leases for that).
/// </summary>
public sealed class InferenceModels : IModelSet, IDisposable
{
    private readonly OnnxModelSession _detectorSession;
    private readonly ModelEntry _detectorEntry;
    private readonly OnnxModelSession? _classifierSession;
    private readonly ClassifierContract? _classifierContract;

    public ExecutionProviderKind ActiveProvider => _detectorSession.ActiveProvider;
    public string ExecutionProvider => ExecutionProviderOptions.ToName(ActiveProvider);
    /// <summary>Set by whoever opened this generation (the model service counts reloads); 1 otherwise.</summary>
    public long Generation { get; init; } = 1;
    /// <summary>ONNX Runtime sessions this generation opened (detector, and the classifier when enabled).</summary>
    public int SessionCount => _classifierSession is null ? 1 : 2;
    public string DetectorPath => _detectorSession.ModelPath;
    public string? ClassifierPath => _classifierSession?.ModelPath;
    public ModelStore Store { get; }

    private InferenceModels(ModelStore store, OnnxModelSession detector, ModelEntry detectorEntry, OnnxModelSession? classifier, ClassifierContract? contract)
    {
        Store = store;
        _detectorSession = detector;
        _detectorEntry = detectorEntry;
        _classifierSession = classifier;
        _classifierContract = contract;
    }

    /// <summary>Opens and verifies the models; throws <see cref="ModelException"/> naming the file and the fix.</summary>
    public static InferenceModels Open(InferenceSettings inference, ClassifierSettings classifier, ILogger logger, long generation = 1)
    {
        var store = ModelStore.Open(inference.ModelsDirectory);
        var providers = inference.ToProviderOptions();
        var detectorEntry = store.Manifest.GetByRole("detector");
        string detectorPath = inference.DetectorFile ?? store.GetVerifiedPath(detectorEntry);
        if (inference.DetectorFile is not null && !File.Exists(detectorPath))
            throw new ModelNotFoundException(detectorPath, "set inference.detectorFile (or --detector) to an existing RetinaFace ONNX file");
        var detector = OnnxSessionFactory.Create(detectorPath, providers, logger);
        OnnxModelSession? classifierSession = null;
        ClassifierContract? contract = null;
        try
        {
            if (classifier.Enabled)
            {
                string path = classifier.ModelFile ?? store.GetVerifiedPath(store.Manifest.GetByRole("classifier"));
                if (!File.Exists(path)) throw new ModelNotFoundException(path, "set classifier.modelFile to an existing classifier ONNX file");
                classifierSession = OnnxSessionFactory.Create(path, providers, logger);
                contract = MaskClassifier.ReadContract(classifierSession.Session);
            }
            return new InferenceModels(store, detector, detectorEntry, classifierSession, contract) { Generation = generation };
        }
        catch
        {
            classifierSession?.Dispose();
            detector.Dispose();
            throw;
        }
    }

    public OnnxFaceDetector CreateDetector(DetectorOptions options) =>
        new(new RetinaFaceDetector(_detectorSession, _detectorEntry, options, shouldDispose: false));

    public OnnxMaskClassifier? CreateClassifier() =>
        _classifierSession is null ? null : new OnnxMaskClassifier(new MaskClassifier(_classifierSession.Session, _classifierContract!, shouldDispose: false));

    IFaceDetector IModelSet.CreateDetector(DetectorOptions options) => CreateDetector(options);

    IMaskClassifier? IModelSet.CreateClassifier() => CreateClassifier();

    /// <summary>Closes the sessions: only once no detector or classifier made here runs any more.</summary>
    public void Dispose()
    {
        _classifierSession?.Dispose();
        _detectorSession.Dispose();
    }
}
