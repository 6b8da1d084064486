using System.CommandLine;
using System.Text.Json;
using EdgeMask.Core.Evaluation;
using EdgeMask.Inference.Classification;
using EdgeMask.Inference.Imaging;
using EdgeMask.Inference.Models;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace EdgeMask.Module.Cli;

/// <summary>
/// <c>edgemask eval --voc DIR</c>: scores detection and classification against Pascal VOC annotations — how a customer
/// checks EdgeMask on photos of their own site.
/// </summary>
internal static class EvalCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var voc = new Option<string>("--voc") { Description = "A Pascal VOC folder with images/ and annotations/ (file stems match).", Required = true };
        var split = new Option<string?>("--split") { Description = "A file with one image stem per line (default: every annotation)." };
        var json = new Option<bool>("--json") { Description = "Print the report as JSON." };
        var iou = new Option<float>("--iou") { Description = "IoU for a detection to match an annotated face.", DefaultValueFactory = _ => 0.5f };
        var incorrect = new Option<string>("--incorrect-as") { Description = "How mask_weared_incorrect faces count: no_mask (a violation), mask, or ignore.", DefaultValueFactory = _ => "no_mask" };
        var common = new ModelCliOptions();
        var command = new Command("eval", "Score detection and mask classification against Pascal VOC annotations.") { voc, split, json, iou, incorrect };
        common.AddTo(command);
        command.SetAction(r =>
        {
            using var loggers = common.Logging(r);
            var logger = loggers.CreateLogger("edgemask.eval");
            string root = r.GetValue(voc)!;
            var policy = r.GetValue(incorrect) switch
            {
                "no_mask" => IncorrectMaskPolicy.AsNoMask,
                "mask" => IncorrectMaskPolicy.AsMask,
                "ignore" => IncorrectMaskPolicy.Ignore,
                var other => (IncorrectMaskPolicy?)null,
            };
            if (policy is null) { stderr.WriteLine("error: --incorrect-as takes no_mask, mask or ignore."); return EdgeMaskCommandLine.ExitFatal; }
            string annotations = Path.Combine(root, "annotations"), images = Path.Combine(root, "images");
            if (!Directory.Exists(annotations)) { stderr.WriteLine($"error: {annotations} does not exist: --voc needs a folder with annotations/ and images/."); return EdgeMaskCommandLine.ExitFatal; }
            List<string> stems;
            if (r.GetValue(split) is { } splitFile)
            {
                if (!File.Exists(splitFile)) { stderr.WriteLine($"error: split file {splitFile} does not exist."); return EdgeMaskCommandLine.ExitFatal; }
                stems = File.ReadAllLines(splitFile).Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();
            }
            else stems = Directory.EnumerateFiles(annotations, "*.xml").Select(f => Path.GetFileNameWithoutExtension(f)!).Order(StringComparer.Ordinal).ToList();

            FaceAnalyzer analyzer;
            try
            {
                analyzer = new FaceAnalyzer(common.Inference(r), common.DetectorSettings(r), common.ClassifierSettings(r, true), logger);
            }
            catch (Exception ex) when (ex is ModelException or Inference.Runtime.ExecutionProviderUnavailableException or Core.Classification.ClassifierContractException or MaskClassifierModelException or ArgumentException)
            {
                stderr.WriteLine($"error: {ex.Message}");
                return EdgeMaskCommandLine.ExitFatal;
            }
            using (analyzer)
            {
                var evaluator = new MaskEvaluator(r.GetValue(iou), 20f, policy.Value);
                int failed = 0;
                var detections = new List<EvalDetection>();
                foreach (var stem in stems)
                {
                    try
                    {
                        var annotation = VocAnnotation.Load(Path.Combine(annotations, stem + ".xml"));
                        foreach (var w in annotation.Warnings) stderr.WriteLine($"warning: {annotation.Path}: {w}");
                        string? imagePath = FindImage(images, stem) ?? throw new ImageLoadException(Path.Combine(images, stem + ".*"), "no image with this stem.");
                        using var image = ImageLoader.LoadBgr(imagePath);
                        if (image.Width != annotation.Width || image.Height != annotation.Height)
                            stderr.WriteLine($"warning: {imagePath} is {image.Width}×{image.Height} but its annotation says {annotation.Width}×{annotation.Height}.");
                        analyzer.Analyze(image);
                        detections.Clear();
                        var masks = analyzer.Classifications;
                        for (int i = 0; i < analyzer.Faces.Count; i++)
                            detections.Add(new EvalDetection(analyzer.Faces[i].Box, analyzer.Faces[i].Score, masks[i].Label, masks[i].Probability));
                        evaluator.Add(annotation, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(detections));
                    }
                    catch (Exception ex) when (ex is VocFormatException or ImageLoadException or Inference.Detection.InputTooLargeException or FileNotFoundException)
                    {
                        failed++;
                        stderr.WriteLine($"error: {stem}: {ex.Message}");
                    }
                }
                var report = evaluator.Report();
                if (r.GetValue(json)) stdout.WriteLine(ToJson(report, failed));
                else WriteTable(stdout, report, failed);
                return report.Images == 0 ? EdgeMaskCommandLine.ExitFatal : failed > 0 ? EdgeMaskCommandLine.ExitSomeFailed : EdgeMaskCommandLine.ExitOk;
            }
        });
        return command;
    }

    private static string? FindImage(string folder, string stem)
    {
        foreach (var ext in new[] { ".jpg", ".jpeg", ".png", ".bmp", ".webp" })
        {
            var p = Path.Combine(folder, stem + ext);
            if (File.Exists(p)) return p;
        }
        return null;
    }

    private static object Fraction(Fraction f) => new { hits = f.Hits, total = f.Total, value = double.IsNaN(f.Value) ? (double?)null : Math.Round(f.Value, 4) };
    private static double? Num(double v) => double.IsNaN(v) ? null : Math.Round(v, 4);

    internal static string ToJson(EvaluationReport r, int failed) => JsonSerializer.Serialize(new
    {
        images = r.Images,
        failedImages = failed,
        recall = new
        {
            all = Fraction(r.Recall),
            atLeast20px = Fraction(r.RecallLarge),
            under20px = Fraction(r.RecallSmall),
            perClass = r.RecallPerClass.ToDictionary(kv => kv.Key, kv => Fraction(kv.Value)),
            perClassAtLeast20px = r.RecallLargePerClass.ToDictionary(kv => kv.Key, kv => Fraction(kv.Value)),
        },
        detections = r.Detections,
        falseDetections = r.FalseDetections,
        maskAccuracy = Fraction(r.MaskAccuracy),
        maskAccuracyAtLeast20px = Fraction(r.MaskAccuracyLarge),
        ap50 = new { mask = Num(r.ApMask), noMask = Num(r.ApNoMask), mean = Num(r.MeanAp) },
    });

    private static void WriteTable(TextWriter stdout, EvaluationReport r, int failed)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(stdout), ColorSystem = ColorSystemSupport.NoColors });
        var t = new Table().Border(TableBorder.Simple).AddColumn("measure").AddColumn(new TableColumn("value").RightAligned()).AddColumn(new TableColumn("count").RightAligned());
        void Row(string name, Fraction f) => t.AddRow(name, double.IsNaN(f.Value) ? "-" : $"{f.Value:P1}", $"{f.Hits}/{f.Total}");
        Row("face recall, all", r.Recall);
        Row("face recall, ≥ 20 px", r.RecallLarge);
        Row("face recall, < 20 px", r.RecallSmall);
        foreach (var (name, f) in r.RecallPerClass) Row($"  {name}", f);
        foreach (var (name, f) in r.RecallLargePerClass) Row($"  {name}, ≥ 20 px", f);
        t.AddRow("false detections", r.FalseDetections.ToString(), $"of {r.Detections}");
        Row("mask accuracy (matched faces)", r.MaskAccuracy);
        Row("mask accuracy, ≥ 20 px", r.MaskAccuracyLarge);
        t.AddRow("AP@0.5 mask", Num(r.ApMask)?.ToString("0.000") ?? "-", "");
        t.AddRow("AP@0.5 no_mask", Num(r.ApNoMask)?.ToString("0.000") ?? "-", "");
        t.AddRow("mAP@0.5", Num(r.MeanAp)?.ToString("0.000") ?? "-", "");
        console.Write(t);
        stdout.WriteLine($"{r.Images} image(s) evaluated{(failed > 0 ? $", {failed} failed" : "")}.");
    }
}
