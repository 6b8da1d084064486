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
        var expanded = ExpandInputs(inputs, recursive: false);
        missing = [.. expanded.Missing];
        return [.. expanded.Files];
    }

    /// <summary>
    /// Expands files and folders into image paths: a folder gives its image files (by extension), sorted by path, and
    /// with <paramref name="recursive"/> those of its subfolders too (hidden ones skipped). A file is taken as given.
    /// Inputs that do not exist and folders that give no image are reported, not dropped silently.
    /// </summary>
    public static ImageInputs ExpandInputs(IEnumerable<string> inputs, bool recursive)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        var files = new List<string>();
        var names = new List<string>();
        var missing = new List<string>();
        var empty = new List<EmptyImageFolder>();
        var options = new EnumerationOptions { RecurseSubdirectories = recursive, IgnoreInaccessible = true, MatchCasing = MatchCasing.CaseInsensitive };
        foreach (var input in inputs)
        {
            if (Directory.Exists(input))
            {
                var found = ImagesIn(input, options);
                if (found.Count == 0)
                {
                    // Say where the images are when they sit one level down: the usual cause of an empty result.
                    int below = recursive ? 0 : ImagesIn(input, new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true }).Count;
                    empty.Add(new EmptyImageFolder(input, recursive, below));
                }
                files.AddRange(found);
                names.AddRange(found.Select(f => System.IO.Path.GetRelativePath(input, f)));
            }
            else if (File.Exists(input))
            {
                files.Add(input);
                names.Add(System.IO.Path.GetFileName(input));
            }
            else missing.Add(input);
        }
        return new ImageInputs(files, names, missing, empty);
    }

    private static List<string> ImagesIn(string folder, EnumerationOptions options) =>
        Directory.EnumerateFiles(folder, "*", options)
            .Where(f => ImageExtensions.Contains(System.IO.Path.GetExtension(f)))
            .Order(StringComparer.Ordinal)
            .ToList();
}

/// <summary>What a list of files and folders expanded to.</summary>
/// <param name="Files">Image files, in input order; each folder's sorted by path.</param>
/// <param name="Names">For each file, its path relative to the folder it was found in (its file name when given directly):
/// where an output derived from it goes, so same-named files of two subfolders do not overwrite each other.</param>
/// <param name="Missing">Inputs that are neither a file nor a folder.</param>
/// <param name="EmptyFolders">Folders that gave no image file.</param>
public sealed record ImageInputs(IReadOnlyList<string> Files, IReadOnlyList<string> Names, IReadOnlyList<string> Missing, IReadOnlyList<EmptyImageFolder> EmptyFolders);

/// <summary>
/// A folder in which no image was found (<see cref="Recursive"/>: nor in its subfolders); <see cref="ImagesInSubfolders"/>
/// counts those a recursive search would have found.
/// </summary>
public sealed record EmptyImageFolder(string Folder, bool Recursive, int ImagesInSubfolders)
{
    /// <summary>The message for the user: names the folder, and says how to reach images in subfolders.</summary>
    public string Message => ImagesInSubfolders > 0
        ? $"{Folder}: no image files in this folder, but its subfolders hold {ImagesInSubfolders}; add --recursive to use them."
        : $"{Folder}: no image files found{(Recursive ? " in it or its subfolders" : "")} (looked for {string.Join(", ", ImageLoader.ImageExtensions.Order(StringComparer.Ordinal))}).";
}
