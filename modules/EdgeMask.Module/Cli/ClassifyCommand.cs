using System.CommandLine;
using System.Text.Json;
using EdgeMask.Core.Detection;
using EdgeMask.Inference.Classification;
using EdgeMask.Inference.Imaging;
using EdgeMask.Inference.Models;
using EdgeMask.Module.Pipeline;
using Microsoft.Extensions.Logging;

namespace EdgeMask.Module.Cli;

/// <summary>
/// <c>edgemask classify &lt;image|folder&gt;...</c>: each image is one face crop → mask / no_mask / incorrect, with the
/// probability of the label and of every class.
/// </summary>
internal static class ClassifyCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var inputs = new Argument<string[]>("inputs") { Description = "Face crop images or folders of them.", Arity = ArgumentArity.OneOrMore };
        var json = new Option<bool>("--json") { Description = "Print one JSON object per image on its own line." };
        var recursive = new Option<bool>("--recursive", "-r") { Description = "Also take the images in subfolders of the given folders." };
        var common = new ModelCliOptions();
        var command = new Command("classify", "Classify face crops as mask, no mask, or mask worn incorrectly.") { inputs, json, recursive };
        common.AddTo(command);
        command.SetAction(r =>
        {
            using var loggers = common.Logging(r);
            var logger = loggers.CreateLogger("edgemask.classify");
            if (!common.TryOpenClassifier(r, logger, stderr, out var models, out var classifier))
                return EdgeMaskCommandLine.ExitFatal;
            using (models)
            using (classifier)
            {
                bool asJson = r.GetValue(json), hasIncorrect = classifier.Contract.HasIncorrect;
                var found = ImageLoader.ExpandInputs(r.GetValue(inputs)!, r.GetValue(recursive));
                int failed = ReportUnusable(found, stderr);
                var counts = new int[3];
                foreach (var file in found.Files)
                {
                    try
                    {
                        // Crops may be smaller than a detector input; the classifier resizes them.
                        using var image = ImageLoader.LoadBgr(file, minimumSide: 1);
                        var result = classifier.ClassifyCrop(image);
                        counts[(int)result.Label]++;
                        if (asJson) stdout.WriteLine(Json(file, result, hasIncorrect));
                        else stdout.WriteLine($"{result.LabelText,-9} {result.Probability:0.000}  {file}");
                    }
                    catch (ImageLoadException ex)
                    {
                        failed++;
                        stderr.WriteLine($"error: {file}: {ex.Reason}");
                        if (asJson) stdout.WriteLine(JsonSerializer.Serialize(new { image = file, error = ex.Reason }));
                    }
                }
                if (!asJson)
                    stdout.WriteLine($"{counts.Sum()} image(s): {MaskJson.Counts(counts[0], counts[1], counts[2], hasIncorrect)}.");
                return failed > 0 || found.Files.Count == 0 ? EdgeMaskCommandLine.ExitSomeFailed : EdgeMaskCommandLine.ExitOk;
            }
        });
        return command;
    }

    /// <summary>Names every input that gave nothing (missing, or a folder without images); returns how many.</summary>
    internal static int ReportUnusable(ImageInputs found, TextWriter stderr)
    {
        foreach (var m in found.Missing) stderr.WriteLine($"error: {m}: no such file or folder.");
        foreach (var e in found.EmptyFolders) stderr.WriteLine($"error: {e.Message}");
        return found.Missing.Count + found.EmptyFolders.Count;
    }

    private static string Json(string file, in MaskClassification result, bool hasIncorrect)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("image", file);
            MaskJson.Write(w, result, hasIncorrect);
            w.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }
}
