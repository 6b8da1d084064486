using OpenCvSharp;

namespace EdgeMask.Inference.Imaging;

/// <summary>An image file that cannot be used, with the reason in words a user can act on.</summary>
public sealed class ImageLoadException(string path, string reason) : Exception($"{path}: {reason}")
{
    public string Path { get; } = path;
    public string Reason { get; } = reason;
}

/// <summary>
/// Reads image files as 8-bit BGR, whatever they are stored as: grayscale is expanded, alpha dropped, 16-bit scaled to
/// 8-bit (÷257 maps 65535 to 255 exactly). The detector and classifier contracts are 8-bit BGR.
/// </summary>
public static class ImageLoader
{
    /// <summary>The smallest side RetinaFace's smallest anchor (16 px) can find anything in.</summary>
    public const int MinimumSide = 16;

    public static readonly IReadOnlySet<string> ImageExtensions = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
    {
        ".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".ppm",
    };

    /// <summary>Loads <paramref name="path"/> as a new 8-bit BGR <see cref="Mat"/> owned by the caller.</summary>
    public static Mat LoadBgr(string path, int minimumSide = MinimumSide)
    {
        var info = new FileInfo(path);
        if (!info.Exists) throw new ImageLoadException(path, "no such file.");
        if (info.Length == 0) throw new ImageLoadException(path, "the file is empty.");
        Mat raw;
        try
        {
            raw = Cv2.ImRead(path, ImreadModes.Unchanged);
        }
        catch (OpenCVException ex)
        {
            throw new ImageLoadException(path, $"not a readable image ({ex.Message}).");
        }
        if (raw.Empty())
        {
            raw.Dispose();
            throw new ImageLoadException(path, "not a readable image (unknown format, corrupt or truncated).");
        }
        try
        {
            var bgr = ToBgr8(raw);
            if (bgr.Width < minimumSide || bgr.Height < minimumSide)
            {
                string size = $"{bgr.Width}×{bgr.Height}";
                bgr.Dispose();
                throw new ImageLoadException(path, $"the image is {size}, smaller than {minimumSide} px on a side: too small to hold a detectable face.");
            }
            return bgr;
        }
        finally
        {
            raw.Dispose();
        }
    }

    /// <summary>A new 8-bit, 3-channel BGR copy of <paramref name="src"/>.</summary>
    public static Mat ToBgr8(Mat src)
    {
        using var eightBit = new Mat();
        int depth = src.Depth();
        if (depth == MatType.CV_8U) src.CopyTo(eightBit);
        else if (depth == MatType.CV_16U) src.ConvertTo(eightBit, MatType.CV_8U, 1.0 / 257.0);
        else if (depth == MatType.CV_32F || depth == MatType.CV_64F) src.ConvertTo(eightBit, MatType.CV_8U, 255.0);
        else src.ConvertTo(eightBit, MatType.CV_8U);

        var bgr = new Mat();
        switch (eightBit.Channels())
        {
            case 1: Cv2.CvtColor(eightBit, bgr, ColorConversionCodes.GRAY2BGR); break;
            case 3: eightBit.CopyTo(bgr); break;
            case 4: Cv2.CvtColor(eightBit, bgr, ColorConversionCodes.BGRA2BGR); break;
            default:
                bgr.Dispose();
                throw new ArgumentException($"Images with {eightBit.Channels()} channels are not supported.");
        }
        return bgr;
    }

    /// <summary>Expands files and folders (one level of files, sorted) into image paths; folders keep only image extensions.</summary>
    public static List<string> ExpandInputs(IEnumerable<string> inputs, out List<string> missing)
    {
        var files = new List<string>();
        missing = [];
        foreach (var input in inputs)
        {
            if (Directory.Exists(input))
            {
                files.AddRange(Directory.EnumerateFiles(input)
                    .Where(f => ImageExtensions.Contains(System.IO.Path.GetExtension(f)))
                    .Order(StringComparer.Ordinal));
            }
            else if (File.Exists(input)) files.Add(input);
            else missing.Add(input);
        }
        return files;
    }
}
