namespace EdgeMask.Core.Detection;

/// <summary>How an original image is resized for the detector and how results map back.</summary>
public readonly record struct InputGeometry(int OriginalWidth, int OriginalHeight, int InputWidth, int InputHeight, float Scale)
{
    /// <summary>
    /// The detector input for an image: its own size × <see cref="InputSizing.Scale"/>, or resized so the long side is
    /// <see cref="InputSizing.TargetLongSide"/>. RetinaFace accepts any size, so no letterbox padding is needed: a
    /// uniform resize keeps faces' aspect and lets boxes map back with one factor.
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
        return new InputGeometry(originalWidth, originalHeight, w, h, applied);
    }
}

/// <summary>Detector input sizing: a fixed scale of the original (2× finds small faces) or a target long side.</summary>
public sealed record InputSizing
{
    public float Scale { get; init; } = 1f;
    public int? TargetLongSide { get; init; }
    /// <summary>Upper bound on the detector's input pixels; bigger inputs are refused rather than exhausting memory.</summary>
    public long MaxInputPixels { get; init; } = 4096L * 4096L;

    public void Validate()
    {
        if (!(Scale is > 0f and <= 8f)) throw new ArgumentException($"scale must be in (0, 8], not {Scale}.");
        if (TargetLongSide is int t && (t < 32 || t > 8192)) throw new ArgumentException($"targetLongSide must be in [32, 8192], not {t}.");
        if (MaxInputPixels < 1024) throw new ArgumentException($"maxInputPixels must be at least 1024, not {MaxInputPixels}.");
    }
}
