using EdgeMask.Training.Onnx;

namespace EdgeMask.Training.Detection;

/// <summary>
/// Weight-space interpolation between the start model and a fine-tuned one of the same graph:
/// w = (1 − α)·start + α·tuned for every float initializer (WiSE-FT, Wortsman et al. 2022). Fine-tuning on a few
/// hundred photos moves the weights a short way from the stock model; part of the way back recovers what fine-tuning
/// forgot (faces the stock model found) while keeping most of what it learned (masked and small faces).
/// </summary>
internal static class WeightBlend
{
    /// <returns>The bytes of <paramref name="tuned"/>'s file with every initializer replaced by the blend.</returns>
    public static byte[] Blend(OnnxGraphFile start, OnnxGraphFile tuned, float alpha)
    {
        if (!(alpha is >= 0f and <= 1f)) throw new ArgumentOutOfRangeException(nameof(alpha), alpha, "--alpha must be in [0, 1] (1: the tuned model).");
        if (start.Initializers.Count != tuned.Initializers.Count)
            throw new OnnxGraphException(tuned.Path, $"it has {tuned.Initializers.Count} float initializers, {start.Path} has {start.Initializers.Count}: not the same graph.");
        var blended = new Dictionary<string, float[]>(StringComparer.Ordinal);
        foreach (var (name, init) in tuned.Initializers)
        {
            if (!start.Initializers.TryGetValue(name, out var other) || !other.Dims.SequenceEqual(init.Dims))
                throw new OnnxGraphException(start.Path, $"initializer '{name}' is missing or has another shape: not the graph of {tuned.Path}.");
            float[] a = start.ReadFloats(name), b = tuned.ReadFloats(name);
            var w = new float[b.Length];
            for (int i = 0; i < w.Length; i++) w[i] = (1f - alpha) * a[i] + alpha * b[i];
            blended[name] = w;
        }
        return tuned.WithInitializers(blended);
    }
}
