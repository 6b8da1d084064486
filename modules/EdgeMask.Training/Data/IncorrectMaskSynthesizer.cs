using EdgeMask.Core.Detection;

namespace EdgeMask.Training.Data;

/// <summary>
/// Synthetic badly worn masks for training: the lower part of a masked face pasted onto a bare face from just below
/// its nose (a mask under the nose) down to the chin (a mask on the chin), with a feathered seam. Both faces are
/// training context crops cut from photos around their annotated boxes, so their faces sit at the same place and
/// scale and no landmark is needed. Real badly worn masks are a few dozen; these add the one cue that tells them from
/// a proper mask — a visible nose above mask fabric — on hundreds of other faces.
/// </summary>
/// <param name="side">Side of the context crops (<see cref="DatasetLoader.CacheSide"/>).</param>
/// <param name="boxSide">Side of the face box inside them: the crop is the box's longer side × expansion × context.</param>
internal sealed class IncorrectMaskSynthesizer(int side, float boxSide)
{
    /// <summary>Where the pasted mask's top edge may sit, as a fraction of the box below its centre: 0.02 is just under a
    /// nose tip (VOC boxes are tight, the nose tip sits at 55–60 % of their height), 0.3 leaves the mouth free.</summary>
    private const float TopMin = 0.02f, TopMax = 0.25f;
    private const float Feather = 3f;

    /// <summary>A badly worn mask made of <paramref name="bare"/>'s upper face and <paramref name="masked"/>'s mask.</summary>
    public FaceSample Compose(FaceSample bare, FaceSample masked, Random rng)
    {
        if (bare.Side != side || masked.Side != side)
            throw new ArgumentException($"Synthetic masks need two {side} px context crops, not {bare.Side} and {masked.Side} px.");
        float centre = side * 0.5f, half = boxSide * 0.5f;
        float top = centre + (TopMin + (float)rng.NextDouble() * (TopMax - TopMin)) * boxSide;
        // The mask spans the face's width: fade it out over the box's outer tenth on each side.
        float inner = half * 0.8f;
        var pixels = (byte[])bare.Pixels.Clone();
        for (int y = (int)top; y < side; y++)
        {
            float ay = Math.Clamp((y - top) / Feather, 0f, 1f);
            for (int x = 0; x < side; x++)
            {
                float dx = MathF.Abs(x + 0.5f - centre);
                float ax = Math.Clamp((half - dx) / (half - inner), 0f, 1f);
                float a = ay * ax;
                if (a <= 0f) continue;
                int i = (y * side + x) * 3;
                for (int ch = 0; ch < 3; ch++)
                    pixels[i + ch] = (byte)(a * masked.Pixels[i + ch] + (1f - a) * pixels[i + ch] + 0.5f);
            }
        }
        return new FaceSample(bare.Source + " synthetic", bare.File, MaskLabel.Incorrect, bare.ShortSide, side, pixels) { FromPhoto = true };
    }
}
