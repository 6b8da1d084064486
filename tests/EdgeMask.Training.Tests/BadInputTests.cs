using EdgeMask.Core.Classification;
using EdgeMask.Training.Data;
using EdgeMask.Training.Model;
using EdgeMask.Training.Training;
using Microsoft.Extensions.Logging.Abstractions;
using OpenCvSharp;

namespace EdgeMask.Training.Tests;

public sealed class BadInputTests : IDisposable
{
    private readonly string _root = SyntheticFaces.TempDir("bad");
    private static readonly ClassifierContract Contract = new ClassifierTrainer(
        OnnxExportTests.Options(new ResNetConfig(32, 16, [16], [1])), NullLogger.Instance, TimeProvider.System).Contract;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public void Run_EmptyFolder_ThrowsDatasetExceptionSayingNoImages()
    {
        string empty = Path.Combine(_root, "empty");
        Directory.CreateDirectory(empty);
        var e = Assert.Throws<DatasetException>(() => Trainer(empty).Run());
        Assert.Contains("No training images", e.Message);
    }

    [Fact]
    public void Run_OneClassMissing_ThrowsDatasetExceptionNamingTheClass()
    {
        string data = SyntheticFaces.CropFolder(Path.Combine(_root, "onlymask"), 4, 1, withoutMask: false);
        var e = Assert.Throws<DatasetException>(() => Trainer(data).Run());
        Assert.Contains("no_mask", e.Message);
        Assert.Contains("without_mask", e.Message);
    }

    [Fact]
    public void Run_NoBadlyWornMasksForTheThirdLabel_ThrowsNamingTheClassAndTheTwoClassOptions()
    {
        string data = SyntheticFaces.CropFolder(Path.Combine(_root, "twoclasses"), 4, 1, incorrect: false);
        var e = Assert.Throws<DatasetException>(() => Trainer(data).Run());
        Assert.Contains("'incorrect'", e.Message);
        Assert.Contains("mask_weared_incorrect", e.Message);
        Assert.Contains("--incorrect no_mask", e.Message);
    }

    [Fact]
    public void LoadCropFolder_CorruptImageAndMissingClass_ReportsBothAndLoadsTheRest()
    {
        string data = SyntheticFaces.CropFolder(Path.Combine(_root, "corrupt"), 3, 2, withoutMask: false, incorrect: false);
        File.WriteAllBytes(Path.Combine(data, "with_mask", "broken.jpg"), [0xFF, 0xD8, 0x00, 0x01, 0x02]);
        var loader = new DatasetLoader(Contract, NullLogger.Instance);
        var set = loader.LoadCropFolder(data, null, forTraining: true, "corrupt");
        Assert.Equal(3, set.Samples.Count);
        Assert.Contains(loader.Problems, p => p.Contains("broken.jpg") && p.Contains("skipped"));
        Assert.Contains(loader.Problems, p => p.Contains("without_mask/"));
    }

    [Fact]
    public void LoadVoc_BoxPastImageMissingSizeAndCorruptImage_ReportsEachAndKeepsGoodFaces()
    {
        string voc = Path.Combine(_root, "voc");
        Directory.CreateDirectory(Path.Combine(voc, "images"));
        Directory.CreateDirectory(Path.Combine(voc, "annotations"));
        var rng = new Random(4);
        using (var photo = new Mat(120, 160, MatType.CV_8UC3, Scalar.Gray))
        {
            using (var face = SyntheticFaces.Face(rng, true, 40)) face.CopyTo(new Mat(photo, new Rect(10, 10, 40, 40)));
            using (var face = SyntheticFaces.Face(rng, false, 40)) face.CopyTo(new Mat(photo, new Rect(90, 50, 40, 40)));
            foreach (string stem in new[] { "good", "outside", "nosize" }) Cv2.ImWrite(Path.Combine(voc, "images", stem + ".jpg"), photo);
        }
        File.WriteAllBytes(Path.Combine(voc, "images", "corrupt.jpg"), [1, 2, 3, 4]);
        string size = "<size><width>160</width><height>120</height><depth>3</depth></size>";
        string obj(string n, int x1, int y1, int x2, int y2) =>
            $"<object><name>{n}</name><bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>";
        File.WriteAllText(Path.Combine(voc, "annotations", "good.xml"),
            $"<annotation>{size}{obj("with_mask", 10, 10, 50, 50)}{obj("without_mask", 90, 50, 130, 90)}</annotation>");
        File.WriteAllText(Path.Combine(voc, "annotations", "outside.xml"),
            $"<annotation>{size}{obj("with_mask", 10, 10, 50, 50)}{obj("without_mask", 140, 50, 200, 90)}</annotation>");
        File.WriteAllText(Path.Combine(voc, "annotations", "nosize.xml"), $"<annotation>{obj("with_mask", 10, 10, 50, 50)}</annotation>");
        File.WriteAllText(Path.Combine(voc, "annotations", "corrupt.xml"), $"<annotation>{size}{obj("with_mask", 10, 10, 50, 50)}</annotation>");

        var loader = new DatasetLoader(Contract, NullLogger.Instance);
        var set = loader.LoadVoc(voc, null, forTraining: true, "voc", minFace: 10);

        // Two from good.xml and both of outside.xml: the box past the right edge is clipped to the image (and
        // reported), as edgemask eval clips it, so training and evaluation see the same ground truth.
        Assert.Equal(4, set.Samples.Count);
        Assert.Contains(loader.Problems, p => p.Contains("outside.xml") && p.Contains("outside the 160×120 image; clipped"));
        Assert.Contains(loader.Problems, p => p.Contains("nosize.xml") && p.Contains("<size>"));
        Assert.Contains(loader.Problems, p => p.Contains("corrupt.jpg"));
        Assert.Equal(3, loader.Problems.Count);
    }

    private ClassifierTrainer Trainer(string cropFolder) => new(new TrainingOptions
    {
        CropFolders = [cropFolder],
        OutputPath = Path.Combine(_root, "m.onnx"),
        WorkDirectory = Path.Combine(_root, "work"),
        Model = new ResNetConfig(32, 16, [16], [1]),
        Epochs = 1,
    }, NullLogger.Instance, TimeProvider.System);
}
