using EdgeMask.Core.Detection;
using EdgeMask.Inference.Classification;
using EdgeMask.Inference.Runtime;
using EdgeMask.Module.Configuration;

namespace EdgeMask.Module.Pipeline;

/// <summary>Where the frame size a TensorRT profile is built for came from.</summary>
public enum FrameSizeOrigin
{
    /// <summary><c>cameras.&lt;id&gt;.width/height</c> or <c>sources.width/height</c>: what ffmpeg and GStreamer scale to, what a V4L2 device is asked for.</summary>
    Configured,
    /// <summary>Delivered by a camera whose size is not configured (kept in the engine cache folder, so a restart starts with it).</summary>
    Learned,
    /// <summary>No camera without a configured size has delivered a frame yet: <see cref="EnginePlan.AssumedFrameSize"/> stands in.</summary>
    Assumed,
}

/// <summary>One frame size the detector's engine must take, and why.</summary>
/// <param name="Camera">The camera it belongs to (null for a learned size: it is kept per device, not per camera).</param>
public sealed record PlannedFrameSize(string? Camera, int Width, int Height, FrameSizeOrigin Origin);

/// <summary>
/// What the TensorRT engines are built for, from the configuration: the detector's frame sizes (each camera's, run
/// through <c>detector.scale</c>/<c>targetLongSide</c>) and the classifier's batch cap. The sessions of a model
/// generation are opened with the profiles of one plan, and <see cref="Covers"/> tells whether a new configuration
/// still runs on them or needs a planned rebuild (the way a model change reloads).
/// </summary>
/// <remarks>
/// A camera's size is exact when configured (ffmpeg and GStreamer scale to it); a video file, an image folder or a
/// camera left at its own size is only known once it delivers frames. Such a camera gets the size the device learned
/// from earlier frames (persisted beside the engines, so the restart after a first run loads the right engine from the
/// cache), or, the very first time, <see cref="AssumedFrameSize"/>; a first frame of another size then starts a planned
/// rebuild (reported, never silent) while the other cameras keep running. Configure the size to avoid even that one.
/// </remarks>
public sealed record EnginePlan
{
    /// <summary>The size assumed for a camera whose size is neither configured nor learned: 720p, the common IP camera stream.</summary>
    public static readonly (int Width, int Height) AssumedFrameSize = (1280, 720);

    public required IReadOnlyList<PlannedFrameSize> FrameSizes { get; init; }
    public required InputSizing Sizing { get; init; }
    public required int ClassifierMaxBatch { get; init; }

    /// <summary>The plan of <paramref name="options"/> given the frame sizes the device learned from cameras without a configured size.</summary>
    public static EnginePlan For(EdgeMaskOptions options, IReadOnlyCollection<(int Width, int Height)> learned)
    {
        var sizes = new List<PlannedFrameSize>();
        var unsized = new List<string>();
        foreach (var (id, camera) in options.Cameras.OrderBy(c => c.Key, StringComparer.Ordinal))
        {
            if (!camera.Enabled) continue;
            var source = camera.SourceOptionsFrom(options.Sources);
            if (source.Width is { } w && source.Height is { } h) sizes.Add(new PlannedFrameSize(id, w, h, FrameSizeOrigin.Configured));
            else unsized.Add(id);
        }
        if (unsized.Count > 0 || sizes.Count == 0)
        {
            if (learned.Count > 0) sizes.AddRange(learned.Distinct().Select(s => new PlannedFrameSize(null, s.Width, s.Height, FrameSizeOrigin.Learned)));
            else if (unsized.Count == 0) sizes.Add(new PlannedFrameSize(null, AssumedFrameSize.Width, AssumedFrameSize.Height, FrameSizeOrigin.Assumed));
            else sizes.AddRange(unsized.Select(id => new PlannedFrameSize(id, AssumedFrameSize.Width, AssumedFrameSize.Height, FrameSizeOrigin.Assumed)));
        }
        return new EnginePlan
        {
            FrameSizes = sizes,
            Sizing = options.Detector.ToDetectorOptions().Sizing,
            ClassifierMaxBatch = options.Inference.ClassifierMaxBatch,
        };
    }

    /// <summary>Detector inputs (height, width) a reload keeps covering besides this plan's own (see <see cref="Spanning"/>).</summary>
    public IReadOnlyList<(int Height, int Width)> TransitionInputs { get; init; } = [];

    /// <summary>The distinct frame sizes (the detector is warmed up at each).</summary>
    public IReadOnlyList<(int Width, int Height)> DistinctFrameSizes() => FrameSizes.Select(s => (s.Width, s.Height)).Distinct().ToList();

    /// <summary>The detector input (height, width) of every planned frame size under the sizing, one per camera (the most common is the engine's optimum).</summary>
    public IReadOnlyList<(int Height, int Width)> DetectorInputs() => FrameSizes
        .Select(s => InputGeometry.For(s.Width, s.Height, Sizing))
        .Select(g => (g.InputHeight, g.InputWidth))
        .ToList();

    /// <summary>The detector's profile: every planned input and the transition inputs, optimised for the most common planned input.</summary>
    public TensorRtProfile DetectorProfile(string inputName)
    {
        var own = DetectorInputs();
        var opt = TensorRtProfile.ForDetectorInputs(inputName, own).Inputs[0].Opt;
        return TensorRtProfile.ForDetectorInputs(inputName, [.. own, .. TransitionInputs], ((int)opt[2], (int)opt[3]));
    }

    public TensorRtProfile ClassifierProfile(string inputName, int inputSize) =>
        TensorRtProfile.ForClassifier(inputName, inputSize, ClassifierMaxBatch, Math.Min(MaskClassifier.DefaultOptBatch, ClassifierMaxBatch));

    /// <summary>
    /// Whether engines built for this plan run everything <paramref name="next"/> sends without a rebuild: every
    /// detector input inside this plan's detector range, and the same classifier cap (a larger cap needs a larger
    /// engine; a smaller one would leave the engine tuned for batches no longer sent).
    /// </summary>
    public bool Covers(EnginePlan next)
    {
        if (next.ClassifierMaxBatch != ClassifierMaxBatch) return false;
        var range = DetectorProfile("input").Inputs[0];
        return next.DetectorInputs().All(i => range.Covers([1, 3, i.Height, i.Width]));
    }

    /// <summary>
    /// This plan, also covering <paramref name="previous"/>'s detector inputs: used for a reload while cameras run, since
    /// each camera moves to the new sessions at its own next frame boundary and may run its previous settings (size,
    /// scale) for a frame or two there. The next start plans from the configuration alone again.
    /// </summary>
    public EnginePlan Spanning(EnginePlan? previous)
    {
        if (previous is null) return this;
        var own = DetectorInputs();
        var extra = previous.DetectorInputs().Distinct().Where(p => !own.Contains(p)).ToList();
        return extra.Count == 0 ? this : this with { TransitionInputs = extra };
    }
}
