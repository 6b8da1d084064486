using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using EdgeMask.Core.Detection;
using EdgeMask.Inference.Classification;
using EdgeMask.Inference.Detection;
using EdgeMask.Inference.Imaging;
using EdgeMask.Inference.Models;
using EdgeMask.Inference.Runtime;
using Microsoft.Extensions.Logging;
using OpenCvSharp;
using Spectre.Console;

namespace EdgeMask.Module.Cli;

/// <summary>
/// <c>edgemask detect &lt;image|folder&gt;...</c>: faces (box, score, 5 landmarks) per image, as JSON lines or a table, each
/// with the classifier's label of that face in that one image (mask, no_mask or incorrect: the likeliest class; not a
/// violation decision, which needs a face tracked over frames and <c>violation.incorrectCounts</c>).
/// </summary>
internal static class DetectCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var inputs = new Argument<string[]>("inputs") { Description = "Image files or folders of images.", Arity = ArgumentArity.OneOrMore };
        var json = new Option<bool>("--json") { Description = "Print one JSON object per image on its own line." };
        var annotate = new Option<string?>("--annotate") { Description = "Write copies of the images with boxes, landmarks and scores drawn into this folder." };
        var noClassify = new Option<bool>("--no-classify") { Description = "Only detect faces; do not classify mask / no mask / incorrect." };
        var recursive = new Option<bool>("--recursive", "-r") { Description = "Also take the images in subfolders of the given folders (annotated copies keep the subfolders)." };
        var common = new ModelCliOptions();
        var command = new Command("detect", "Detect faces with RetinaFace and classify each as mask, no mask, or mask worn incorrectly.") { inputs, json, annotate, noClassify, recursive };
        common.AddTo(command);
        command.SetAction(r => Run(r.GetValue(inputs)!, r.GetValue(json), r.GetValue(annotate), !r.GetValue(noClassify), r.GetValue(recursive), common, r, stdout, stderr));
        return command;
    }

    private static int Run(string[] inputs, bool json, string? annotateDir, bool classify, bool recursive, ModelCliOptions common, ParseResult r,
        TextWriter stdout, TextWriter stderr)
    {
        using var loggerFactory = common.Logging(r);
        var logger = loggerFactory.CreateLogger("edgemask.detect");
        FaceAnalyzer analyzer;
        try
        {
            common.Detection(r).Validate();
            analyzer = new FaceAnalyzer(common.Inference(r), common.Detection(r), common.ClassifierSettings(r, classify), logger);
        }
        catch (Exception ex) when (ex is ModelException or ExecutionProviderUnavailableException or ArgumentException or Core.Classification.ClassifierContractException or MaskClassifierModelException)
        {
            stderr.WriteLine($"error: {ex.Message}");
            return EdgeMaskCommandLine.ExitFatal;
        }

        using (analyzer)
        {
            var found = ImageLoader.ExpandInputs(inputs, recursive);
            var files = found.Files;
            int failed = ClassifyCommand.ReportUnusable(found, stderr);
            if (json)
            {
                foreach (var m in found.Missing) WriteErrorJson(stdout, m, "no such file or folder");
                foreach (var e in found.EmptyFolders) WriteErrorJson(stdout, e.Folder, e.Message);
            }
            if (annotateDir is not null) Directory.CreateDirectory(annotateDir);
            bool hasIncorrect = analyzer.Classifies && analyzer.HasIncorrect;

            var results = new List<ImageResult>();
            void ProcessOne(int index)
            {
                string file = files[index];
                try
                {
                    using var image = ImageLoader.LoadBgr(file);
                    var sw = Stopwatch.StartNew();
                    analyzer.Analyze(image);
                    sw.Stop();
                    var result = new ImageResult(file, image.Width, image.Height, [.. analyzer.Faces],
                        analyzer.Classifies ? analyzer.Classifications.ToArray() : null, sw.Elapsed.TotalMilliseconds);
                    if (json) WriteJson(stdout, result, hasIncorrect);
                    else results.Add(result);
                    if (annotateDir is not null)
                    {
                        string target = Path.Combine(annotateDir, found.Names[index]);
                        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                        Annotator.Save(image, result.Faces, target, Labels(result), Colours(result));
                    }
                }
                catch (Exception ex) when (ex is ImageLoadException or InputTooLargeException or OpenCVException)
                {
                    failed++;
                    string message = ex is ImageLoadException ile ? ile.Reason : ex.Message;
                    stderr.WriteLine($"error: {file}: {message}");
                    if (json) WriteErrorJson(stdout, file, message);
                }
            }

            bool showProgress = !json && files.Count > 1 && !Console.IsErrorRedirected;
            if (showProgress)
            {
                var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
                console.Progress().AutoClear(true).Start(ctx =>
                {
                    var task = ctx.AddTask("Detecting faces", maxValue: files.Count);
                    for (int i = 0; i < files.Count; i++) { ProcessOne(i); task.Increment(1); }
                });
            }
            else
            {
                for (int i = 0; i < files.Count; i++) ProcessOne(i);
            }

            if (!json) WriteTable(stdout, results, analyzer.Models.ActiveProvider, hasIncorrect);
            return failed > 0 || files.Count == 0 ? EdgeMaskCommandLine.ExitSomeFailed : EdgeMaskCommandLine.ExitOk;
        }
    }

    internal sealed record ImageResult(string Image, int Width, int Height, FaceDetection[] Faces, MaskClassification[]? Masks, double Milliseconds);

    private static string[]? Labels(ImageResult r) =>
        r.Masks?.Select(m => MaskJson.Short(m)).ToArray();

    private static Scalar[]? Colours(ImageResult r) =>
        r.Masks?.Select(m => Annotator.ColourOf(m.Label)).ToArray();

    private static void WriteJson(TextWriter stdout, ImageResult result, bool hasIncorrect)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("image", result.Image);
            w.WriteNumber("width", result.Width);
            w.WriteNumber("height", result.Height);
            w.WriteStartArray("faces");
            for (int fi = 0; fi < result.Faces.Length; fi++)
            {
                var f = result.Faces[fi];
                w.WriteStartObject();
                w.WriteStartArray("box");
                w.WriteNumberValue(Round(f.Box.X1)); w.WriteNumberValue(Round(f.Box.Y1));
                w.WriteNumberValue(Round(f.Box.X2)); w.WriteNumberValue(Round(f.Box.Y2));
                w.WriteEndArray();
                w.WriteNumber("score", Math.Round(f.Score, 4));
                w.WriteStartArray("landmarks");
                for (int i = 0; i < 5; i++)
                {
                    var p = f.Landmarks[i];
                    w.WriteStartArray();
                    w.WriteNumberValue(Round(p.X)); w.WriteNumberValue(Round(p.Y));
                    w.WriteEndArray();
                }
                w.WriteEndArray();
                if (result.Masks is { } masks) MaskJson.Write(w, masks[fi], hasIncorrect);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        stdout.WriteLine(System.Text.Encoding.UTF8.GetString(buffer.ToArray()));
    }

    private static double Round(float v) => Math.Round(v, 2);

    private static void WriteErrorJson(TextWriter stdout, string image, string error) =>
        stdout.WriteLine(JsonSerializer.Serialize(new Dictionary<string, string> { ["image"] = image, ["error"] = error }));

    private static void WriteTable(TextWriter stdout, List<ImageResult> results, ExecutionProviderKind provider, bool hasIncorrect)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(stdout), ColorSystem = ColorSystemSupport.NoColors });
        // Paths are kept on one line (a wrapped path cannot be copied); the table is as wide as it needs.
        console.Profile.Width = Math.Max(console.Profile.Width, 100 + results.Select(r => r.Image.Length).DefaultIfEmpty(0).Max());
        var table = new Table().Border(TableBorder.Simple)
            .AddColumn(new TableColumn("image").NoWrap()).AddColumn("size").AddColumn(new TableColumn("face").RightAligned())
            .AddColumn("box [[x1, y1, x2, y2]]").AddColumn(new TableColumn("score").RightAligned()).AddColumn("mask")
            .AddColumn(new TableColumn("ms").RightAligned());
        foreach (var r in results)
        {
            string name = Markup.Escape(r.Image), size = $"{r.Width}×{r.Height}", ms = $"{r.Milliseconds:0.0}";
            if (r.Faces.Length == 0) table.AddRow(name, size, "-", "no face", "", "", ms);
            for (int i = 0; i < r.Faces.Length; i++)
            {
                var f = r.Faces[i];
                string mask = r.Masks is { } m ? MaskJson.Short(m[i]) : "";
                table.AddRow(i == 0 ? name : "", i == 0 ? size : "", (i + 1).ToString(), Markup.Escape(f.Box.ToString()), $"{f.Score:0.000}", mask, i == 0 ? ms : "");
            }
        }
        console.Write(table);
        int faces = results.Sum(x => x.Faces.Length);
        int unmasked = results.Sum(x => x.Masks?.Count(m => m.Label == MaskLabel.NoMask) ?? 0);
        int incorrect = results.Sum(x => x.Masks?.Count(m => m.Label == MaskLabel.Incorrect) ?? 0);
        string masks = !results.Any(x => x.Masks is not null) ? ""
            : hasIncorrect ? $", {unmasked} without mask, {incorrect} with a mask worn incorrectly"
            : $", {unmasked} without mask";
        stdout.WriteLine($"{results.Count} image(s), {faces} face(s){masks}, execution provider {ExecutionProviderOptions.ToName(provider)}.");
    }
}
