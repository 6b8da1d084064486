using EdgeMask.Core.Classification;
using EdgeMask.Core.Detection;
using EdgeMask.Inference.Classification;
using EdgeMask.Inference.Detection;
using EdgeMask.Inference.Models;
using EdgeMask.Inference.Runtime;
using EdgeMask.Module.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;
using OpenCvSharp;

namespace EdgeMask.Module.Pipeline;

/// <summary>
/// One generation of model sessions, opened once and shared by every camera (ONNX Runtime sessions are safe to run
/// concurrently); each camera gets its own detector/classifier wrapper because buffers are never shared between callers.
/// Under TensorRT the sessions are opened with the profiles of an <see cref="EnginePlan"/> and warmed up over its
/// shapes before any camera uses them, so every engine is built (or loaded from the engine cache) here, never while a
/// camera runs. Owns the sessions: dispose it only when no camera can still run them (the model service counts leases).
/// </summary>
public sealed class InferenceModels : IModelSet, IDisposable
{
    private readonly OnnxModelSession _detectorSession;
    private readonly ModelEntry _detectorEntry;
    private readonly OnnxModelSession? _classifierSession;
    private readonly ClassifierContract? _classifierContract;
    private readonly Action<int, int>? _frameOutsideProfile;

    public ExecutionProviderKind ActiveProvider => _detectorSession.ActiveProvider;
    public string ExecutionProvider => ExecutionProviderOptions.ToName(ActiveProvider);
    /// <summary>Set by whoever opened this generation (the model service counts reloads); 1 otherwise.</summary>
    public long Generation { get; init; } = 1;
    /// <summary>The intra-op threads the sessions were opened with (resolved: never 0).</summary>
    public int IntraOpThreads { get; init; }
    /// <summary>ONNX Runtime sessions this generation opened (detector, and the classifier when enabled).</summary>
    public int SessionCount => _classifierSession is null ? 1 : 2;
    public string DetectorPath => _detectorSession.ModelPath;
    public string? ClassifierPath => _classifierSession?.ModelPath;
    public ModelStore Store { get; }
    /// <summary>What the sessions were opened for: frame sizes, detector sizing, classifier batch cap (null: no plan, no profiles — one-shot tools).</summary>
    public EnginePlan? Plan { get; }
    /// <summary>Faces per classifier run (<c>inference.classifierMaxBatch</c>; under TensorRT the engine's largest batch).</summary>
    public int ClassifierMaxBatch { get; }
    /// <summary>The TensorRT profiles in force (null off TensorRT: CPU and CUDA take any shape as it comes).</summary>
    public TensorRtProfile? DetectorProfile => ActiveProvider == ExecutionProviderKind.TensorRT ? _detectorSession.Profile : null;
    public TensorRtProfile? ClassifierProfile => _classifierSession?.ActiveProvider == ExecutionProviderKind.TensorRT ? _classifierSession.Profile : null;

    private InferenceModels(ModelStore store, EnginePlan? plan, int classifierMaxBatch, OnnxModelSession detector, ModelEntry detectorEntry,
        OnnxModelSession? classifier, ClassifierContract? contract, Action<int, int>? frameOutsideProfile)
    {
        Store = store;
        Plan = plan;
        ClassifierMaxBatch = classifierMaxBatch;
        _detectorSession = detector;
        _detectorEntry = detectorEntry;
        _classifierSession = classifier;
        _classifierContract = contract;
        _frameOutsideProfile = frameOutsideProfile;
    }

