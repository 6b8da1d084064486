using System.CommandLine;
using System.Text.Json;
using EdgeMask.Core.Detection;
using EdgeMask.Core.Evaluation;
using EdgeMask.Inference.Classification;
using EdgeMask.Inference.Imaging;
using EdgeMask.Inference.Models;
using EdgeMask.Module.Pipeline;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace EdgeMask.Module.Cli;

/// <summary>
/// <c>edgemask eval --crops DIR</c>: the classifier on a site's own face crops, in the common one-subfolder-per-class
/// layout. Each image is one face, classified whole as <c>classify</c> does; images in deeper subfolders of a class
/// folder belong to it. Reports accuracy, recall per class, badly worn masks caught as a violation, the confusion matrix
/// and every mistake (JSON).
/// </summary>
internal static class CropEvaluation
{
    /// <summary>One class folder: its name, the label its images carry (null: skipped), and its images.</summary>
    private sealed record ClassFolder(string Name, MaskLabel? Label, IReadOnlyList<string> Images);

    private sealed record Mistake(string Image, MaskLabel Truth, MaskClassification Given);

    public static int Run(string root, string? classMapText, bool json, ModelCliOptions common, ParseResult r, TextWriter stdout, TextWriter stderr)
    {
        CropClassMap map;
        try
        {
            map = CropClassMap.Parse(classMapText);
        }
        catch (ClassMapFormatException ex)
        {
            stderr.WriteLine($"error: {ex.Message}");
            return EdgeMaskCommandLine.ExitFatal;
        }
        if (!Directory.Exists(root))
        {
            stderr.WriteLine($"error: {root}: no such folder; --crops needs a folder with one subfolder per class (with_mask/, without_mask/, mask_weared_incorrect/).");
            return EdgeMaskCommandLine.ExitFatal;
        }
        var folders = ClassFolders(root, map, stderr);
        var scored = folders.Where(f => f.Label is not null && f.Images.Count > 0).ToList();
        if (scored.Count == 0)
        {
            string known = folders.Count == 0 ? "it has no subfolders" : $"its subfolders ({string.Join(", ", folders.Select(f => f.Name + "/"))}) hold no images of a known class";
            stderr.WriteLine($"error: {root}: nothing to evaluate: {known}. Put each class's crops in its own subfolder "
                + "(with_mask/, without_mask/, mask_weared_incorrect/) or name yours with --class-map FOLDER=mask|no_mask|incorrect.");
            return EdgeMaskCommandLine.ExitFatal;
        }

        using var loggers = common.Logging(r);
        var logger = loggers.CreateLogger("edgemask.eval");
        if (!common.TryOpenClassifier(r, logger, stderr, out var models, out var classifier))
            return EdgeMaskCommandLine.ExitFatal;
        using (models)
        using (classifier)
        {
            var confusion = new LabelConfusion();
            var perFolder = new Dictionary<string, LabelConfusion>(StringComparer.Ordinal);
            var mistakes = new List<Mistake>();
            int failed = 0;
            foreach (var folder in scored)
            {
                var mine = perFolder[folder.Name] = new LabelConfusion();
                var truth = folder.Label!.Value;
                foreach (string file in folder.Images)
                {
                    try
                    {
                        using var image = ImageLoader.LoadBgr(file, minimumSide: 1);
                        var given = classifier.ClassifyCrop(image);
                        confusion.Add(truth, given.Label);
                        mine.Add(truth, given.Label);
                        if (given.Label != truth) mistakes.Add(new Mistake(file, truth, given));
                    }
                    catch (ImageLoadException ex)
                    {
                        failed++;
                        stderr.WriteLine($"error: {file}: {ex.Reason}");
                    }
                }
            }
            bool hasIncorrect = classifier.Contract.HasIncorrect;
            if (json) stdout.WriteLine(ToJson(root, scored, perFolder, confusion, mistakes, failed, hasIncorrect));
            else WriteTable(stdout, scored, perFolder, confusion, mistakes.Count, failed, hasIncorrect);
            return confusion.Total == 0 ? EdgeMaskCommandLine.ExitFatal : failed > 0 ? EdgeMaskCommandLine.ExitSomeFailed : EdgeMaskCommandLine.ExitOk;
        }
    }

