using System.Text.Json;
using EdgeMask.Core.Classification;
using EdgeMask.Core.Evaluation;
using EdgeMask.Tests.Shared;
using OpenCvSharp;

namespace EdgeMask.Module.Tests.Cli;

/// <summary><c>edgemask eval --crops</c>, <c>classify --recursive</c> and the three labels on the command line, with the shipped models.</summary>
public class CropEvaluationTests
{
    private static readonly string Models = Path.Combine(TestPaths.RepoRoot, "models");

    /// <summary>Badly worn masks cut from voc853 dev photos the way a site would crop them: the box, squared, a little wider.</summary>
    private static void CutBadlyWornMasks(string folder, int count)
    {
        Directory.CreateDirectory(folder);
        int n = 0;
        foreach (string stem in File.ReadLines(Path.Combine(TestPaths.Voc853, "splits", "dev.txt")).Where(l => l.Length > 0))
        {
            var annotation = VocAnnotation.Load(Path.Combine(TestPaths.Voc853, "annotations", stem + ".xml"));
            foreach (var o in annotation.Objects.Where(o => o.Name == MaskClassNames.MaskWornIncorrectly && o.Box.ShortSide >= 30))
            {
                using var photo = Cv2.ImRead(Path.Combine(TestPaths.Voc853, "images", stem + ".jpg"), ImreadModes.Color);
                var r = FaceCropGeometry.SquareRegion(o.Box, 1.2f).ClipTo(photo.Width, photo.Height);
                using var crop = new Mat(photo, new Rect((int)r.X1, (int)r.Y1, (int)r.Width, (int)r.Height));
                Cv2.ImWrite(Path.Combine(folder, $"{stem}-{n}.jpg"), crop);
                if (++n == count) return;
            }
        }
    }

    /// <summary>A site's folder: its own class names, a class of badly worn masks, a folder it did not map, a loose image.</summary>
    private static string SiteFolder()
    {
        string root = TestPaths.NewTempDirectory("edgemask-crops");
        var masked = Directory.CreateDirectory(Path.Combine(root, "masked")).FullName;
        var bare = Directory.CreateDirectory(Path.Combine(root, "bare", "entrance-b")).FullName; // deeper subfolders belong to the class
        foreach (string f in Directory.EnumerateFiles(Path.Combine(TestPaths.Cd7, "with_mask")).Order().Take(6)) File.Copy(f, Path.Combine(masked, Path.GetFileName(f)));
        foreach (string f in Directory.EnumerateFiles(Path.Combine(TestPaths.Cd7, "without_mask")).Order().Take(5)) File.Copy(f, Path.Combine(bare, Path.GetFileName(f)));
        CutBadlyWornMasks(Path.Combine(root, "chin"), 4);
        Directory.CreateDirectory(Path.Combine(root, "unsure"));
        File.Copy(Directory.EnumerateFiles(Path.Combine(TestPaths.Cd7, "with_mask")).Order().Last(), Path.Combine(root, "unsure", "x.jpg"));
        File.Copy(Directory.EnumerateFiles(Path.Combine(TestPaths.Cd7, "with_mask")).Order().Last(), Path.Combine(root, "loose.jpg"));
        return root;
    }