    /// <summary>Opens and verifies the models; throws <see cref="ModelException"/> naming the file and the fix.</summary>
    /// <param name="plan">
    /// The shapes the engines are built for (<see cref="EnginePlan.For"/>), warmed up here; null for a one-shot tool
    /// (photos of any size): no profile, no warm-up, TensorRT builds per new shape as it comes.
    /// </param>
    /// <param name="frameOutsideProfile">
    /// Told (once per size, on the camera's thread) when a camera delivers a frame whose detector input the TensorRT
    /// engine was not built for; the frames of that size are skipped until a generation that covers it is open.
    /// </param>
    public static InferenceModels Open(InferenceSettings inference, ClassifierSettings classifier, ILogger logger, long generation = 1,
        EnginePlan? plan = null, Action<int, int>? frameOutsideProfile = null)
    {
        var store = ModelStore.Open(inference.ModelsDirectory);
        var providers = inference.ToProviderOptions();
        var detectorEntry = store.Manifest.GetByRole("detector");
        string detectorPath = inference.DetectorFile ?? store.GetVerifiedPath(detectorEntry);
        if (inference.DetectorFile is not null && !File.Exists(detectorPath))
            throw new ModelNotFoundException(detectorPath, "set inference.detectorFile (or --detector) to an existing RetinaFace ONNX file");
        var detector = OnnxSessionFactory.Create(detectorPath, providers, logger, plan?.DetectorProfile(detectorEntry.Input.Name));
        OnnxModelSession? classifierSession = null;
        ClassifierContract? contract = null;
        try
        {
            // Each session is warmed up before the next is created: they share the engine cache folder, and the
            // cache hit/build of one is told by what appeared in it.
            if (plan is not null) WarmUpDetector(detector, detectorEntry, plan, logger);
            if (classifier.Enabled)
            {
                string path = classifier.ModelFile ?? store.GetVerifiedPath(store.Manifest.GetByRole("classifier"));
                if (!File.Exists(path)) throw new ModelNotFoundException(path, "set classifier.modelFile to an existing classifier ONNX file");
                TensorRtProfile? profile = null;
                if (plan is not null && providers.Candidates().Contains(ExecutionProviderKind.TensorRT))
                {
                    // The profile names the input and its size, which the model's own metadata holds: read them first.
                    var probed = ReadClassifierContract(path);
                    profile = plan.ClassifierProfile(probed.InputName, probed.InputSize);
                }
                classifierSession = OnnxSessionFactory.Create(path, providers, logger, profile);
                contract = MaskClassifier.ReadContract(classifierSession.Session);
                if (plan is not null) WarmUpClassifier(classifierSession, contract, plan, logger);
            }
            return new InferenceModels(store, plan, plan?.ClassifierMaxBatch ?? inference.ClassifierMaxBatch, detector, detectorEntry, classifierSession, contract, frameOutsideProfile)
            {
                Generation = generation,
                IntraOpThreads = OnnxSessionFactory.ResolveThreads(providers.IntraOpThreads),
            };
        }
        catch
        {
            classifierSession?.Dispose();
            detector.Dispose();
            throw;
        }
    }

