using System.CommandLine;
using EdgeMask.Core.Detection;
using EdgeMask.Inference.Detection;
using EdgeMask.Inference.Runtime;
using Microsoft.Extensions.Logging;

namespace EdgeMask.Module.Cli;

/// <summary>Options shared by every command that runs the models.</summary>
internal sealed class ModelCliOptions
{
    public readonly Option<string?> Models = new("--models") { Description = "Folder with the model files and manifest.json (default: EDGEMASK_MODELS, models/ beside the program, or the checkout's models/)." };
    public readonly Option<string?> Detector = new("--detector") { Description = "Use this RetinaFace ONNX file (same contract) instead of the manifest's detector, e.g. a fine-tuned one." };
    public readonly Option<string> Ep = new("--ep") { Description = "Execution provider: auto (TensorRT → CUDA → CPU), tensorrt, cuda or cpu.", DefaultValueFactory = _ => "auto" };
    public readonly Option<bool> EpStrict = new("--ep-strict") { Description = "Fail instead of falling back when the chosen execution provider cannot load." };
    public readonly Option<string?> TrtCache = new("--trt-cache") { Description = "Folder for TensorRT engines and timing cache (default: EDGEMASK_TRT_CACHE or a temp folder)." };
    public readonly Option<float> ScoreThreshold = new("--score-threshold") { Description = "Minimum face score.", DefaultValueFactory = _ => 0.5f };
    public readonly Option<float> NmsIoU = new("--nms-iou") { Description = "NMS IoU threshold.", DefaultValueFactory = _ => 0.4f };
    public readonly Option<float> Scale = new("--scale") { Description = "Detector input scale (2 finds faces under 20 px far better, at 4× the cost).", DefaultValueFactory = _ => 1f };
    public readonly Option<int?> TargetLongSide = new("--target-long-side") { Description = "Resize each image so its long side is this many pixels (overrides --scale)." };
    public readonly Option<bool> Verbose = new("--verbose", "-v") { Description = "Log at debug level." };
    public readonly Option<string?> Classifier = new("--classifier") { Description = "Use this mask classifier ONNX (same contract) instead of the manifest's." };

    public void AddTo(Command command)
    {
        foreach (var o in new Option[] { Models, Detector, Classifier, Ep, EpStrict, TrtCache, ScoreThreshold, NmsIoU, Scale, TargetLongSide, Verbose })
            command.Add(o);
    }

    public ExecutionProviderOptions Providers(ParseResult r)
    {
        var options = new ExecutionProviderOptions
        {
            Preference = ExecutionProviderOptions.Parse(r.GetValue(Ep) ?? "auto"),
            Strict = r.GetValue(EpStrict),
        };
        var cache = r.GetValue(TrtCache);
        return cache is null ? options : options with { TensorRtCacheDirectory = cache };
    }

    public DetectorOptions Detection(ParseResult r) => new()
    {
        Thresholds = new DetectionThresholds { ScoreThreshold = r.GetValue(ScoreThreshold), NmsIoU = r.GetValue(NmsIoU) },
        Sizing = new InputSizing { Scale = r.GetValue(Scale), TargetLongSide = r.GetValue(TargetLongSide) },
    };

    public Configuration.InferenceSettings Inference(ParseResult r) => new()
    {
        ModelsDirectory = r.GetValue(Models),
        DetectorFile = r.GetValue(Detector),
        ExecutionProvider = r.GetValue(Ep) ?? "auto",
        ExecutionProviderStrict = r.GetValue(EpStrict),
        TensorRtCacheDirectory = r.GetValue(TrtCache),
    };

    public Configuration.DetectorSettings DetectorSettings(ParseResult r) => new()
    {
        ScoreThreshold = r.GetValue(ScoreThreshold),
        NmsIoU = r.GetValue(NmsIoU),
        Scale = r.GetValue(Scale),
        TargetLongSide = r.GetValue(TargetLongSide),
    };

    public Configuration.ClassifierSettings ClassifierSettings(ParseResult r, bool enabled) => new() { Enabled = enabled, ModelFile = r.GetValue(Classifier) };

    /// <summary>
    /// Opens the models and the classifier alone (the commands that take images that are one face each). On a model
    /// error the message goes to <paramref name="stderr"/> and false is returned (exit 2).
    /// </summary>
    public bool TryOpenClassifier(ParseResult r, ILogger logger, TextWriter stderr,
        [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out Pipeline.InferenceModels? models,
        [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out EdgeMask.Inference.Classification.MaskClassifier? classifier)
    {
        models = null;
        classifier = null;
        try
        {
            models = Pipeline.InferenceModels.Open(Inference(r), ClassifierSettings(r, true), logger);
            classifier = models.CreateClassifier()!.Classifier;
            return true;
        }
        catch (Exception ex) when (ex is EdgeMask.Inference.Models.ModelException or ExecutionProviderUnavailableException
                                       or Core.Classification.ClassifierContractException or EdgeMask.Inference.Classification.MaskClassifierModelException)
        {
            models?.Dispose();
            stderr.WriteLine($"error: {ex.Message}");
            return false;
        }
    }

    public ILoggerFactory Logging(ParseResult r) => CliLogging.Create(r.GetValue(Verbose) ? LogLevel.Debug : LogLevel.Information);
}

internal static class CliLogging
{
    /// <summary>Logs go to stderr so stdout stays machine-readable (JSON lines).</summary>
    public static ILoggerFactory Create(LogLevel level) => LoggerFactory.Create(b => b
        .SetMinimumLevel(level)
        .AddFilter("Microsoft", LogLevel.Warning)
        .AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; })
        .AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace));
}
