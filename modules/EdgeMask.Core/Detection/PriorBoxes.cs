namespace EdgeMask.Core.Detection;

/// <summary>
/// The anchor ("prior box") configuration of a RetinaFace model: per pyramid level a stride and the anchor sizes,
/// plus the two variances of the box encoding. Read from <c>models/manifest.json</c>, never hard-coded.
/// </summary>
public sealed record PriorBoxConfig
{
    public required IReadOnlyList<IReadOnlyList<int>> MinSizes { get; init; }
    public required IReadOnlyList<int> Steps { get; init; }
    public required float CenterVariance { get; init; }
    public required float SizeVariance { get; init; }

    /// <summary>Throws <see cref="ArgumentException"/> naming the field when the configuration cannot work.</summary>
    public void Validate()
    {
        if (Steps.Count == 0) throw new ArgumentException("priorBoxes.steps must list at least one stride.");
        if (MinSizes.Count != Steps.Count)
            throw new ArgumentException($"priorBoxes.minSizes has {MinSizes.Count} levels but priorBoxes.steps has {Steps.Count}; they must match.");
        for (int k = 0; k < Steps.Count; k++)
        {
            if (Steps[k] <= 0) throw new ArgumentException($"priorBoxes.steps[{k}] must be positive, not {Steps[k]}.");
            if (MinSizes[k].Count == 0 || MinSizes[k].Any(s => s <= 0))
                throw new ArgumentException($"priorBoxes.minSizes[{k}] must list positive anchor sizes.");
        }
        if (!(CenterVariance > 0) || !(SizeVariance > 0))
            throw new ArgumentException("priorBoxes.variance must be two positive numbers.");
    }

    /// <summary>Anchors per image of <paramref name="height"/> × <paramref name="width"/>: Σ_k |minSizes_k| · ⌈H/s_k⌉ · ⌈W/s_k⌉.</summary>
    public int PriorCount(int height, int width)
    {
        int total = 0;
        for (int k = 0; k < Steps.Count; k++)
            total += MinSizes[k].Count * CeilDiv(height, Steps[k]) * CeilDiv(width, Steps[k]);
        return total;
    }

    internal static int CeilDiv(int value, int divisor) => (value + divisor - 1) / divisor;
}

/// <summary>
/// Generates RetinaFace priors exactly as the reference <c>layers/functions/prior_box.py</c>: levels in order, rows
/// (y) outer, columns (x) inner, then the anchor sizes of the level; each prior is (cx, cy, w, h) normalised to the
/// input size. The model's outputs are laid out in this order, so any other order silently scrambles detections.
/// </summary>
public static class PriorBoxes
{
    /// <summary>Returns <c>4 · P</c> floats: (cx, cy, w, h) per prior, normalised to the input.</summary>
    public static float[] Generate(PriorBoxConfig config, int height, int width)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        var priors = new float[config.PriorCount(height, width) * 4];
        int o = 0;
        for (int k = 0; k < config.Steps.Count; k++)
        {
            int step = config.Steps[k];
            int rows = PriorBoxConfig.CeilDiv(height, step), cols = PriorBoxConfig.CeilDiv(width, step);
            var sizes = config.MinSizes[k];
            for (int i = 0; i < rows; i++)
            {
                float cy = (i + 0.5f) * step / height;
                for (int j = 0; j < cols; j++)
                {
                    float cx = (j + 0.5f) * step / width;
                    for (int s = 0; s < sizes.Count; s++)
                    {
                        priors[o++] = cx;
                        priors[o++] = cy;
                        priors[o++] = (float)sizes[s] / width;
                        priors[o++] = (float)sizes[s] / height;
                    }
                }
            }
        }
        return priors;
    }
}