    [Fact]
    public async Task EvalCrops_SiteFolderWithClassMap_ConfusionMatrixAgreesWithClassifyImageByImage()
    {
        string root = SiteFolder();

        var r = await CliRunner.RunAsync("eval", "--crops", root, "--class-map", "masked=mask,bare=no_mask,chin=incorrect", "--json", "--models", Models, "--ep", "cpu");

        Assert.Equal(0, r.ExitCode);
        Assert.Contains("unsure", r.Stderr);
        Assert.Contains("--class-map unsure=", r.Stderr);
        Assert.Contains("1 image(s) directly in the folder", r.Stderr);
        using var doc = JsonDocument.Parse(r.StdoutLines.Single());
        var report = doc.RootElement;
        Assert.Equal(15, report.GetProperty("images").GetInt32());
        Assert.Equal(["bare", "chin", "masked"], report.GetProperty("classes").EnumerateObject().Select(p => p.Name));
        Assert.Equal(5, report.GetProperty("classes").GetProperty("bare").GetProperty("images").GetInt32());
        Assert.Equal("incorrect", report.GetProperty("classes").GetProperty("chin").GetProperty("label").GetString());
        var confusion = report.GetProperty("confusion");
        Assert.Equal(["mask", "no_mask", "incorrect"], confusion.GetProperty("labels").EnumerateArray().Select(l => l.GetString()));
        var rows = confusion.GetProperty("rows").EnumerateArray().Select(row => row.EnumerateArray().Select(v => v.GetInt32()).ToArray()).ToArray();
        Assert.Equal([6, 5, 4], rows.Select(row => row.Sum()));
        int right = rows[0][0] + rows[1][1] + rows[2][2];
        Assert.Equal(right, report.GetProperty("accuracy").GetProperty("hits").GetInt32());
        Assert.Equal(rows[2][1] + rows[2][2], report.GetProperty("incorrectCaughtAsViolation").GetProperty("hits").GetInt32());
        Assert.Equal(15 - right, report.GetProperty("mistakes").GetArrayLength());

        // The same images through `classify --recursive`: every label agrees with the matrix.
        var c = await CliRunner.RunAsync("classify", Path.Combine(root, "masked"), Path.Combine(root, "bare"), Path.Combine(root, "chin"), "--recursive", "--json", "--models", Models, "--ep", "cpu");
        Assert.Equal(0, c.ExitCode);
        var labels = c.StdoutLines.Select(l => JsonDocument.Parse(l).RootElement)
            .ToDictionary(e => e.GetProperty("image").GetString()!, e => e.GetProperty("mask").GetProperty("label").GetString()!);
        Assert.Equal(15, labels.Count);
        Assert.Equal(rows[0][0], labels.Count(kv => kv.Key.Contains("/masked/") && kv.Value == "mask"));
        Assert.Equal(rows[1][2], labels.Count(kv => kv.Key.Contains("/bare/") && kv.Value == "incorrect"));
        Assert.Equal(rows[2][2], labels.Count(kv => kv.Key.Contains("/chin/") && kv.Value == "incorrect"));
        foreach (var mistake in report.GetProperty("mistakes").EnumerateArray())
            Assert.Equal(labels[mistake.GetProperty("image").GetString()!], mistake.GetProperty("label").GetString());
    }

    [Fact]
    public async Task EvalCrops_Table_PrintsRecallPerClassAndTheMatrix()
    {
        string root = SiteFolder();

        var r = await CliRunner.RunAsync("eval", "--crops", root, "--class-map", "masked=mask,bare=no_mask,chin=incorrect,unsure=skip", "--models", Models, "--ep", "cpu");

        Assert.Equal(0, r.ExitCode);
        Assert.DoesNotContain("unsure", r.Stderr);
        Assert.Contains("chin/", r.Stdout);
        Assert.Contains("incorrect caught as a violation", r.Stdout);
        Assert.Contains("confusion matrix", r.Stdout);
        Assert.Contains("15 image(s) evaluated", r.Stdout);
    }

    [Fact]
    public async Task EvalCrops_NoKnownClassFolder_ExitTwoNamingTheFolderAndTheFix()
    {
        string root = TestPaths.NewTempDirectory("edgemask-crops");
        Directory.CreateDirectory(Path.Combine(root, "people"));
        File.Copy(Directory.EnumerateFiles(Path.Combine(TestPaths.Cd7, "with_mask")).First(), Path.Combine(root, "people", "a.jpg"));

        var r = await CliRunner.RunAsync("eval", "--crops", root, "--models", Models, "--ep", "cpu");

        Assert.Equal(2, r.ExitCode);
        Assert.Contains(root, r.Stderr);
        Assert.Contains("--class-map", r.Stderr);
    }

    [Theory]
    [InlineData("masked", "folder=label")]
    [InlineData("masked=covered", "'covered' is not a label")]
    public async Task EvalCrops_BadClassMap_ExitTwoNamingTheEntry(string map, string expected)
    {
        var r = await CliRunner.RunAsync("eval", "--crops", TestPaths.Cd7, "--class-map", map, "--models", Models);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains(expected, r.Stderr);
    }

    [Fact]
    public async Task Eval_BothOrNeitherSource_ExitTwo()
    {
        Assert.Equal(2, (await CliRunner.RunAsync("eval", "--voc", TestPaths.Voc853, "--crops", TestPaths.Cd7, "--models", Models)).ExitCode);
        var neither = await CliRunner.RunAsync("eval", "--models", Models);
        Assert.Equal(2, neither.ExitCode);
        Assert.Contains("--crops", neither.Stderr);
    }

