using EdgeMask.Core.Detection;
using EdgeMask.Inference.Models;
using EdgeMask.Inference.Runtime;
using Microsoft.ML.OnnxRuntime;
using OpenCvSharp;

namespace EdgeMask.Inference.Detection;

/// <summary>Everything that decides how RetinaFace runs, apart from the model itself.</summary>
public sealed record DetectorOptions
{
    public DetectionThresholds Thresholds { get; init; } = new();
    public InputSizing Sizing { get; init; } = new();
    /// <summary>How many distinct input sizes keep their buffers; a camera has one, a folder of photos many.</summary>
    public int MaxCachedInputSizes { get; init; } = 4;

    public void Validate()
    {
        Thresholds.Validate();
        Sizing.Validate();
        if (MaxCachedInputSizes < 1) throw new ArgumentException("maxCachedInputSizes must be at least 1.");
    }
}

/// <summary>The detector input is larger than the configured bound.</summary>
public sealed class InputTooLargeException(int width, int height, long maxPixels)
    : Exception($"The detector input would be {width}×{height} ({width * (long)height / 1e6:0.#} MP), above the {maxPixels / 1e6:0.#} MP limit. " +
                "Downscale with --target-long-side (e.g. 1920) or a smaller --scale.");

/// <summary>
/// RetinaFace on ONNX Runtime. Per input size it keeps, created once: the priors, a pinned input tensor and pinned
/// output tensors wrapped as <see cref="OrtValue"/>s, and a resize buffer. A frame is preprocessed straight into the
/// input tensor and the outputs are decoded from the pinned arrays, so a steady stream of same-sized frames allocates
/// nothing per call. Not thread-safe: one detector per pipeline; the session may be shared.
/// </summary>
public sealed class RetinaFaceDetector : IDisposable
{
    private readonly OnnxModelSession _session;
    private readonly bool _ownsSession;
    private readonly PriorBoxConfig _priorConfig;
    private readonly float _meanB, _meanG, _meanR;
    private readonly string[] _inputNames;
    private readonly string[] _outputNames;
    private readonly RunOptions _runOptions = new();
    // Most-recently used first; bounded by MaxCachedInputSizes.
    private readonly List<SizeBuffers> _buffers = [];
    private bool _disposed;

    public DetectorOptions Options { get; }
    public ExecutionProviderKind ActiveProvider => _session.ActiveProvider;
    public string ModelPath => _session.ModelPath;

    public RetinaFaceDetector(OnnxModelSession session, ModelEntry model, DetectorOptions options, bool shouldDispose = true)
    {
        options.Validate();
        _session = session;
        _ownsSession = shouldDispose;
        Options = options;
        _priorConfig = model.GetPriorBoxConfig();
        if (!string.Equals(model.Input.ColorOrder, "BGR", StringComparison.OrdinalIgnoreCase) || model.Input.Mean.Count != 3)
            throw new ModelContractException(session.ModelPath, "the RetinaFace contract is BGR input with a 3-value mean.");
        (_meanB, _meanG, _meanR) = (model.Input.Mean[0], model.Input.Mean[1], model.Input.Mean[2]);
        _inputNames = [model.Input.Name];
        _outputNames = [model.OutputName("loc"), model.OutputName("conf"), model.OutputName("landmarks")];
        CheckContract(session, _inputNames, _outputNames);
    }

