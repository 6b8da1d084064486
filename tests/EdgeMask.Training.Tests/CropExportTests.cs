using EdgeMask.Training.Data;
using EdgeMask.Training.Model;
using EdgeMask.Training.Training;
using Microsoft.Extensions.Logging.Abstractions;
using OpenCvSharp;

namespace EdgeMask.Training.Tests;

/// <summary><c>edgemask-train crops</c>: a VOC set's faces written as a crop folder, cut as the run time cuts them.</summary>
public sealed class CropExportTests : IDisposable
{
    private readonly string _root = SyntheticFaces.TempDir("crops");

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private string Voc()
    {
        string voc = Path.Combine(_root, "voc");
        Directory.CreateDirectory(Path.Combine(voc, "images"));
        Directory.CreateDirectory(Path.Combine(voc, "annotations"));
        Directory.CreateDirectory(Path.Combine(voc, "splits"));
        var rng = new Random(9);
        using (var photo = new Mat(120, 200, MatType.CV_8UC3, Scalar.Gray))
        {
            using (var face = SyntheticFaces.Face(rng, true, 40)) face.CopyTo(new Mat(photo, new Rect(10, 10, 40, 40)));
            using (var face = SyntheticFaces.Face(rng, false, 40)) face.CopyTo(new Mat(photo, new Rect(90, 50, 40, 40)));
            Cv2.ImWrite(Path.Combine(voc, "images", "p1.png"), photo);
            Cv2.ImWrite(Path.Combine(voc, "images", "p2.png"), photo);
        }
        string size = "<size><width>200</width><height>120</height><depth>3</depth></size>";
        string obj(string n, int x1, int y1, int x2, int y2) =>
            $"<object><name>{n}</name><bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>";
        File.WriteAllText(Path.Combine(voc, "annotations", "p1.xml"),
            $"<annotation>{size}{obj("with_mask", 10, 10, 50, 50)}{obj("mask_weared_incorrect", 90, 50, 130, 90)}{obj("without_mask", 160, 10, 172, 22)}</annotation>");
        File.WriteAllText(Path.Combine(voc, "annotations", "p2.xml"), $"<annotation>{size}{obj("without_mask", 90, 50, 130, 90)}</annotation>");
        File.WriteAllText(Path.Combine(voc, "splits", "dev.txt"), "p1\n");
        return voc;
    }

    [Fact]
    public void Run_DevSplit_WritesOneFolderPerClassAndLeavesOutSmallFacesAndOtherSplits()
    {
        string output = Path.Combine(_root, "out");

        var summary = CropExport.Run(Voc(), "dev", output, 64, 1.2f, 20f, NullLogger.Instance);

        Assert.Equal(1, summary.Photos);
        Assert.Equal(1, summary.LeftOutSmall);
        Assert.Equal(new Dictionary<string, int> { ["mask_weared_incorrect"] = 1, ["with_mask"] = 1 }, summary.Faces);
        Assert.True(File.Exists(Path.Combine(output, "with_mask", "p1_0.png")));
        Assert.True(File.Exists(Path.Combine(output, "mask_weared_incorrect", "p1_1.png")));
        Assert.False(Directory.Exists(Path.Combine(output, "without_mask")));
        Assert.Equal(
            ["file,image,face,label,short_side", "with_mask/p1_0.png,p1.png,0,with_mask,40", "mask_weared_incorrect/p1_1.png,p1.png,1,mask_weared_incorrect,40"],
            File.ReadAllLines(Path.Combine(output, "faces.csv")));
    }

    [Fact]
    public void Run_ClassifierInputSize_WritesExactlyThePixelsTheLoaderCutsForTheClassifier()
    {
        string voc = Voc(), output = Path.Combine(_root, "out");
        var contract = new ClassifierTrainer(OnnxExportTests.Options(new ResNetConfig(64, 16, [16], [1])), NullLogger.Instance, TimeProvider.System).Contract;
        var cut = new DatasetLoader(contract, NullLogger.Instance).LoadVoc(voc, "dev", forTraining: false, "voc", 20f).Samples[1];

        CropExport.Run(voc, "dev", output, 64, contract.CropExpansion, 20f, NullLogger.Instance);

        using var written = Cv2.ImRead(Path.Combine(output, "mask_weared_incorrect", "p1_1.png"), ImreadModes.Color);
        Assert.Equal(64, written.Rows);
        Assert.Equal(64, written.Cols);
        Assert.True(written.GetArray(out Vec3b[] pixels));
        Assert.Equal(cut.Pixels, pixels.SelectMany(p => new[] { p.Item0, p.Item1, p.Item2 }).ToArray());
    }
}
