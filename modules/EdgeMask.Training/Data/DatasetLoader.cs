using EdgeMask.Core.Evaluation;
using EdgeMask.Core.Classification;
using EdgeMask.Core.Detection;
using EdgeMask.Inference.Classification;
using Microsoft.Extensions.Logging;
using OpenCvSharp;

namespace EdgeMask.Training.Data;

/// <summary>
/// Loads labelled crop folders (<c>with_mask/</c>, <c>without_mask/</c>, optional <c>mask_weared_incorrect/</c>) and Pascal VOC photo folders
/// (<c>images/</c>, <c>annotations/</c>) into in-memory crops. Unusable files are reported to
/// <see cref="Problems"/> and the log, and loading goes on with the rest.
/// </summary>
internal sealed class DatasetLoader(ClassifierContract contract, ILogger logger)
{
    /// <summary>Training crops keep this much more context than the run-time crop, so scale/shift jitter has pixels to use.</summary>
    public const float ContextFactor = 1.3f;

    private static readonly string[] ImageExtensions = [".jpg", ".jpeg", ".png", ".bmp", ".webp"];
    private readonly List<string> _problems = [];

    public IReadOnlyList<string> Problems => _problems;

    /// <summary>Side of the cached training crop: the run-time crop at ×1.5 resolution plus the context margin.</summary>
    public int CacheSide => (int)MathF.Round(contract.InputSize * 1.5f);

    public static bool HasSplit(string folder, string split) => File.Exists(Path.Combine(folder, "splits", split + ".txt"));

    public float BaseWindow => CacheSide / ContextFactor;

