using System.CommandLine;
using System.Text.Json;
using EdgeMask.Core.Detection;
using EdgeMask.Inference.Classification;
using EdgeMask.Inference.Imaging;
using EdgeMask.Inference.Models;
using EdgeMask.Module.Configuration;
using EdgeMask.Module.Pipeline;
using Microsoft.Extensions.Logging;

namespace EdgeMask.Module.Cli;

/// <summary><c>edgemask classify &lt;image|folder&gt;...</c>: each image is one face crop → mask / no_mask with its probability.</summary>
internal static class ClassifyCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var inputs = new Argument<string[]>("inputs") { Description = "Face crop images or folders of them.", Arity = ArgumentArity.OneOrMore };
        var json = new Option<bool>("--json") { Description = "Print one JSON object per image on its own line." };
        var common = new ModelCliOptions();
        var command = new Command("classify", "Classify face crops as mask / no mask.") { inputs, json };
        common.AddTo(command);
        command.SetAction(r =>
        {
            using var loggers = common.Logging(r);
            var logger = loggers.CreateLogger("edgemask.classify");
            MaskClassifier classifier;
            InferenceModels models;
            try
            {
                models = InferenceModels.Open(common.Inference(r), common.ClassifierSettings(r, true), logger);
                classifier = models.CreateClassifier()!.Classifier;
            }
            catch (Exception ex) when (ex is ModelException or Inference.Runtime.ExecutionProviderUnavailableException or Core.Classification.ClassifierContractException or MaskClassifierModelException)
            {
                stderr.WriteLine($"error: {ex.Message}");
                return EdgeMaskCommandLine.ExitFatal;
            }
            using (models)
            using (classifier)
            {
                bool asJson = r.GetValue(json);
                var files = ImageLoader.ExpandInputs(r.GetValue(inputs)!, out var missing);
                int failed = missing.Count, masked = 0, unmasked = 0;
                foreach (var m in missing) stderr.WriteLine($"error: {m}: no such file or folder.");
                foreach (var file in files)
                {
                    try
                    {
                        // Crops may be smaller than a detector input; the classifier resizes them.
                        using var image = ImageLoader.LoadBgr(file, minimumSide: 1);
                        var result = classifier.ClassifyCrop(image);
                        if (result.Label == MaskLabel.Mask) masked++; else unmasked++;
                        if (asJson)
                            stdout.WriteLine(JsonSerializer.Serialize(new { image = file, mask = new { label = result.LabelText, probability = Math.Round(result.Probability, 4) } }));
                        else
                            stdout.WriteLine($"{result.LabelText,-8} {result.Probability:0.000}  {file}");
                    }
                    catch (ImageLoadException ex)
                    {
                        failed++;
                        stderr.WriteLine($"error: {file}: {ex.Reason}");
                        if (asJson) stdout.WriteLine(JsonSerializer.Serialize(new { image = file, error = ex.Reason }));
                    }
                }
                if (!asJson) stdout.WriteLine($"{masked + unmasked} image(s): {masked} mask, {unmasked} no_mask.");
                return failed > 0 || files.Count == 0 ? EdgeMaskCommandLine.ExitSomeFailed : EdgeMaskCommandLine.ExitOk;
            }
        });
        return command;
    }
}