    [Fact]
    public async Task Classify_Json_LabelIsTheLikeliestOfThreeProbabilities()
    {
        string dir = TestPaths.NewTempDirectory();
        CutBadlyWornMasks(dir, 2);
        File.Copy(Path.Combine(TestPaths.Cd7, "with_mask", "w00001.jpg"), Path.Combine(dir, "w.jpg"));

        var r = await CliRunner.RunAsync("classify", dir, "--json", "--models", Models, "--ep", "cpu");

        Assert.Equal(0, r.ExitCode);
        Assert.Equal(3, r.StdoutLines.Length);
        foreach (var line in r.StdoutLines)
        {
            using var doc = JsonDocument.Parse(line);
            var mask = doc.RootElement.GetProperty("mask");
            var p = mask.GetProperty("probabilities").EnumerateObject().ToDictionary(x => x.Name, x => x.Value.GetDouble());
            Assert.Equal(["mask", "no_mask", "incorrect"], p.Keys);
            Assert.Equal(1.0, p.Values.Sum(), 2);
            Assert.Equal(p.MaxBy(kv => kv.Value).Key, mask.GetProperty("label").GetString());
            Assert.Equal(p.Values.Max(), mask.GetProperty("probability").GetDouble(), 3);
        }
    }

    [Fact]
    public async Task Classify_FolderOfFolders_WithoutRecursiveSaysWhereTheImagesAre()
    {
        string root = TestPaths.NewTempDirectory();
        Directory.CreateDirectory(Path.Combine(root, "a"));
        File.Copy(Path.Combine(TestPaths.Cd7, "with_mask", "w00001.jpg"), Path.Combine(root, "a", "w.jpg"));
        File.Copy(Path.Combine(TestPaths.Cd7, "without_mask", "n00001.jpg"), Path.Combine(root, "a", "n.jpg"));

        var flat = await CliRunner.RunAsync("classify", root, "--models", Models, "--ep", "cpu");
        var deep = await CliRunner.RunAsync("classify", root, "-r", "--json", "--models", Models, "--ep", "cpu");

        Assert.Equal(1, flat.ExitCode);
        Assert.Contains(root, flat.Stderr);
        Assert.Contains("subfolders hold 2", flat.Stderr);
        Assert.Contains("--recursive", flat.Stderr);
        Assert.Equal(0, deep.ExitCode);
        Assert.Equal(2, deep.StdoutLines.Length);
    }

    [Fact]
    public async Task Classify_FolderWithoutImages_ExitOneNamingIt()
    {
        string root = TestPaths.NewTempDirectory();
        File.WriteAllText(Path.Combine(root, "notes.txt"), "no images here");

        var r = await CliRunner.RunAsync("classify", root, "--recursive", "--models", Models, "--ep", "cpu");

        Assert.Equal(1, r.ExitCode);
        Assert.Contains($"{root}: no image files found in it or its subfolders", r.Stderr);
    }

    [Fact]
    public async Task Detect_RecursiveWithAnnotate_AnnotatedCopiesKeepTheSubfolders()
    {
        string root = TestPaths.NewTempDirectory();
        foreach (string sub in new[] { "door", "hall" })
        {
            Directory.CreateDirectory(Path.Combine(root, sub));
            File.Copy(TestPaths.VocImage(5), Path.Combine(root, sub, "same-name.jpg"));
        }
        string output = TestPaths.NewTempDirectory();

        var r = await CliRunner.RunAsync("detect", root, "--recursive", "--json", "--annotate", output, "--models", Models, "--ep", "cpu");

        Assert.Equal(0, r.ExitCode);
        Assert.Equal(2, r.StdoutLines.Length);
        Assert.True(File.Exists(Path.Combine(output, "door", "same-name.jpg")));
        Assert.True(File.Exists(Path.Combine(output, "hall", "same-name.jpg")));
        using var doc = JsonDocument.Parse(r.StdoutLines[0]);
        var mask = doc.RootElement.GetProperty("faces")[0].GetProperty("mask");
        Assert.Equal(3, mask.GetProperty("probabilities").EnumerateObject().Count());
    }

    [Fact]
    public async Task Detect_FolderOfFoldersWithoutRecursive_ExitOneNamingTheFolder()
    {
        string root = TestPaths.NewTempDirectory();
        Directory.CreateDirectory(Path.Combine(root, "door"));
        File.Copy(TestPaths.VocImage(5), Path.Combine(root, "door", "a.jpg"));

        var r = await CliRunner.RunAsync("detect", root, "--models", Models, "--ep", "cpu");

        Assert.Equal(1, r.ExitCode);
        Assert.Contains($"{root}: no image files in this folder, but its subfolders hold 1; add --recursive", r.Stderr);
    }
}