    /// <summary>The first-level subfolders with their labels and images (recursively); warns about what is left out.</summary>
    private static List<ClassFolder> ClassFolders(string root, CropClassMap map, TextWriter stderr)
    {
        var list = new List<ClassFolder>();
        foreach (string dir in Directory.EnumerateDirectories(root).Order(StringComparer.Ordinal))
        {
            string name = Path.GetFileName(dir);
            if (name.StartsWith('.')) continue;
            if (!map.TryMap(name, out var label))
            {
                stderr.WriteLine($"warning: {dir}: '{name}' is not a known class folder; its images are left out "
                    + $"(map it with --class-map {name}=mask|no_mask|incorrect, or {name}=skip to silence this).");
                continue;
            }
            if (label is null)
            {
                list.Add(new ClassFolder(name, null, []));
                continue;
            }
            var images = ImageLoader.ExpandInputs([dir], recursive: true);
            foreach (var e in images.EmptyFolders) stderr.WriteLine($"warning: {e.Message}");
            list.Add(new ClassFolder(name, label, images.Files));
        }
        int loose = Directory.EnumerateFiles(root).Count(f => ImageLoader.ImageExtensions.Contains(Path.GetExtension(f)));
        if (loose > 0)
            stderr.WriteLine($"warning: {root}: {loose} image(s) directly in the folder have no class and are left out; move them into a class subfolder.");
        return list;
    }

    private static string ToJson(string root, List<ClassFolder> folders, Dictionary<string, LabelConfusion> perFolder, LabelConfusion m,
        List<Mistake> mistakes, int failed, bool hasIncorrect) => JsonSerializer.Serialize(new
        {
            crops = root,
            images = m.Total,
            failedImages = failed,
            modelHasIncorrect = hasIncorrect,
            classes = folders.ToDictionary(f => f.Name, f => new
            {
                label = f.Label!.Value.ToWireName(),
                images = perFolder[f.Name].Total,
                recall = EvalCommand.Fraction(perFolder[f.Name].Recall(f.Label.Value)),
            }),
            accuracy = EvalCommand.Fraction(m.Accuracy),
            maskVsNoMask = EvalCommand.Fraction(m.MaskVersusNoMask),
            recall = m.LabelsInUse().Where(l => m.TruthCount(l) > 0).ToDictionary(l => l.ToWireName(), l => EvalCommand.Fraction(m.Recall(l))),
            incorrectCaughtAsViolation = m.TruthCount(MaskLabel.Incorrect) > 0 ? EvalCommand.Fraction(m.CaughtAsViolation(MaskLabel.Incorrect)) : null,
            confusion = EvalCommand.Confusion(m),
            mistakes = mistakes.Select(x => new
            {
                image = x.Image,
                truth = x.Truth.ToWireName(),
                label = x.Given.LabelText,
                probability = Math.Round(x.Given.Probability, 4),
            }),
        });

    private static void WriteTable(TextWriter stdout, List<ClassFolder> folders, Dictionary<string, LabelConfusion> perFolder, LabelConfusion m,
        int mistakes, int failed, bool hasIncorrect)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(stdout), ColorSystem = ColorSystemSupport.NoColors });
        var t = new Table().Border(TableBorder.Simple).AddColumn("class folder").AddColumn("label")
            .AddColumn(new TableColumn("images").RightAligned()).AddColumn(new TableColumn("recall").RightAligned());
        foreach (var f in folders)
        {
            var k = perFolder[f.Name];
            t.AddRow(Markup.Escape(f.Name + "/"), f.Label!.Value.ToWireName(), k.Total.ToString(System.Globalization.CultureInfo.InvariantCulture), k.Recall(f.Label.Value).ToPercent(1));
        }
        console.Write(t);
        var s = new Table().Border(TableBorder.Simple).AddColumn("measure").AddColumn(new TableColumn("value").RightAligned()).AddColumn(new TableColumn("count").RightAligned());
        void Row(string name, Fraction f) => s.AddRow(name, f.ToPercent(2), $"{f.Hits}/{f.Total}");
        Row("accuracy (every label)", m.Accuracy);
        if (m.TruthCount(MaskLabel.Mask) + m.TruthCount(MaskLabel.NoMask) > 0) Row("mask vs no_mask (no_mask labelled incorrect counts right)", m.MaskVersusNoMask);
        if (m.TruthCount(MaskLabel.Incorrect) > 0) Row("incorrect caught as a violation", m.CaughtAsViolation(MaskLabel.Incorrect));
        console.Write(s);
        EvalCommand.WriteConfusion(console, m, "confusion matrix");
        if (!hasIncorrect && m.TruthCount(MaskLabel.Incorrect) > 0)
            stdout.WriteLine("note: this classifier has no 'incorrect' label; badly worn masks can only be caught as no_mask.");
        stdout.WriteLine($"{m.Total} image(s) evaluated, {mistakes} labelled wrong (--json lists them){(failed > 0 ? $", {failed} failed" : "")}.");
    }
}