    /// <summary>Opens the manifest's detector (or <paramref name="detectorFile"/>, a RetinaFace with the same contract) and its session.</summary>
    public static RetinaFaceDetector Open(ModelStore store, DetectorOptions options, ExecutionProviderOptions providers,
        Microsoft.Extensions.Logging.ILogger logger, string? detectorFile = null)
    {
        var entry = store.Manifest.GetByRole("detector");
        string path;
        if (detectorFile is null) path = store.GetVerifiedPath(entry);
        else if (!File.Exists(detectorFile)) throw new ModelNotFoundException(detectorFile, "pass an existing RetinaFace ONNX file to --detector");
        else path = detectorFile;
        var session = OnnxSessionFactory.Create(path, providers, logger);
        try
        {
            return new RetinaFaceDetector(session, entry, options, shouldDispose: true);
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    private static void CheckContract(OnnxModelSession session, string[] inputs, string[] outputs)
    {
        var meta = session.Session.InputMetadata;
        foreach (var name in inputs)
            if (!meta.ContainsKey(name)) throw new ModelContractException(session.ModelPath, $"it has no input '{name}' (inputs: {string.Join(", ", meta.Keys)}).");
        var outMeta = session.Session.OutputMetadata;
        foreach (var name in outputs)
            if (!outMeta.ContainsKey(name)) throw new ModelContractException(session.ModelPath, $"it has no output '{name}' (outputs: {string.Join(", ", outMeta.Keys)}).");
    }

    /// <summary>The input geometry this detector uses for an image of the given size (throws when over the pixel bound).</summary>
    public InputGeometry GeometryFor(int width, int height)
    {
        var g = InputGeometry.For(width, height, Options.Sizing);
        if ((long)g.InputWidth * g.InputHeight > Options.Sizing.MaxInputPixels)
            throw new InputTooLargeException(g.InputWidth, g.InputHeight, Options.Sizing.MaxInputPixels);
        return g;
    }

    /// <summary>Detects faces in an 8-bit BGR image; <paramref name="faces"/> is cleared and filled, best first.</summary>
    public void Detect(Mat bgr, List<FaceDetection> faces)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (bgr.Type() != MatType.CV_8UC3) throw new ArgumentException($"Detect takes 8-bit BGR images (CV_8UC3), not {bgr.Type()}.", nameof(bgr));
        var geometry = GeometryFor(bgr.Width, bgr.Height);
        var buffers = BuffersFor(geometry.InputHeight, geometry.InputWidth);

        Mat source = bgr;
        if (geometry.ResizedWidth != bgr.Width || geometry.ResizedHeight != bgr.Height)
        {
            // Area averaging when shrinking avoids aliasing small faces away; linear when enlarging.
            var interpolation = geometry.Scale < 1f ? InterpolationFlags.Area : InterpolationFlags.Linear;
            Cv2.Resize(bgr, buffers.Resized, new Size(geometry.ResizedWidth, geometry.ResizedHeight), 0, 0, interpolation);
            source = buffers.Resized;
        }
        int pad = geometry.Pad;
        if (pad > 0 && Options.Sizing.BorderFill != BorderFill.Mean)
        {
            // Replicated or mirrored borders change with the frame; the mean-coloured one is the tensor's zeros.
            var border = Options.Sizing.BorderFill == BorderFill.Replicate ? BorderTypes.Replicate : BorderTypes.Reflect101;
            Cv2.CopyMakeBorder(source, buffers.Framed, pad, pad, pad, pad, border);
            WritePlanarInput(buffers.Framed, buffers.Input, geometry.InputWidth, geometry.InputHeight, 0, _meanB, _meanG, _meanR);
        }
        else
            WritePlanarInput(source, buffers.Input, geometry.InputWidth, geometry.InputHeight, pad, _meanB, _meanG, _meanR);

        // The binding was made once for this size: RunWithBinding marshals no names and allocates nothing,
        // where Run(names, values) converts the names and builds arrays on every call.
        _session.Session.RunWithBinding(_runOptions, buffers.Binding);

        RetinaFaceDecoder.Decode(buffers.Loc, buffers.Conf, buffers.Landmarks, buffers.Priors,
            _priorConfig.CenterVariance, _priorConfig.SizeVariance, geometry, Options.Thresholds, faces);
    }

    /// <summary>
    /// Writes HWC BGR bytes as CHW float planes minus the mean (<see cref="PlanarInputWriter"/>, vectorised) rather
    /// than with OpenCV split/convert calls: OpenCvSharp allocates wrapper objects on each call, and this is one pass
    /// with no temporaries. The image lands <paramref name="pad"/> pixels in from the planes' top-left corner.
    /// </summary>
    internal static unsafe void WritePlanarInput(Mat bgr, float[] input, int planeWidth, int planeHeight, int pad, float meanB, float meanG, float meanR) =>
        PlanarInputWriter.Write((byte*)bgr.DataPointer, bgr.Step(), bgr.Width, bgr.Height, input, planeWidth, planeHeight, pad, pad, meanB, meanG, meanR);

    /// <summary>
    /// Runs one black frame of each camera frame size through the detector, at start-up: the buffers for each input
    /// size are made, and under TensorRT any engine that is not in the engine cache is built now rather than when the
    /// first frame arrives. Recorded in the session's <see cref="OnnxModelSession.Report"/>.
    /// </summary>
    /// <exception cref="TensorRtProfileMismatchException">A size falls outside the session's TensorRT profile.</exception>
    public InferenceWarmUp WarmUp(IEnumerable<(int Width, int Height)> frameSizes)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        var shapes = new List<string>();
        var faces = new List<FaceDetection>();
        foreach (var (width, height) in frameSizes.Distinct())
        {
            using var black = new Mat(height, width, MatType.CV_8UC3, Scalar.All(0));
            Detect(black, faces);
            var g = GeometryFor(width, height);
            shapes.Add(TensorRtShapeRange.Format([1, 3, g.InputHeight, g.InputWidth]));
        }
        var warmUp = new InferenceWarmUp(shapes, System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        _session.RecordWarmUp(warmUp);
        return warmUp;
    }

    /// <summary>The priors for an input tensor size (border included; from the cache when the size was seen).</summary>
    public ReadOnlySpan<float> PriorsFor(int height, int width) => BuffersFor(height, width).Priors;

    private SizeBuffers BuffersFor(int height, int width)
    {
        for (int i = 0; i < _buffers.Count; i++)
        {
            var b = _buffers[i];
            if (b.Height == height && b.Width == width)
            {
                if (i != 0) { _buffers.RemoveAt(i); _buffers.Insert(0, b); }
                return b;
            }
        }
        // A size outside the TensorRT engine's profile would build a new engine (seconds to minutes on a Jetson) while the
        // camera runs; refuse it with the fix instead. Checked once per new size, not per frame.
        if (_session.ActiveProvider == ExecutionProviderKind.TensorRT && _session.Profile is { } profile
            && !profile.Covers(_inputNames[0], [1, 3, height, width]))
            throw new TensorRtProfileMismatchException(_session.ModelPath, [1, 3, height, width], profile);
        var created = new SizeBuffers(_session.Session, _inputNames[0], _outputNames, height, width, PriorBoxes.Generate(_priorConfig, height, width));
        _buffers.Insert(0, created);
        if (_buffers.Count > Options.MaxCachedInputSizes)
        {
            _buffers[^1].Dispose();
            _buffers.RemoveAt(_buffers.Count - 1);
        }
        return created;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var b in _buffers) b.Dispose();
        _buffers.Clear();
        _runOptions.Dispose();
        if (_ownsSession) _session.Dispose();
    }