    /// <summary>The classifier's contract from its metadata, through a bare CPU session (no provider, no optimisation: only the metadata is read).</summary>
    private static ClassifierContract ReadClassifierContract(string path)
    {
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL, IntraOpNumThreads = 1 };
        using var probe = new InferenceSession(path, options);
        return MaskClassifier.ReadContract(probe);
    }

    /// <summary>
    /// Off the CPU, each planned frame size runs once on a black frame: TensorRT builds (or loads) its engine and CUDA
    /// picks its convolution algorithms now, not at a camera's first frame. On the CPU there is nothing to build.
    /// </summary>
    private static void WarmUpDetector(OnnxModelSession session, ModelEntry entry, EnginePlan plan, ILogger logger)
    {
        if (session.ActiveProvider == ExecutionProviderKind.Cpu) return;
        using var detector = new RetinaFaceDetector(session, entry, new DetectorOptions { Sizing = plan.Sizing }, shouldDispose: false);
        var warmUp = detector.WarmUp(plan.DistinctFrameSizes());
        logger.LogInformation("Detector warmed up on {Provider} over {Shapes} in {Milliseconds:0} ms (engine {EngineCache})",
            ExecutionProviderOptions.ToName(session.ActiveProvider), string.Join(", ", warmUp.Shapes), warmUp.Milliseconds, CacheWord(session));
    }

    private static void WarmUpClassifier(OnnxModelSession session, ClassifierContract contract, EnginePlan plan, ILogger logger)
    {
        if (session.ActiveProvider == ExecutionProviderKind.Cpu) return;
        using var classifier = new MaskClassifier(session.Session, contract, shouldDispose: false, initialCapacity: 1, maxBatch: plan.ClassifierMaxBatch);
        var warmUp = classifier.WarmUp();
        session.RecordWarmUp(warmUp);
        logger.LogInformation("Classifier warmed up on {Provider} over {Shapes} in {Milliseconds:0} ms (engine {EngineCache})",
            ExecutionProviderOptions.ToName(session.ActiveProvider), string.Join(", ", warmUp.Shapes), warmUp.Milliseconds, CacheWord(session));
    }

    private static string CacheWord(OnnxModelSession session) => session.EngineCacheOutcome switch
    {
        TensorRtEngineCacheOutcome.Loaded => "loaded from the cache",
        TensorRtEngineCacheOutcome.Built => "built",
        _ => "not cached",
    };

    /// <summary>Whether the TensorRT engine of this generation takes a frame of this size without a rebuild (always true off TensorRT).</summary>
    public bool Covers(int width, int height)
    {
        if (DetectorProfile is not { } profile) return true;
        if (Plan is null) return false;
        var g = InputGeometry.For(width, height, Plan.Sizing);
        return profile.Covers(_detectorEntry.Input.Name, [1, 3, g.InputHeight, g.InputWidth]);
    }

    public OnnxFaceDetector CreateDetector(DetectorOptions options) =>
        new(new RetinaFaceDetector(_detectorSession, _detectorEntry, options, shouldDispose: false));

    public OnnxMaskClassifier? CreateClassifier() =>
        _classifierSession is null
            ? null
            // Buffers for the largest batch from the start (3 MB at 64 faces of 64 px): growing them in the first crowd
            // allocated that much on the camera thread in the middle of the burst, where a GC hurts most.
            : new OnnxMaskClassifier(new MaskClassifier(_classifierSession.Session, _classifierContract!, shouldDispose: false,
                initialCapacity: ClassifierMaxBatch, maxBatch: ClassifierMaxBatch));

    IFaceDetector IModelSet.CreateDetector(DetectorOptions options)
    {
        var detector = CreateDetector(options);
        return DetectorProfile is null ? detector : new ProfiledFaceDetector(detector, _frameOutsideProfile);
    }

    IMaskClassifier? IModelSet.CreateClassifier() => CreateClassifier();

    /// <summary>The engines as built, for health and the module twin (one per session: detector, then classifier).</summary>
    public IReadOnlyList<InferenceEngineReport> Engines() =>
        _classifierSession is null ? [_detectorSession.Report()] : [_detectorSession.Report(), _classifierSession.Report()];

    /// <summary>Closes the sessions: only once no detector or classifier made here runs any more.</summary>
    public void Dispose()
    {
        _classifierSession?.Dispose();
        _detectorSession.Dispose();
    }

    /// <summary>
    /// The detector of one camera under TensorRT. A frame whose size the engine was not built for is not run (running it
    /// would make the provider build a new engine on the camera's thread, for seconds to minutes): it yields no face,
    /// the model service is told once per size and plans a rebuild that covers it, and the camera moves to the rebuilt
    /// sessions at a frame boundary like after any model change. Frames of a covered size run as always.
    /// </summary>
    private sealed class ProfiledFaceDetector(OnnxFaceDetector inner, Action<int, int>? frameOutsideProfile) : IFaceDetector
    {
        private int _refusedWidth = -1, _refusedHeight = -1;

        public void Detect(Mat bgr, List<FaceDetection> faces)
        {
            int width = bgr.Width, height = bgr.Height;
            if (width == _refusedWidth && height == _refusedHeight)
            {
                faces.Clear();
                return;
            }
            try
            {
                inner.Detect(bgr, faces);
            }
            catch (TensorRtProfileMismatchException)
            {
                faces.Clear();
                (_refusedWidth, _refusedHeight) = (width, height);
                frameOutsideProfile?.Invoke(width, height);
            }
        }

        public void Dispose() => inner.Dispose();
    }
}
