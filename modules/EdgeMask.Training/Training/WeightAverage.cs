using TorchSharp;
using static TorchSharp.torch;

namespace EdgeMask.Training.Training;

/// <summary>
/// Exponential moving average of a network's weights (Polyak averaging), kept in a second instance of the same
/// architecture. BatchNorm running statistics are averaged the same way, so the averaged network's folded
/// convolutions stay consistent with its averaged weights.
/// </summary>
internal static class WeightAverage
{
    /// <summary>Makes <paramref name="target"/> an exact copy of <paramref name="source"/> (same architecture).</summary>
    public static void CopyInto(nn.Module source, nn.Module target)
    {
        using var noGrad = no_grad();
        foreach (var (t, s) in Pairs(target, source)) t.copy_(s);
    }

    /// <summary>
    /// <c>average ← d·average + (1 − d)·current</c>, with <c>d = min(decay, (1 + step) / (10 + step))</c> so the
    /// average follows the fast-moving first steps instead of remembering the random initialisation.
    /// </summary>
    public static void Update(nn.Module average, nn.Module current, double decay, long step)
    {
        double d = Math.Min(decay, (1.0 + step) / (10.0 + step));
        using var noGrad = no_grad();
        // Owned scalars: implicit ones may be finalized while libtorch reads them (TorchScalarLifetimeTests).
        using var keep = d.ToScalar();
        using var take = (1 - d).ToScalar();
        foreach (var (a, c) in Pairs(average, current))
        {
            if (a.is_floating_point()) a.mul_(keep).add_(c, alpha: take);
            else a.copy_(c);
        }
    }

    private static IEnumerable<(Tensor Target, Tensor Source)> Pairs(nn.Module target, nn.Module source)
    {
        var t = target.parameters().Cast<Tensor>().Concat(target.buffers()).ToList();
        var s = source.parameters().Cast<Tensor>().Concat(source.buffers()).ToList();
        if (t.Count != s.Count) throw new InvalidOperationException($"The networks differ: {t.Count} tensors against {s.Count}.");
        for (int i = 0; i < t.Count; i++)
        {
            if (!t[i].shape.SequenceEqual(s[i].shape))
                throw new InvalidOperationException($"Tensor {i} has shape [{string.Join(",", t[i].shape)}] against [{string.Join(",", s[i].shape)}].");
            yield return (t[i], s[i]);
        }
    }
}
