using EdgeMask.Core.Classification;
using EdgeMask.Core.Detection;
using EdgeMask.Core.Geometry;
using EdgeMask.Inference.Runtime;
using Microsoft.ML.OnnxRuntime;
using OpenCvSharp;

namespace EdgeMask.Inference.Classification;

/// <summary>The classifier model does not match its contract (missing input/output, wrong shape, missing metadata).</summary>
public sealed class MaskClassifierModelException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// The run-time mask classifier: all faces of a frame in one batched ONNX Runtime run.
/// </summary>
/// <remarks>
/// Input and output live in pinned arrays that are wrapped as <see cref="OrtValue"/>s once per batch size and
/// reused; they grow (doubling) only when a frame has more faces than the current capacity. Crops are cut into one
/// reused <see cref="Mat"/> and normalized straight into the input tensor. An instance owns these buffers, so it
/// serves one caller at a time (one per pipeline); the <see cref="InferenceSession"/> itself may be shared by
/// passing <c>shouldDispose: false</c>.
/// </remarks>
public sealed class MaskClassifier : IDisposable
{
    private readonly InferenceSession _session;
    private readonly bool _disposeSession;
    private readonly RunOptions _runOptions = new();
    private readonly Mat _crop;
    private readonly string _inputName;
    private readonly string _outputName;
    private readonly int _classes;
    private readonly int _maskIndex;
    private readonly int _noMaskIndex;
    private readonly int _incorrectIndex;
    private readonly int _perFace;
    private float[] _input = [];
    private float[] _output = [];
    // Index n-1 holds the OrtValues for a batch of n over the current arrays; created on first use of that size.
    private OrtValue?[] _inputValues = [];
    private OrtValue?[] _outputValues = [];
    // The input and output of batch n bound once: RunWithBinding marshals no names and allocates nothing per run.
    private OrtIoBinding?[] _bindings = [];
    private bool _disposed;

    /// <summary>
    /// The largest batch one run sends unless told otherwise: a crowd of ~50 faces is one run, and it is the
    /// classifier's TensorRT profile maximum (<see cref="Runtime.TensorRtProfile.ForClassifier"/>).
    /// </summary>
    public const int DefaultMaxBatch = 64;

    /// <summary>The batch the TensorRT engine is tuned for: a busy frame.</summary>
    public const int DefaultOptBatch = 16;

