using System.Globalization;
using EdgeMask.Core.Detection;

namespace EdgeMask.Inference.Runtime;

/// <summary>The shapes one input may take within a TensorRT optimization profile (NCHW, every dimension ≥ 1).</summary>
public sealed record TensorRtShapeRange(string InputName, IReadOnlyList<long> Min, IReadOnlyList<long> Opt, IReadOnlyList<long> Max)
{
    public TensorRtShapeRange Validate()
    {
        // The provider option is "name:AxBxC,name2:…": a name with ',' or ':' could not be parsed back.
        if (string.IsNullOrWhiteSpace(InputName) || InputName.IndexOfAny([',', ':']) >= 0)
            throw new ArgumentException($"TensorRT profile input name '{InputName}' must be non-empty and contain neither ',' nor ':'.");
        if (Min.Count == 0 || Min.Count != Opt.Count || Opt.Count != Max.Count)
            throw new ArgumentException($"TensorRT profile for '{InputName}': min, opt and max must have the same rank ({Min.Count}, {Opt.Count}, {Max.Count}).");
        for (int i = 0; i < Min.Count; i++)
        {
            if (Min[i] < 1 || Min[i] > Opt[i] || Opt[i] > Max[i])
                throw new ArgumentException($"TensorRT profile for '{InputName}': dimension {i} needs 1 ≤ min ≤ opt ≤ max, got {Min[i]}, {Opt[i]}, {Max[i]}.");
        }
        return this;
    }

    /// <summary>Whether an input of this shape runs on the engine built for the profile (no rebuild).</summary>
    public bool Covers(IReadOnlyList<long> shape)
    {
        if (shape.Count != Min.Count) return false;
        for (int i = 0; i < shape.Count; i++)
            if (shape[i] < Min[i] || shape[i] > Max[i]) return false;
        return true;
    }

    /// <summary>The provider options' shape format: dimensions joined by 'x', e.g. <c>1x3x540x960</c>.</summary>
    public static string Format(IReadOnlyList<long> shape) => string.Join('x', shape.Select(d => d.ToString(CultureInfo.InvariantCulture)));
}

/// <summary>
/// An explicit TensorRT optimization profile for one model. Without one, ONNX Runtime's TensorRT provider builds an
/// engine for the first input shape it sees and a new one whenever a shape falls outside the range seen so far —
/// seconds to minutes on a Jetson, in the middle of a running camera (the first crowd, a second camera of another
/// size). With one, the engine is built for the whole range once, at session creation, and kept in the engine cache.
/// </summary>
public sealed record TensorRtProfile
{
    public TensorRtProfile(IReadOnlyList<TensorRtShapeRange> inputs)
    {
        if (inputs.Count == 0) throw new ArgumentException("A TensorRT profile needs at least one input.", nameof(inputs));
        foreach (var input in inputs) input.Validate();
        if (inputs.Select(i => i.InputName).Distinct(StringComparer.Ordinal).Count() != inputs.Count)
            throw new ArgumentException("A TensorRT profile lists each input once.", nameof(inputs));
        Inputs = inputs;
    }

    public IReadOnlyList<TensorRtShapeRange> Inputs { get; }

    /// <summary>The largest batch (first dimension) the profile admits; every input has the same batch bound.</summary>
    public long MaxBatch => Inputs.Min(i => i.Max[0]);

    /// <summary>
    /// The detector's profile from the frame sizes of the configured cameras and the detector's sizing: batch 1, and
    /// height/width from the smallest to the largest detector input those cameras produce, optimised for the most
    /// common one (a single camera, or cameras of one size, give min = opt = max: one exact engine).
    /// </summary>
    public static TensorRtProfile ForDetector(string inputName, IReadOnlyCollection<(int Width, int Height)> frameSizes, InputSizing sizing)
    {
        ArgumentNullException.ThrowIfNull(sizing);
        if (frameSizes.Count == 0)
            throw new ArgumentException("The detector's TensorRT profile needs the frame size of at least one camera.", nameof(frameSizes));
        sizing.Validate();
        return ForDetectorInputs(inputName, frameSizes.Select(s => InputGeometry.For(s.Width, s.Height, sizing)).Select(g => (g.InputHeight, g.InputWidth)).ToList());
    }

    /// <summary>
    /// The detector's profile from its input sizes (height, width): batch 1, min and max over all of them, optimised for
    /// the most common one (the larger on a tie) — or for <paramref name="opt"/> when given.
    /// </summary>
    public static TensorRtProfile ForDetectorInputs(string inputName, IReadOnlyCollection<(int Height, int Width)> inputs, (int Height, int Width)? opt = null)
    {
        if (inputs.Count == 0)
            throw new ArgumentException("The detector's TensorRT profile needs at least one input size.", nameof(inputs));
        var best = opt ?? inputs.GroupBy(g => g)
            .OrderByDescending(g => g.Count()).ThenByDescending(g => (long)g.Key.Height * g.Key.Width)
            .First().Key;
        return new TensorRtProfile(
        [
            new TensorRtShapeRange(inputName,
                [1, 3, Math.Min(best.Height, inputs.Min(g => g.Height)), Math.Min(best.Width, inputs.Min(g => g.Width))],
                [1, 3, best.Height, best.Width],
                [1, 3, Math.Max(best.Height, inputs.Max(g => g.Height)), Math.Max(best.Width, inputs.Max(g => g.Width))]),
        ]);
    }

    /// <summary>The classifier's profile: batch 1 … <paramref name="maxBatch"/> faces of <paramref name="inputSize"/>² pixels, optimised for <paramref name="optBatch"/>.</summary>
    public static TensorRtProfile ForClassifier(string inputName, int inputSize, int maxBatch, int optBatch)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(inputSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBatch, 1);
        optBatch = Math.Clamp(optBatch, 1, maxBatch);
        return new TensorRtProfile([new TensorRtShapeRange(inputName, [1, 3, inputSize, inputSize], [optBatch, 3, inputSize, inputSize], [maxBatch, 3, inputSize, inputSize])]);
    }

    /// <summary>The three provider options (documented names of the TensorRT execution provider), e.g. <c>input:1x3x540x960</c>.</summary>
    public IReadOnlyDictionary<string, string> ProviderOptions() => new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["trt_profile_min_shapes"] = Join(r => r.Min),
        ["trt_profile_opt_shapes"] = Join(r => r.Opt),
        ["trt_profile_max_shapes"] = Join(r => r.Max),
    };

    /// <summary>Whether every listed input shape lies in the profile (an input the profile does not name is not covered).</summary>
    public bool Covers(string inputName, IReadOnlyList<long> shape) =>
        Inputs.FirstOrDefault(i => i.InputName == inputName) is { } range && range.Covers(shape);

    public override string ToString() => string.Join("; ", Inputs.Select(i =>
        $"{i.InputName}: min {TensorRtShapeRange.Format(i.Min)}, opt {TensorRtShapeRange.Format(i.Opt)}, max {TensorRtShapeRange.Format(i.Max)}"));

    private string Join(Func<TensorRtShapeRange, IReadOnlyList<long>> pick) =>
        string.Join(',', Inputs.Select(i => $"{i.InputName}:{TensorRtShapeRange.Format(pick(i))}"));
}