    /// <summary>
    /// Images of a crop folder. <paramref name="split"/> picks <c>splits/&lt;split&gt;.txt</c> when the folder has one;
    /// without a split file every image is used. <paramref name="forTraining"/> caches context crops, else run-time crops.
    /// </summary>
    public FaceSet LoadCropFolder(string folder, string? split, bool forTraining, string name)
    {
        if (!Directory.Exists(folder)) throw new DatasetException($"The crop folder '{folder}' does not exist.");
        HashSet<string>? chosen = ReadSplit(folder, split);
        var samples = new List<FaceSample>();
        foreach (string dir in new[] { MaskClassNames.WithMask, MaskClassNames.WithoutMask, MaskClassNames.MaskWornIncorrectly })
        {
            var label = MaskClassNames.ToLabel(dir)!.Value;
            string classDir = Path.Combine(folder, dir);
            if (!Directory.Exists(classDir))
            {
                // Most crop sets (cd7 among them) have no badly worn class: only the two others are expected.
                if (label != MaskLabel.Incorrect) Problem($"{folder}: no '{dir}/' folder, so this folder adds no {label.ToWireName()} images.");
                continue;
            }
            var files = Directory.EnumerateFiles(classDir)
                .Where(f => ImageExtensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
                .Order(StringComparer.Ordinal)
                .Where(f => chosen is null || chosen.Contains(Path.GetRelativePath(folder, f).Replace('\\', '/')))
                .ToList();
            if (files.Count == 0) Problem($"{classDir}: no images{(chosen is null ? "" : $" in split '{split}'")}.");
            foreach (string file in files)
            {
                using var image = Decode(file);
                if (image is null) continue;
                var region = FaceCropGeometry.WholeImageRegion(image.Cols, image.Rows);
                samples.Add(Cut(image, region, name, file, label, MathF.Min(image.Cols, image.Rows), forTraining));
            }
        }
        logger.LogInformation("{Set}: {Count} images from {Folder} (split {Split})", name, samples.Count, folder, split ?? "all");
        return new FaceSet(name, false, samples);
    }

    /// <summary>Faces of a VOC folder cut from their photos; faces whose short side is under <paramref name="minFace"/> px are left out.</summary>
    public FaceSet LoadVoc(string folder, string? split, bool forTraining, string name, float minFace)
    {
        string images = Path.Combine(folder, "images"), annotations = Path.Combine(folder, "annotations");
        if (!Directory.Exists(annotations)) throw new DatasetException($"The VOC folder '{folder}' has no 'annotations/' folder.");
        HashSet<string>? chosen = ReadSplit(folder, split);
        var xmls = Directory.EnumerateFiles(annotations, "*.xml").Order(StringComparer.Ordinal)
            .Where(f => chosen is null || chosen.Contains(Path.GetFileNameWithoutExtension(f))).ToList();
        if (xmls.Count == 0) Problem($"{annotations}: no annotation files{(chosen is null ? "" : $" in split '{split}'")}.");
        var samples = new List<FaceSample>();
        int tooSmall = 0;
        foreach (string xml in xmls)
        {
            VocAnnotation annotation;
            try
            {
                annotation = VocAnnotation.Load(xml);
            }
            catch (VocFormatException e)
            {
                Problem(e.Message);
                continue;
            }
            foreach (string warning in annotation.Warnings) Problem($"{xml}: {warning}.");
            string stem = Path.GetFileNameWithoutExtension(xml);
            string? imagePath = ImageExtensions.Select(e => Path.Combine(images, stem + e)).FirstOrDefault(File.Exists);
            if (imagePath is null)
            {
                Problem($"{xml}: no image '{stem}.*' in {images}; skipped.");
                continue;
            }
            using var image = Decode(imagePath);
            if (image is null) continue;
            if (image.Cols != annotation.Width || image.Rows != annotation.Height)
            {
                Problem($"{xml}: <size> says {annotation.Width}×{annotation.Height} but the image is {image.Cols}×{image.Rows}; skipped.");
                continue;
            }
            foreach (var o in annotation.Objects)
            {
                var label = MaskClassNames.ToLabel(o.Name);
                if (label is null)
                {
                    Problem($"{xml}: unknown class '{o.Name}' (expected with_mask, without_mask, mask_weared_incorrect); face skipped.");
                    continue;
                }
                if (o.Box.ShortSide < minFace)
                {
                    tooSmall++;
                    continue;
                }
                var region = FaceCropGeometry.SquareRegion(o.Box, contract.CropExpansion);
                samples.Add(Cut(image, region, name, imagePath, label.Value, o.Box.ShortSide, forTraining) with { FromPhoto = true });
            }
        }
        logger.LogInformation("{Set}: {Count} faces from {Images} photos in {Folder} (split {Split}; {Small} faces under {Min} px left out)",
            name, samples.Count, xmls.Count, folder, split ?? "all", tooSmall, minFace);
        return new FaceSet(name, true, samples);
    }

    private FaceSample Cut(Mat image, Core.Geometry.BoxF region, string source, string file, MaskLabel label, float shortSide, bool forTraining)
    {
        // Dev crops go through exactly the run-time plan; training crops keep extra context for the jitter.
        var square = forTraining
            ? Core.Geometry.BoxF.FromCenter(region.CenterX, region.CenterY, region.Width * ContextFactor, region.Height * ContextFactor)
            : region;
        int side = forTraining ? CacheSide : contract.InputSize;
        var plan = FaceCropGeometry.Plan(square, image.Cols, image.Rows, side);
        using var crop = new Mat(side, side, MatType.CV_8UC3);
        FaceCropper.Cut(image, plan, crop);
        var pixels = new byte[side * side * 3];
        System.Runtime.InteropServices.Marshal.Copy(crop.Data, pixels, 0, pixels.Length);
        return new FaceSample(source, file, label, shortSide, side, pixels);
    }

    private Mat? Decode(string path)
    {
        Mat image;
        try
        {
            image = Cv2.ImRead(path, ImreadModes.Color);
        }
        catch (OpenCVException e)
        {
            Problem($"{path}: cannot be decoded ({e.Message}); skipped.");
            return null;
        }
        if (image.Empty())
        {
            image.Dispose();
            Problem($"{path}: not a readable image (corrupt or unsupported); skipped.");
            return null;
        }
        return image;
    }

    private HashSet<string>? ReadSplit(string folder, string? split)
    {
        if (split is null) return null;
        string file = Path.Combine(folder, "splits", split + ".txt");
        if (!File.Exists(file))
        {
            if (Directory.Exists(Path.Combine(folder, "splits")))
                throw new DatasetException($"{folder}: split '{split}' requested but '{file}' does not exist.");
            return null;
        }
        return File.ReadLines(file).Select(l => l.Trim()).Where(l => l.Length > 0).ToHashSet(StringComparer.Ordinal);
    }

    private void Problem(string message)
    {
        _problems.Add(message);
        logger.LogWarning("{Problem}", message);
    }
}