    /// <param name="session">A session over the classifier ONNX (see <see cref="ClassifierSessions"/>).</param>
    /// <param name="contract">The model's contract; <see cref="ReadContract"/> reads it from the model's metadata.</param>
    /// <param name="shouldDispose">Whether this classifier owns (and disposes) the session.</param>
    /// <param name="initialCapacity">Faces per batch the buffers hold before they grow.</param>
    /// <param name="maxBatch">
    /// Faces per run at most; a frame with more faces is classified in several runs. Under TensorRT this must not exceed
    /// the engine profile's batch (pass <c>profile.MaxBatch</c>), or a crowd would make the provider build a new engine.
    /// </param>
    public MaskClassifier(InferenceSession session, ClassifierContract contract, bool shouldDispose, int initialCapacity = 16, int maxBatch = DefaultMaxBatch)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(contract);
        ArgumentOutOfRangeException.ThrowIfLessThan(initialCapacity, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBatch, 1);
        _session = session;
        _disposeSession = shouldDispose;
        MaxBatch = maxBatch;
        initialCapacity = Math.Min(initialCapacity, maxBatch);
        Contract = contract.Validate();
        CheckModel(session, contract);
        _inputName = contract.InputName;
        _outputName = contract.OutputName;
        _classes = contract.Classes.Length;
        _maskIndex = contract.MaskIndex;
        _noMaskIndex = contract.NoMaskIndex;
        _incorrectIndex = contract.IncorrectIndex;
        _perFace = 3 * contract.InputSize * contract.InputSize;
        _crop = new Mat(contract.InputSize, contract.InputSize, MatType.CV_8UC3);
        Grow(initialCapacity);
    }

    /// <summary>Opens the model file with its embedded contract; the classifier owns the session.</summary>
    public static MaskClassifier Open(string modelPath, int intraOpThreads = 0, int initialCapacity = 16)
    {
        var session = ClassifierSessions.Create(modelPath, intraOpThreads);
        try
        {
            return new MaskClassifier(session, ReadContract(session), shouldDispose: true, initialCapacity);
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    /// <summary>Reads the contract the trainer embedded in the model (ONNX metadata <see cref="ClassifierContract.MetadataKey"/>).</summary>
    public static ClassifierContract ReadContract(InferenceSession session)
    {
        if (!session.ModelMetadata.CustomMetadataMap.TryGetValue(ClassifierContract.MetadataKey, out string? json))
            throw new MaskClassifierModelException(
                $"The model has no '{ClassifierContract.MetadataKey}' metadata; pass the contract from models/manifest.json instead.");
        return ClassifierContract.Parse(json);
    }

    public ClassifierContract Contract { get; }

    /// <summary>Faces the buffers currently hold without growing.</summary>
    public int Capacity => _inputValues.Length;

    /// <summary>Faces per run at most (larger frames are split into several runs).</summary>
    public int MaxBatch { get; }

    /// <summary>
    /// One run of batch 1 and one of <see cref="MaxBatch"/> on blank input at start-up: the buffers are made and, under
    /// TensorRT, an engine missing from the engine cache is built now rather than at the first crowd.
    /// </summary>
    public InferenceWarmUp WarmUp()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        if (Capacity < MaxBatch) Grow(MaxBatch);
        Span<MaskClassification> results = new MaskClassification[MaxBatch];
        var shapes = new List<string>();
        foreach (int n in MaxBatch == 1 ? [1] : new[] { 1, MaxBatch })
        {
            _input.AsSpan(0, n * _perFace).Clear();
            Run(n, results);
            shapes.Add(TensorRtShapeRange.Format([n, 3, Contract.InputSize, Contract.InputSize]));
        }
        return new InferenceWarmUp(shapes, System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds);
    }

    /// <summary>Classifies every face of one frame in one run. <paramref name="results"/>[i] belongs to <paramref name="faces"/>[i].</summary>
    public void Classify(Mat frame, ReadOnlySpan<FaceDetection> faces, Span<MaskClassification> results)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        FaceCropper.RequireBgr(frame, nameof(frame));
        if (results.Length < faces.Length)
            throw new ArgumentException($"{faces.Length} faces need {faces.Length} result slots, got {results.Length}.", nameof(results));
        if (faces.IsEmpty) return;
        EnsureCapacity(faces.Length);
        for (int start = 0; start < faces.Length; start += MaxBatch)
        {
            int n = Math.Min(MaxBatch, faces.Length - start);
            for (int i = 0; i < n; i++)
                Prepare(i, FaceCropGeometry.PlanForBox(faces[start + i].Box, frame.Cols, frame.Rows, Contract), frame);
            Run(n, results[start..]);
        }
    }

    /// <summary>Same as <see cref="Classify(Mat, ReadOnlySpan{FaceDetection}, Span{MaskClassification})"/> for bare boxes.</summary>
    public void Classify(Mat frame, ReadOnlySpan<BoxF> boxes, Span<MaskClassification> results)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        FaceCropper.RequireBgr(frame, nameof(frame));
        if (results.Length < boxes.Length)
            throw new ArgumentException($"{boxes.Length} boxes need {boxes.Length} result slots, got {results.Length}.", nameof(results));
        if (boxes.IsEmpty) return;
        EnsureCapacity(boxes.Length);
        for (int start = 0; start < boxes.Length; start += MaxBatch)
        {
            int n = Math.Min(MaxBatch, boxes.Length - start);
            for (int i = 0; i < n; i++)
                Prepare(i, FaceCropGeometry.PlanForBox(boxes[start + i], frame.Cols, frame.Rows, Contract), frame);
            Run(n, results[start..]);
        }
    }

    /// <summary>Grows (doubling, up to <see cref="MaxBatch"/>) so one run holds min(faces, MaxBatch) faces.</summary>
    private void EnsureCapacity(int faces)
    {
        int needed = Math.Min(faces, MaxBatch);
        if (needed > Capacity) Grow(Math.Min(MaxBatch, Math.Max(needed, 2 * Capacity)));
    }

    /// <summary>Classifies an image that is one face crop (the <c>classify</c> command): whole image, padded square.</summary>
    public MaskClassification ClassifyCrop(Mat crop)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        FaceCropper.RequireBgr(crop, nameof(crop));
        Prepare(0, FaceCropGeometry.PlanForWholeImage(crop.Cols, crop.Rows, Contract), crop);
        Span<MaskClassification> one = stackalloc MaskClassification[1];
        Run(1, one);
        return one[0];
    }

    private void Prepare(int slot, in CropPlan plan, Mat image)
    {
        FaceCropper.Cut(image, plan, _crop);
        FaceCropper.WriteNormalized(_crop, Contract, _input.AsSpan(slot * _perFace, _perFace));
    }

    private void Run(int n, Span<MaskClassification> results)
    {
        var input = _inputValues[n - 1] ??= OrtValue.CreateTensorValueFromMemory(
            OrtMemoryInfo.DefaultInstance, _input.AsMemory(0, n * _perFace), [n, 3, Contract.InputSize, Contract.InputSize]);
        var output = _outputValues[n - 1] ??= OrtValue.CreateTensorValueFromMemory(
            OrtMemoryInfo.DefaultInstance, _output.AsMemory(0, n * _classes), [n, _classes]);
        var binding = _bindings[n - 1];
        if (binding is null)
        {
            binding = _session.CreateIoBinding();
            binding.BindInput(_inputName, input);
            binding.BindOutput(_outputName, output);
            _bindings[n - 1] = binding;
        }
        _session.RunWithBinding(_runOptions, binding);
        ReadOnlySpan<float> probabilities = output.GetTensorDataAsSpan<float>();
        for (int i = 0; i < n; i++)
        {
            var row = probabilities.Slice(i * _classes, _classes);
            // A two-class model has no incorrect column: p(incorrect) = 0 and the two others still sum to 1.
            results[i] = new MaskClassification(row[_maskIndex], row[_noMaskIndex], _incorrectIndex < 0 ? 0f : row[_incorrectIndex]);
        }
    }

    private void Grow(int capacity)
    {
        DisposeValues();
        // Pinned so the OrtValues can point at the arrays for their whole life without a GCHandle per run.
        _input = GC.AllocateArray<float>(capacity * _perFace, pinned: true);
        _output = GC.AllocateArray<float>(capacity * _classes, pinned: true);
        _inputValues = new OrtValue?[capacity];
        _outputValues = new OrtValue?[capacity];
        _bindings = new OrtIoBinding?[capacity];
    }

    private void DisposeValues()
    {
        foreach (var b in _bindings) b?.Dispose();
        foreach (var v in _inputValues) v?.Dispose();
        foreach (var v in _outputValues) v?.Dispose();
    }

    private static void CheckModel(InferenceSession session, ClassifierContract contract)
    {
        if (!session.InputMetadata.TryGetValue(contract.InputName, out var input))
            throw new MaskClassifierModelException(
                $"The classifier model has no input '{contract.InputName}' (it has: {string.Join(", ", session.InputMetadata.Keys)}).");
        int[] d = input.Dimensions;
        int s = contract.InputSize;
        if (d.Length != 4 || d[1] != 3 || d[2] != s || d[3] != s)
            throw new MaskClassifierModelException(
                $"The classifier input '{contract.InputName}' has shape [{string.Join(", ", d)}]; the contract says [N, 3, {s}, {s}].");
        if (!session.OutputMetadata.TryGetValue(contract.OutputName, out var output))
            throw new MaskClassifierModelException(
                $"The classifier model has no output '{contract.OutputName}' (it has: {string.Join(", ", session.OutputMetadata.Keys)}).");
        int[] o = output.Dimensions;
        if (o.Length != 2 || o[1] != contract.Classes.Length)
            throw new MaskClassifierModelException(
                $"The classifier output '{contract.OutputName}' has shape [{string.Join(", ", o)}]; the contract says [N, {contract.Classes.Length}].");
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        DisposeValues();
        _crop.Dispose();
        _runOptions.Dispose();
        if (_disposeSession) _session.Dispose();
    }
}