    /// <summary>
    /// Pinned tensors for one input size, bound once to the session's input and outputs. The arrays live on the
    /// pinned object heap, so ONNX Runtime may keep pointers to them for the binding's lifetime.
    /// </summary>
    private sealed class SizeBuffers : IDisposable
    {
        public readonly int Height, Width;
        public readonly float[] Priors, Input, Loc, Conf, Landmarks;
        public readonly OrtValue[] InputValues, OutputValues;
        public readonly OrtIoBinding Binding;
        public readonly Mat Resized = new();
        /// <summary>The resized image with a replicated or mirrored border (the mean-coloured border needs no copy).</summary>
        public readonly Mat Framed = new();

        public SizeBuffers(InferenceSession session, string inputName, string[] outputNames, int height, int width, float[] priors)
        {
            Height = height;
            Width = width;
            Priors = priors;
            int p = priors.Length / 4;
            // Zeroed: a mean-coloured border is 0 after mean subtraction and is never written again.
            Input = GC.AllocateArray<float>(3 * height * width, pinned: true);
            Loc = GC.AllocateUninitializedArray<float>(p * 4, pinned: true);
            Conf = GC.AllocateUninitializedArray<float>(p * 2, pinned: true);
            Landmarks = GC.AllocateUninitializedArray<float>(p * 10, pinned: true);
            InputValues = [OrtValue.CreateTensorValueFromMemory(Input, [1, 3, height, width])];
            OutputValues =
            [
                OrtValue.CreateTensorValueFromMemory(Loc, [1, p, 4]),
                OrtValue.CreateTensorValueFromMemory(Conf, [1, p, 2]),
                OrtValue.CreateTensorValueFromMemory(Landmarks, [1, p, 10]),
            ];
            Binding = session.CreateIoBinding();
            Binding.BindInput(inputName, InputValues[0]);
            for (int i = 0; i < outputNames.Length; i++) Binding.BindOutput(outputNames[i], OutputValues[i]);
        }

        public void Dispose()
        {
            Binding.Dispose();
            foreach (var v in InputValues) v.Dispose();
            foreach (var v in OutputValues) v.Dispose();
            Resized.Dispose();
            Framed.Dispose();
        }
    }
}
