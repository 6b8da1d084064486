using System.Text.Json;
using EdgeMask.Tests.Shared;

namespace EdgeMask.Module.Tests.Cli;

public class DetectCommandTests
{
    /// <summary>The checkout's models/: the detector installed from ../shared/models, the classifier committed.</summary>
    private static readonly string Models = Path.Combine(TestPaths.RepoRoot, "models");

    [Fact]
    public async Task Detect_Json_OneObjectPerImageInTheDocumentedShape()
    {
        var r = await CliRunner.RunAsync("detect", TestPaths.VocImage(0), TestPaths.VocImage(5), "--json", "--models", Models, "--ep", "cpu");
        Assert.Equal(0, r.ExitCode);
        Assert.Equal(2, r.StdoutLines.Length);
        using var doc = JsonDocument.Parse(r.StdoutLines[1]);
        var root = doc.RootElement;
        Assert.Equal(["image", "width", "height", "faces"], root.EnumerateObject().Select(p => p.Name));
        Assert.Equal(TestPaths.VocImage(5), root.GetProperty("image").GetString());
        Assert.Equal(400, root.GetProperty("width").GetInt32());
        Assert.Equal(266, root.GetProperty("height").GetInt32());
        var faces = root.GetProperty("faces").EnumerateArray().ToList();
        Assert.Equal(4, faces.Count);   // the photo's 4 annotated faces (the stock detector also fired on a fifth spot)
        foreach (var face in faces)
        {
            Assert.Equal(["box", "score", "landmarks", "mask"], face.EnumerateObject().Select(p => p.Name));
            var mask = face.GetProperty("mask");
            Assert.Contains(mask.GetProperty("label").GetString(), new[] { "mask", "no_mask", "incorrect" });
            Assert.InRange(mask.GetProperty("probability").GetDouble(), 1.0 / 3, 1.0);
            Assert.Equal(["mask", "no_mask", "incorrect"], mask.GetProperty("probabilities").EnumerateObject().Select(p => p.Name));
            var box = face.GetProperty("box").EnumerateArray().Select(v => v.GetDouble()).ToArray();
            Assert.Equal(4, box.Length);
            Assert.True(box[0] >= 0 && box[1] >= 0 && box[2] <= 400 && box[3] <= 266 && box[0] < box[2] && box[1] < box[3], "box clipped to the image");
            Assert.InRange(face.GetProperty("score").GetDouble(), 0.5, 1.0);
            var marks = face.GetProperty("landmarks").EnumerateArray().ToList();
            Assert.Equal(5, marks.Count);
            Assert.All(marks, m => Assert.Equal(2, m.GetArrayLength()));
        }
    }

    [Fact]
    public async Task Detect_FolderWithMixedFiles_GoodImagesProcessedBadOnesNamedExitOne()
    {
        var dir = TestPaths.NewTempDirectory();
        File.Copy(TestPaths.VocImage(5), Path.Combine(dir, "a-good.jpg"));
        File.WriteAllText(Path.Combine(dir, "b-corrupt.jpg"), "not a jpeg");
        File.WriteAllBytes(Path.Combine(dir, "c-empty.png"), []);
        File.Copy(TestPaths.VocImage(0), Path.Combine(dir, "d-good.jpg"));
        File.WriteAllText(Path.Combine(dir, "notes.txt"), "ignored");

        var r = await CliRunner.RunAsync("detect", dir, "--json", "--models", Models, "--ep", "cpu");
        Assert.Equal(1, r.ExitCode);
        var lines = r.StdoutLines.Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(4, lines.Count);
        Assert.True(lines[0].TryGetProperty("faces", out _));
        Assert.Contains("not a readable image", lines[1].GetProperty("error").GetString());
        Assert.Contains("empty", lines[2].GetProperty("error").GetString());
        Assert.True(lines[3].GetProperty("faces").GetArrayLength() >= 2);
        Assert.Contains("b-corrupt.jpg", r.Stderr);
    }

    [Fact]
    public async Task Detect_MissingModel_ExitTwoNamingFileAndInstallCommand()
    {
        var r = await CliRunner.RunAsync("detect", TestPaths.VocImage(5), "--models", TestPaths.NewTempDirectory());
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("retinaface_mnet025_masked.onnx", r.Stderr);   // the manifest's default detector
        Assert.Contains("models/install.sh", r.Stderr);
    }

