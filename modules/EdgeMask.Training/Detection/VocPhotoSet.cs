using EdgeMask.Core.Classification;
using EdgeMask.Core.Evaluation;
using EdgeMask.Inference.Imaging;
using Microsoft.Extensions.Logging;
using OpenCvSharp;

namespace EdgeMask.Training.Detection;

/// <summary>One annotated photo held in memory (decoded BGR) with its VOC annotation.</summary>
internal sealed class VocPhoto(string stem, string imagePath, Mat image, VocAnnotation annotation) : IDisposable
{
    public string Stem { get; } = stem;
    public string ImagePath { get; } = imagePath;
    public Mat Image { get; } = image;
    public VocAnnotation Annotation { get; } = annotation;

    /// <summary>The annotated faces as training faces (every class is a face; VOC has no landmarks).</summary>
    public List<TrainingFace> Faces => FacesWeighted(1f);

    /// <summary>
    /// The annotated faces, those without a mask (<c>without_mask</c>, <c>mask_weared_incorrect</c>) weighing
    /// <paramref name="bareWeight"/> in the classification loss: voc853 has five masked faces for every bare one.
    /// </summary>
    public List<TrainingFace> FacesWeighted(float bareWeight) =>
        Annotation.Objects.Select(o => new TrainingFace(o.Box, null, o.Name is MaskClassNames.WithMask ? 1f : bareWeight)).ToList();

    public void Dispose() => Image.Dispose();
}

/// <summary>
/// The photos of one split of a Pascal VOC folder, read with the same annotation reader and image loader as
/// <c>edgemask eval</c> so the trainer's dev figures are the ones <c>edgemask eval</c> reports. Owns the decoded images.
/// </summary>
internal sealed class VocPhotoSet : IDisposable
{
    private static readonly string[] Extensions = [".jpg", ".jpeg", ".png", ".bmp", ".webp"];

    public string Name { get; }
    public IReadOnlyList<VocPhoto> Photos { get; }
    public IReadOnlyList<string> Problems { get; }

    private VocPhotoSet(string name, List<VocPhoto> photos, List<string> problems)
    {
        Name = name;
        Photos = photos;
        Problems = problems;
    }

    public int FaceCount => Photos.Sum(p => p.Annotation.Objects.Count);

    public static VocPhotoSet Load(string folder, string split, ILogger logger, int? limit = null)
    {
        string annotations = Path.Combine(folder, "annotations"), images = Path.Combine(folder, "images");
        if (!Directory.Exists(annotations))
            throw new Data.DatasetException($"The VOC folder '{folder}' has no 'annotations/' folder.");
        string splitFile = Path.Combine(folder, "splits", split + ".txt");
        if (!File.Exists(splitFile))
            throw new Data.DatasetException($"{folder}: split '{split}' requested but '{splitFile}' does not exist.");
        var stems = File.ReadAllLines(splitFile).Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();
        if (limit is int n) stems = stems.Take(n).ToList();
        var photos = new List<VocPhoto>();
        var problems = new List<string>();
        foreach (string stem in stems)
        {
            try
            {
                var annotation = VocAnnotation.Load(Path.Combine(annotations, stem + ".xml"));
                problems.AddRange(annotation.Warnings.Select(w => $"{annotation.Path}: {w}"));
                string path = Extensions.Select(e => Path.Combine(images, stem + e)).FirstOrDefault(File.Exists)
                    ?? throw new ImageLoadException(Path.Combine(images, stem + ".*"), "no image with this stem.");
                var image = ImageLoader.LoadBgr(path);
                photos.Add(new VocPhoto(stem, path, image, annotation));
            }
            catch (Exception e) when (e is VocFormatException or ImageLoadException or FileNotFoundException)
            {
                problems.Add($"{stem}: {e.Message}; skipped.");
            }
        }
        foreach (string p in problems) logger.LogWarning("{Problem}", p);
        if (photos.Count == 0) throw new Data.DatasetException($"{folder}: no usable photos in split '{split}'.");
        string name = $"{Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder)))} {split}";
        var set = new VocPhotoSet(name, photos, problems);
        logger.LogInformation("{Set}: {Photos} photos, {Faces} faces", name, photos.Count, set.FaceCount);
        return set;
    }

    public void Dispose()
    {
        foreach (var p in Photos) p.Dispose();
    }
}
