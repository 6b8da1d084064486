namespace EdgeMask.Core.Detection;

/// <summary>
/// How an original image is resized (and framed) for the detector and how results map back. <see cref="InputWidth"/>
/// × <see cref="InputHeight"/> is the tensor the network sees: the resized image plus <see cref="Pad"/> pixels of
/// border on every side.
/// </summary>
public readonly record struct InputGeometry(int OriginalWidth, int OriginalHeight, int InputWidth, int InputHeight, float Scale, int Pad = 0)
{
    /// <summary>Width of the resized image inside the tensor.</summary>
    public int ResizedWidth => InputWidth - 2 * Pad;
    /// <summary>Height of the resized image inside the tensor.</summary>
    public int ResizedHeight => InputHeight - 2 * Pad;

    /// <summary>
    /// The detector input for an image: its own size × <see cref="InputSizing.Scale"/>, or resized so the long side is
    /// <see cref="InputSizing.TargetLongSide"/>, then framed by <see cref="InputSizing.BorderPad"/> pixels on each side.
    /// RetinaFace accepts any size, so no letterbox is needed: a uniform resize keeps faces' aspect and lets boxes map
    /// back with one factor and one offset.
    /// </summary>
    public static InputGeometry For(int originalWidth, int originalHeight, InputSizing sizing)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(originalWidth, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(originalHeight, 1);
        float scale = sizing.TargetLongSide is int target
            ? (float)target / Math.Max(originalWidth, originalHeight)
            : sizing.Scale;
        int w = Math.Max(1, (int)MathF.Round(originalWidth * scale));
        int h = Math.Max(1, (int)MathF.Round(originalHeight * scale));
        // The factor actually applied (after rounding) per axis differs by < 1 px; use the width's for both.
        float applied = (float)w / originalWidth;
        int pad = sizing.BorderPad;
        return new InputGeometry(originalWidth, originalHeight, w + 2 * pad, h + 2 * pad, applied, pad);
    }
}

/// <summary>What fills the border the detector input gets around the image (<see cref="InputSizing.BorderPad"/>).</summary>
public enum BorderFill
{
    /// <summary>The model's mean colour: zero after mean subtraction, what the training crops' zoom-out padding looks like.</summary>
    Mean,
    /// <summary>The edge pixels repeated outward.</summary>
    Replicate,
    /// <summary>The image mirrored at its edge (without repeating the edge pixel).</summary>
    Reflect,
}

/// <summary>Detector input sizing: a fixed scale of the original (2× finds small faces) or a target long side, and the border around it.</summary>
public sealed record InputSizing
{
    /// <summary>
    /// No border by default: on voc853 dev at the operating point a 32 px border (the largest stride) found none of the
    /// faces the photo's edge cuts, with any fill, and a mirrored one adds false detections (Inference README).
    /// </summary>
    public const int DefaultBorderPad = 0;

    public float Scale { get; init; } = 1f;
    public int? TargetLongSide { get; init; }
    /// <summary>Upper bound on the detector's input pixels; bigger inputs are refused rather than exhausting memory.</summary>
    public long MaxInputPixels { get; init; } = 4096L * 4096L;
    /// <summary>
    /// Pixels of border added on every side of the resized image before the detector runs (0: none). Faces cut by the
    /// photo's edge then sit inside the network's receptive field rather than on the zero padding of its convolutions,
    /// and the anchors of the outermost cells are no longer on the edge.
    /// </summary>
    public int BorderPad { get; init; } = DefaultBorderPad;
    /// <summary>What the border is filled with.</summary>
    public BorderFill BorderFill { get; init; } = BorderFill.Mean;

    public void Validate()
    {
        if (!(Scale is > 0f and <= 8f)) throw new ArgumentException($"scale must be in (0, 8], not {Scale}.");
        if (TargetLongSide is int t && (t < 32 || t > 8192)) throw new ArgumentException($"targetLongSide must be in [32, 8192], not {t}.");
        if (MaxInputPixels < 1024) throw new ArgumentException($"maxInputPixels must be at least 1024, not {MaxInputPixels}.");
        if (BorderPad is < 0 or > 256) throw new ArgumentException($"borderPad must be in [0, 256] pixels, not {BorderPad}.");
        if (!Enum.IsDefined(BorderFill)) throw new ArgumentException($"borderFill must be mean, replicate or reflect, not {BorderFill}.");
    }
}
