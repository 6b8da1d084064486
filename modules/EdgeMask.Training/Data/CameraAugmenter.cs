using OpenCvSharp;

namespace EdgeMask.Training.Data;

/// <summary>
/// Augmentation that imitates what a camera and the detector do to a face: box scale and position jitter (RetinaFace
/// boxes differ from the annotated ones), small rotations, mirror, low resolution (distant faces), blur,
/// brightness/contrast, JPEG artefacts and the occasional grey frame. Deterministic for a given <see cref="Random"/>.
/// </summary>
internal sealed class CameraAugmenter(int outputSize, float baseWindow, bool enabled) : IDisposable
{
    private readonly Mat _cache = new();
    private readonly Mat _small = new();
    private readonly Mat _gray = new();
    private readonly int[] _jpegParams = new int[2];

    /// <summary>Writes an augmented (or, when disabled, centred) <paramref name="outputSize"/>² crop of the sample into <paramref name="output"/>.</summary>
    public unsafe void Apply(FaceSample sample, Random rng, Mat output)
    {
        fixed (byte* p = sample.Pixels)
        {
            using var source = Mat.FromPixelData(sample.Side, sample.Side, MatType.CV_8UC3, (nint)p);
            float c = sample.Side * 0.5f;
            float window = baseWindow, dx = 0, dy = 0, angle = 0;
            bool flip = false;
            if (enabled)
            {
                window *= MathF.Exp(Uniform(rng, -0.15f, 0.15f));
                dx = Uniform(rng, -0.08f, 0.08f) * baseWindow;
                dy = Uniform(rng, -0.08f, 0.08f) * baseWindow;
                angle = rng.NextDouble() < 0.5 ? Uniform(rng, -12f, 12f) : 0f;
                flip = rng.NextDouble() < 0.5;
            }
            // Rotation and scale about the (shifted) window centre, then move that centre to the output centre.
            var m = Cv2.GetRotationMatrix2D(new Point2f(c + dx, c + dy), angle, outputSize / window);
            m.Set(0, 2, m.At<double>(0, 2) + outputSize * 0.5 - (c + dx));
            m.Set(1, 2, m.At<double>(1, 2) + outputSize * 0.5 - (c + dy));
            if (flip)
            {
                for (int j = 0; j < 3; j++) m.Set(0, j, -m.At<double>(0, j));
                m.Set(0, 2, m.At<double>(0, 2) + outputSize - 1);
            }
            Cv2.WarpAffine(source, output, m, new Size(outputSize, outputSize), InterpolationFlags.Linear, BorderTypes.Replicate);
            m.Dispose();
        }
        if (!enabled) return;

        if (rng.NextDouble() < 0.3)
        {
            // A distant face: few real pixels, enlarged by the crop resize.
            int side = rng.Next(10, 33);
            Cv2.Resize(output, _small, new Size(side, side), 0, 0, InterpolationFlags.Area);
            Cv2.Resize(_small, output, new Size(outputSize, outputSize), 0, 0, InterpolationFlags.Linear);
        }
        if (rng.NextDouble() < 0.15)
            Cv2.GaussianBlur(output, output, new Size(0, 0), Uniform(rng, 0.4f, 1.3f));
        if (rng.NextDouble() < 0.8)
            output.ConvertTo(output, -1, Uniform(rng, 0.65f, 1.35f), Uniform(rng, -35f, 35f));
        if (rng.NextDouble() < 0.05)
        {
            Cv2.CvtColor(output, _gray, ColorConversionCodes.BGR2GRAY);
            Cv2.CvtColor(_gray, output, ColorConversionCodes.GRAY2BGR);
        }
        if (rng.NextDouble() < 0.3)
        {
            _jpegParams[0] = (int)ImwriteFlags.JpegQuality;
            _jpegParams[1] = rng.Next(25, 91);
            Cv2.ImEncode(".jpg", output, out byte[] jpeg, _jpegParams);
            using var decoded = Cv2.ImDecode(jpeg, ImreadModes.Color);
            decoded.CopyTo(output);
        }
    }

    private static float Uniform(Random rng, float lo, float hi) => lo + (float)rng.NextDouble() * (hi - lo);

    public void Dispose()
    {
        _cache.Dispose();
        _small.Dispose();
        _gray.Dispose();
    }
}