    [Fact]
    public async Task Detect_NoClassify_FacesWithoutMaskField()
    {
        var r = await CliRunner.RunAsync("detect", TestPaths.VocImage(5), "--json", "--no-classify", "--models", Models, "--ep", "cpu");
        Assert.Equal(0, r.ExitCode);
        using var doc = JsonDocument.Parse(r.StdoutLines[0]);
        Assert.All(doc.RootElement.GetProperty("faces").EnumerateArray(), f => Assert.False(f.TryGetProperty("mask", out _)));
    }

    [Fact]
    public async Task Detect_MissingInput_ExitOne()
    {
        var r = await CliRunner.RunAsync("detect", "/no/such/image.jpg", "--models", Models);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("no such file", r.Stderr);
    }

    [Fact]
    public async Task Detect_Annotate_WritesCopyWithDrawing()
    {
        var dir = TestPaths.NewTempDirectory();
        var r = await CliRunner.RunAsync("detect", TestPaths.VocImage(5), "--annotate", dir, "--models", Models, "--ep", "cpu");
        Assert.Equal(0, r.ExitCode);
        var written = Path.Combine(dir, "maksssksksss5.jpg");
        Assert.True(File.Exists(written));
        using var original = OpenCvSharp.Cv2.ImRead(TestPaths.VocImage(5));
        using var drawn = OpenCvSharp.Cv2.ImRead(written);
        Assert.Equal(original.Size(), drawn.Size());
        using var diff = new OpenCvSharp.Mat();
        OpenCvSharp.Cv2.Absdiff(original, drawn, diff);
        using var gray = diff.CvtColor(OpenCvSharp.ColorConversionCodes.BGR2GRAY);
        Assert.True(OpenCvSharp.Cv2.CountNonZero(gray.Threshold(60, 255, OpenCvSharp.ThresholdTypes.Binary)) > 500, "boxes and labels are drawn");
    }

    [Fact]
    public async Task Detect_Table_ReadableSummary()
    {
        var r = await CliRunner.RunAsync("detect", TestPaths.VocImage(5), "--models", Models, "--ep", "cpu");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("maksssksksss5.jpg", r.Stdout);
        Assert.Contains("1 image(s), 4 face(s), ", r.Stdout);
        Assert.Matches(@"\d+ without mask, \d+ with a mask worn incorrectly, execution provider cpu\.", r.Stdout);
    }

    [Fact]
    public async Task Detect_TensorRtRequested_FallsBackWithWarning()
    {
        var r = await CliRunner.RunAsync("detect", TestPaths.VocImage(5), "--json", "--models", Models, "--ep", "tensorrt");
        Assert.Equal(0, r.ExitCode);
        Assert.Single(r.StdoutLines);
    }

    [Fact]
    public async Task Detect_TensorRtStrict_ExitTwoWithReason()
    {
        var r = await CliRunner.RunAsync("detect", TestPaths.VocImage(5), "--models", Models, "--ep", "tensorrt", "--ep-strict");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("'tensorrt' is not available", r.Stderr);
    }

    [Fact]
    public async Task Detect_HugeImage_ExitOneWithTheFix()
    {
        var dir = TestPaths.NewTempDirectory();
        var path = Path.Combine(dir, "huge.png");
        using (var huge = new OpenCvSharp.Mat(8000, 8000, OpenCvSharp.MatType.CV_8UC3, OpenCvSharp.Scalar.All(60)))
            OpenCvSharp.Cv2.ImWrite(path, huge);
        var r = await CliRunner.RunAsync("detect", path, "--models", Models, "--ep", "cpu");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("--target-long-side", r.Stderr);
        var ok = await CliRunner.RunAsync("detect", path, "--models", Models, "--ep", "cpu", "--target-long-side", "1280");
        Assert.Equal(0, ok.ExitCode);
    }

    [Fact]
    public async Task Detect_BadThreshold_ExitTwoNamingTheOption()
    {
        var r = await CliRunner.RunAsync("detect", TestPaths.VocImage(5), "--models", Models, "--score-threshold", "1.5");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("scoreThreshold", r.Stderr);
    }
}
