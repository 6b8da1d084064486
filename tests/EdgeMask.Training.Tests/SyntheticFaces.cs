using OpenCvSharp;

namespace EdgeMask.Training.Tests;

/// <summary>
/// Tiny generated datasets: a skin-coloured "face" on a random background, with or without a pale "mask" over its lower
/// half, or with the mask pulled down to the chin (a badly worn mask: mouth line visible above it).
/// </summary>
internal static class SyntheticFaces
{
    public static Mat Face(Random rng, bool masked, int size) => Face(rng, masked ? "with_mask" : "without_mask", size);

    public static Mat Face(Random rng, string kind, int size)
    {
        bool masked = kind == "with_mask", incorrect = kind == "mask_weared_incorrect";
        var img = new Mat(size, size, MatType.CV_8UC3, new Scalar(rng.Next(256), rng.Next(256), rng.Next(256)));
        var centre = new Point(size / 2 + rng.Next(-3, 4), size / 2 + rng.Next(-3, 4));
        var axes = new Size(size * 3 / 10, size * 4 / 10);
        Cv2.Ellipse(img, centre, axes, 0, 0, 360, new Scalar(90 + rng.Next(40), 140 + rng.Next(40), 200 + rng.Next(40)), -1);
        Cv2.Circle(img, new Point(centre.X - size / 8, centre.Y - size / 10), Math.Max(1, size / 20), Scalar.Black, -1);
        Cv2.Circle(img, new Point(centre.X + size / 8, centre.Y - size / 10), Math.Max(1, size / 20), Scalar.Black, -1);
        if (masked)
            Cv2.Rectangle(img, new Rect(centre.X - axes.Width, centre.Y, 2 * axes.Width, axes.Height), new Scalar(230, 200 + rng.Next(30), 160), -1);
        else
            Cv2.Line(img, new Point(centre.X - size / 8, centre.Y + size / 5), new Point(centre.X + size / 8, centre.Y + size / 5), new Scalar(40, 40, 160), Math.Max(1, size / 24));
        if (incorrect)
            Cv2.Rectangle(img, new Rect(centre.X - axes.Width, centre.Y + axes.Height * 6 / 10, 2 * axes.Width, axes.Height / 2), new Scalar(230, 200 + rng.Next(30), 160), -1);
        return img;
    }

    /// <summary>
    /// A crop folder with <c>with_mask/</c>, <c>without_mask/</c> and <c>mask_weared_incorrect/</c>, <paramref name="perClass"/>
    /// images each.
    /// </summary>
    public static string CropFolder(string root, int perClass, int seed, bool withMask = true, bool withoutMask = true, bool incorrect = true)
    {
        var rng = new Random(seed);
        foreach (var (dir, wanted) in new[] { ("with_mask", withMask), ("without_mask", withoutMask), ("mask_weared_incorrect", incorrect) })
        {
            if (!wanted) continue;
            Directory.CreateDirectory(Path.Combine(root, dir));
            for (int i = 0; i < perClass; i++)
            {
                using var img = Face(rng, dir, 48);
                Cv2.ImWrite(Path.Combine(root, dir, $"{dir[0]}{i:000}.png"), img);
            }
        }
        return root;
    }

    public static string TempDir(string name)
    {
        string dir = Path.Combine(Path.GetTempPath(), "edgemask-train-tests", $"{name}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        return dir;
    }
}
