using System.Text.Json;
using EdgeMask.Tests.Shared;
using OpenCvSharp;

namespace EdgeMask.Module.Tests.Cli;

public class ClassifyEvalCommandTests
{
    private static readonly string Models = Path.Combine(TestPaths.RepoRoot, "models");

    [Fact]
    public async Task Classify_Crops_JsonLinePerImageWithLabelAndProbability()
    {
        string masked = Path.Combine(TestPaths.Cd7, "with_mask", "w00001.jpg");
        string bare = Path.Combine(TestPaths.Cd7, "without_mask", "n00001.jpg");
        var r = await CliRunner.RunAsync("classify", masked, bare, "--json", "--models", Models, "--ep", "cpu");
        Assert.Equal(0, r.ExitCode);
        Assert.Equal(2, r.StdoutLines.Length);
        foreach (var line in r.StdoutLines)
        {
            using var doc = JsonDocument.Parse(line);
            Assert.Equal(["image", "mask"], doc.RootElement.EnumerateObject().Select(p => p.Name));
            var mask = doc.RootElement.GetProperty("mask");
            Assert.Contains(mask.GetProperty("label").GetString(), new[] { "mask", "no_mask", "incorrect" });
            // The likeliest of three classes has at least a third.
            Assert.InRange(mask.GetProperty("probability").GetDouble(), 1.0 / 3, 1.0);
        }
    }

    [Fact]
    public async Task Classify_CorruptFileAmongGood_OthersStillClassifiedExitOne()
    {
        var dir = TestPaths.NewTempDirectory();
        File.Copy(Path.Combine(TestPaths.Cd7, "with_mask", "w00001.jpg"), Path.Combine(dir, "a.jpg"));
        File.WriteAllText(Path.Combine(dir, "b.jpg"), "broken");
        var r = await CliRunner.RunAsync("classify", dir, "--json", "--models", Models, "--ep", "cpu");
        Assert.Equal(1, r.ExitCode);
        Assert.Equal(2, r.StdoutLines.Length);
        Assert.Contains("\"error\"", r.StdoutLines[1]);
    }

    /// <summary>A hand-made VOC set: two photos whose faces we place ourselves, so the answers are known.</summary>
    [Fact]
    public async Task Eval_HandMadeVocSet_ReportsRecallAndCountsFailures()
    {
        var root = TestPaths.NewTempDirectory();
        Directory.CreateDirectory(Path.Combine(root, "images"));
        Directory.CreateDirectory(Path.Combine(root, "annotations"));
        // Photo 5 with its real annotation, and photo 5 again with one extra box where there is no face, and a broken XML.
        File.Copy(TestPaths.VocImage(5), Path.Combine(root, "images", "a.jpg"));
        File.Copy(TestPaths.VocAnnotation(5), Path.Combine(root, "annotations", "a.xml"));
        File.Copy(TestPaths.VocImage(5), Path.Combine(root, "images", "b.jpg"));
        File.WriteAllText(Path.Combine(root, "annotations", "c.xml"), "<annotation><object/></annotation>");
        File.WriteAllText(Path.Combine(root, "annotations", "b.xml"),
            "<annotation><size><width>400</width><height>266</height></size>" +
            "<object><name>without_mask</name><bndbox><xmin>0</xmin><ymin>200</ymin><xmax>40</xmax><ymax>240</ymax></bndbox></object></annotation>");
        var r = await CliRunner.RunAsync("eval", "--voc", root, "--json", "--models", Models, "--ep", "cpu");
        Assert.Equal(1, r.ExitCode); // c.xml is broken: named, the rest evaluated
        Assert.Contains("c:", r.Stderr);
        using var doc = JsonDocument.Parse(r.StdoutLines.Single());
        var report = doc.RootElement;
        Assert.Equal(2, report.GetProperty("images").GetInt32());
        Assert.Equal(1, report.GetProperty("failedImages").GetInt32());
        var all = report.GetProperty("recall").GetProperty("all");
        // b's only annotated face is a box with no face in it: never found.
        var ann = EdgeMask.Core.Evaluation.VocAnnotation.Load(TestPaths.VocAnnotation(5));
        Assert.Equal(ann.Objects.Count + 1, all.GetProperty("total").GetInt32());
        Assert.True(all.GetProperty("hits").GetInt32() <= ann.Objects.Count);
        // Every detection in b is false (its one annotated box has no face).
        Assert.True(report.GetProperty("falseDetections").GetInt32() >= 4);
        Assert.True(report.GetProperty("ap50").TryGetProperty("mean", out _));
    }

    [Fact]
    public async Task Eval_MissingFolder_ExitTwoNamingIt()
    {
        var r = await CliRunner.RunAsync("eval", "--voc", "/no/such/voc", "--models", Models);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("/no/such/voc", r.Stderr);
    }
}
