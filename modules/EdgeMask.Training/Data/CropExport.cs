using System.Globalization;
using System.Text;
using EdgeMask.Core.Classification;
using EdgeMask.Core.Detection;
using EdgeMask.Core.Evaluation;
using Microsoft.Extensions.Logging;
using OpenCvSharp;

namespace EdgeMask.Training.Data;

/// <summary>
/// Writes the faces of Pascal VOC photos as a crop folder in the common one-subfolder-per-class layout
/// (<c>with_mask/</c>, <c>without_mask/</c>, <c>mask_weared_incorrect/</c>), cut exactly as the run time cuts a face box
/// (<see cref="FaceCropGeometry"/>, border replicated), as lossless PNG. At the classifier's input size the files are the
/// pixels the classifier sees, so <c>edgemask eval --crops</c> and <c>edgemask classify</c> on them give the figures of the
/// photos; at a larger size they are for people to look at. <c>faces.csv</c> ties every file to its photo and box.
/// </summary>
internal static class CropExport
{
    /// <summary>What was written: faces per VOC class name.</summary>
    internal sealed record Summary(IReadOnlyDictionary<string, int> Faces, int Photos, int LeftOutSmall);

    /// <param name="vocFolder">A VOC folder (<c>images/</c>, <c>annotations/</c>, optional <c>splits/</c>).</param>
    /// <param name="split">A split file name, or null for every annotation.</param>
    /// <param name="outFolder">Created if missing; files of the same names are overwritten.</param>
    /// <param name="size">Side of the written squares in pixels.</param>
    /// <param name="expansion">Crop side = longer box side × this (the contract's crop expansion).</param>
    /// <param name="minFace">Faces whose shorter side is below this many pixels are left out.</param>
    public static Summary Run(string vocFolder, string? split, string outFolder, int size, float expansion, float minFace, ILogger logger)
    {
        var contract = new ClassifierContract("input", size, ColorOrder.Rgb, [0f, 0f, 0f], [1f, 1f, 1f], expansion, "probabilities",
            [MaskLabelExtensions.MaskWireName, MaskLabelExtensions.NoMaskWireName, MaskLabelExtensions.IncorrectWireName]).Validate();
        var loader = new DatasetLoader(contract, logger);
        var set = loader.LoadVoc(vocFolder, split, forTraining: false, Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(vocFolder))), 0f);
        Directory.CreateDirectory(outFolder);
        var csv = new StringBuilder("file,image,face,label,short_side\n");
        var counts = new SortedDictionary<string, int>(StringComparer.Ordinal);
        int small = 0;
        string? lastImage = null;
        int face = 0;
        foreach (var sample in set.Samples)
        {
            // LoadVoc keeps the annotation's object order within a photo: the face index is the object's position among
            // the photo's objects of a known class (an unknown class is reported by the loader and not counted).
            face = sample.File == lastImage ? face + 1 : 0;
            lastImage = sample.File;
            if (sample.ShortSide < minFace)
            {
                small++;
                continue;
            }
            string folder = VocClassName(sample.Label);
            string name = string.Create(CultureInfo.InvariantCulture, $"{Path.GetFileNameWithoutExtension(sample.File)}_{face}.png");
            Directory.CreateDirectory(Path.Combine(outFolder, folder));
            unsafe
            {
                fixed (byte* p = sample.Pixels)
                {
                    using var image = Mat.FromPixelData(sample.Side, sample.Side, MatType.CV_8UC3, (nint)p);
                    string path = Path.Combine(outFolder, folder, name);
                    if (!Cv2.ImWrite(path, image)) throw new IOException($"Could not write '{path}'.");
                }
            }
            counts[folder] = counts.GetValueOrDefault(folder) + 1;
            csv.Append(CultureInfo.InvariantCulture, $"{folder}/{name},{Path.GetFileName(sample.File)},{face},{folder},{sample.ShortSide:0.#}\n");
        }
        File.WriteAllText(Path.Combine(outFolder, "faces.csv"), csv.ToString());
        return new Summary(counts, set.Samples.Select(s => s.File).Distinct().Count(), small);
    }

    private static string VocClassName(MaskLabel label) => label switch
    {
        MaskLabel.Mask => MaskClassNames.WithMask,
        MaskLabel.NoMask => MaskClassNames.WithoutMask,
        _ => MaskClassNames.MaskWornIncorrectly,
    };
}
