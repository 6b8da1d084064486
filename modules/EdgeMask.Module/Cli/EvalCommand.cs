using System.CommandLine;
using System.Text.Json;
using EdgeMask.Core.Detection;
using EdgeMask.Core.Evaluation;
using EdgeMask.Inference.Classification;
using EdgeMask.Inference.Imaging;
using EdgeMask.Inference.Models;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace EdgeMask.Module.Cli;

/// <summary>
/// <c>edgemask eval --voc DIR</c>: scores detection and classification against Pascal VOC annotations; <c>edgemask eval
/// --crops DIR</c>: scores the classifier on labelled face crops — how a customer checks EdgeMask on their own site.
/// </summary>
internal static class EvalCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var voc = new Option<string?>("--voc") { Description = "A Pascal VOC folder with images/ and annotations/ (file stems match): scores detection and classification." };
        var crops = new Option<string?>("--crops") { Description = "A folder of face crops, one subfolder per class (with_mask/, without_mask/, mask_weared_incorrect/, …; images in deeper subfolders count): scores the classifier." };
        var classMap = new Option<string?>("--class-map") { Description = "With --crops: which label each class folder holds, e.g. with_mask=mask,without_mask=no_mask,mask_weared_incorrect=incorrect (labels: mask, no_mask, incorrect, skip). Adds to the common names." };
        var split = new Option<string?>("--split") { Description = "With --voc: a file with one image stem per line (default: every annotation)." };
        var json = new Option<bool>("--json") { Description = "Print the report as JSON." };
        var iou = new Option<float>("--iou") { Description = "IoU for a detection to match an annotated face.", DefaultValueFactory = _ => 0.5f };
        var incorrect = new Option<string>("--incorrect-as") { Description = "With --voc: how mask_weared_incorrect faces, annotated or labelled, count: no_mask (a violation), mask, ignore, or incorrect (their own class).", DefaultValueFactory = _ => "no_mask" };
        var common = new ModelCliOptions();
        var command = new Command("eval", "Score detection and mask classification against Pascal VOC annotations (--voc), or the classifier on a folder of labelled face crops (--crops).")
        {
            voc, crops, classMap, split, json, iou, incorrect,
        };
        common.AddTo(command);
        command.SetAction(r =>
        {
            string? vocRoot = r.GetValue(voc), cropsRoot = r.GetValue(crops);
            if ((vocRoot is null) == (cropsRoot is null))
            {
                stderr.WriteLine("error: give either --voc DIR (photos with annotations) or --crops DIR (face crops, one subfolder per class).");
                return EdgeMaskCommandLine.ExitFatal;
            }
            if (cropsRoot is not null)
                return CropEvaluation.Run(cropsRoot, r.GetValue(classMap), r.GetValue(json), common, r, stdout, stderr);
            if (r.GetValue(classMap) is not null)
            {
                stderr.WriteLine("error: --class-map applies to --crops; VOC annotations name their classes.");
                return EdgeMaskCommandLine.ExitFatal;
            }
            return RunVoc(vocRoot!, r.GetValue(split), r.GetValue(json), r.GetValue(iou), r.GetValue(incorrect)!, common, r, stdout, stderr);
        });
        return command;
    }

    private static int RunVoc(string root, string? splitFile, bool json, float iou, string incorrectAs, ModelCliOptions common, ParseResult r,
        TextWriter stdout, TextWriter stderr)
    {
        using var loggers = common.Logging(r);
        var logger = loggers.CreateLogger("edgemask.eval");
        var policy = incorrectAs switch
        {
            "no_mask" => IncorrectMaskPolicy.AsNoMask,
            "mask" => IncorrectMaskPolicy.AsMask,
            "ignore" => IncorrectMaskPolicy.Ignore,
            "incorrect" => IncorrectMaskPolicy.AsIncorrect,
            _ => (IncorrectMaskPolicy?)null,
        };
        if (policy is null) { stderr.WriteLine("error: --incorrect-as takes no_mask, mask, ignore or incorrect."); return EdgeMaskCommandLine.ExitFatal; }
        string annotations = Path.Combine(root, "annotations"), images = Path.Combine(root, "images");
        if (!Directory.Exists(annotations)) { stderr.WriteLine($"error: {annotations} does not exist: --voc needs a folder with annotations/ and images/."); return EdgeMaskCommandLine.ExitFatal; }
        List<string> stems;
        if (splitFile is not null)
        {
            if (!File.Exists(splitFile)) { stderr.WriteLine($"error: split file {splitFile} does not exist."); return EdgeMaskCommandLine.ExitFatal; }
            stems = File.ReadAllLines(splitFile).Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();
        }
        else stems = Directory.EnumerateFiles(annotations, "*.xml").Select(f => Path.GetFileNameWithoutExtension(f)!).Order(StringComparer.Ordinal).ToList();

        FaceAnalyzer analyzer;
        try
        {
            analyzer = new FaceAnalyzer(common.Inference(r), common.Detection(r), common.ClassifierSettings(r, true), logger);
        }
        catch (Exception ex) when (ex is ModelException or Inference.Runtime.ExecutionProviderUnavailableException or Core.Classification.ClassifierContractException or MaskClassifierModelException or ArgumentException)
        {
            stderr.WriteLine($"error: {ex.Message}");
            return EdgeMaskCommandLine.ExitFatal;
        }
        using (analyzer)
        {
            var evaluator = new MaskEvaluator(iou, 20f, policy.Value);
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
                        detections.Add(new EvalDetection(analyzer.Faces[i].Box, analyzer.Faces[i].Score, masks[i]));
                    evaluator.Add(annotation, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(detections));
                }
                catch (Exception ex) when (ex is VocFormatException or ImageLoadException or Inference.Detection.InputTooLargeException or FileNotFoundException)
                {
                    failed++;
                    stderr.WriteLine($"error: {stem}: {ex.Message}");
                }
            }
            var report = evaluator.Report();
            if (json) stdout.WriteLine(ToJson(report, failed));
            else WriteTable(stdout, report, failed, analyzer.HasIncorrect);
            return report.Images == 0 ? EdgeMaskCommandLine.ExitFatal : failed > 0 ? EdgeMaskCommandLine.ExitSomeFailed : EdgeMaskCommandLine.ExitOk;
        }
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

    internal static object Fraction(Fraction f) => new { hits = f.Hits, total = f.Total, value = double.IsNaN(f.Value) ? (double?)null : Math.Round(f.Value, 4) };
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
        ap50 = new { mask = Num(r.ApMask), noMask = Num(r.ApNoMask), incorrect = Num(r.ApIncorrect), mean = Num(r.MeanAp) },
        confusion = Confusion(r.Confusion),
        confusionAtLeast20px = Confusion(r.ConfusionLarge),
    });

    /// <summary>A confusion matrix as JSON: label order, then one row per true label (counts of each label given).</summary>
    internal static object Confusion(LabelConfusion m)
    {
        var labels = m.LabelsInUse();
        return new
        {
            labels = labels.Select(l => l.ToWireName()).ToArray(),
            rows = labels.Select(t => labels.Select(p => m[t, p]).ToArray()).ToArray(),
        };
    }

    /// <summary>Writes a confusion matrix as a text table (rows: true label; columns: label given).</summary>
    internal static void WriteConfusion(IAnsiConsole console, LabelConfusion m, string title)
    {
        var labels = m.LabelsInUse();
        var t = new Table().Border(TableBorder.Simple).Title(title).AddColumn("true \\ labelled");
        foreach (var l in labels) t.AddColumn(new TableColumn(l.ToWireName()).RightAligned());
        t.AddColumn(new TableColumn("recall").RightAligned());
        foreach (var truth in labels)
            t.AddRow([truth.ToWireName(), .. labels.Select(p => m[truth, p].ToString(System.Globalization.CultureInfo.InvariantCulture)), m.Recall(truth).ToPercent(1)]);
        console.Write(t);
    }

    private static void WriteTable(TextWriter stdout, EvaluationReport r, int failed, bool hasIncorrect)
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
        if (!double.IsNaN(r.ApIncorrect)) t.AddRow("AP@0.5 incorrect", Num(r.ApIncorrect)?.ToString("0.000") ?? "-", "");
        t.AddRow("mAP@0.5", Num(r.MeanAp)?.ToString("0.000") ?? "-", "");
        console.Write(t);
        if (hasIncorrect || r.ConfusionLarge.TruthCount(MaskLabel.Incorrect) > 0)
            WriteConfusion(console, r.ConfusionLarge, "matched faces ≥ 20 px");
        stdout.WriteLine($"{r.Images} image(s) evaluated{(failed > 0 ? $", {failed} failed" : "")}.");
    }
}
