using System.CommandLine;
using System.Globalization;
using EdgeMask.Core.Classification;
using EdgeMask.Training.Data;
using EdgeMask.Training.Model;
using EdgeMask.Training.Training;
using Microsoft.Extensions.Logging;

namespace EdgeMask.Training;

/// <summary><c>edgemask-train classifier …</c>: the command line of the trainer.</summary>
internal static class TrainCli
{
    public static RootCommand Build()
    {
        var crops = new Option<string[]>("--crops") { Description = "Folder of labelled face crops (with_mask/, without_mask/; optional splits/<split>.txt). Repeatable.", AllowMultipleArgumentsPerToken = true };
        var voc = new Option<string[]>("--voc") { Description = "Pascal VOC folder (images/, annotations/; optional splits/<split>.txt). Repeatable.", AllowMultipleArgumentsPerToken = true };
        var output = new Option<string>("--out") { Description = "ONNX file to write.", DefaultValueFactory = _ => "models/mask_classifier.onnx" };
        var card = new Option<string?>("--card") { Description = "Model card to write (default: the ONNX path with .md)." };
        var work = new Option<string?>("--work") { Description = "Folder for checkpoints and train.log (default: .edgemask/train-classifier)." };
        var trainSplit = new Option<string>("--train-split") { DefaultValueFactory = _ => "train", Description = "Split file name used for training." };
        var devSplit = new Option<string>("--dev-split") { DefaultValueFactory = _ => "dev", Description = "Split file name used for model selection and the reported figures." };
        var epochs = new Option<int>("--epochs") { DefaultValueFactory = _ => 40 };
        var batch = new Option<int>("--batch") { DefaultValueFactory = _ => 64 };
        var lr = new Option<double>("--lr") { DefaultValueFactory = _ => 3e-3 };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 17 };
        var patience = new Option<int>("--patience") { DefaultValueFactory = _ => 10, Description = "Stop after this many epochs without a better dev score." };
        var threads = new Option<int>("--threads") { DefaultValueFactory = _ => Math.Min(Environment.ProcessorCount, 2) };
        var epochSize = new Option<int?>("--epoch-size") { Description = "Faces per epoch (default: the training set size); smaller = more frequent dev checks and checkpoints." };
        var maxSteps = new Option<int?>("--max-steps") { Description = "Stop after this many optimizer steps (smoke runs)." };
        var inputSize = new Option<int>("--input-size") { DefaultValueFactory = _ => ResNetConfig.Default.InputSize };
        var stem = new Option<int>("--stem-width") { DefaultValueFactory = _ => ResNetConfig.Default.StemWidth };
        var widths = new Option<string>("--widths") { DefaultValueFactory = _ => string.Join(',', ResNetConfig.Default.Widths), Description = "Channels per stage, comma-separated." };
        var blocks = new Option<string>("--blocks") { DefaultValueFactory = _ => string.Join(',', ResNetConfig.Default.Blocks), Description = "BasicBlocks per stage, comma-separated." };
        var expansion = new Option<float>("--crop-expansion") { DefaultValueFactory = _ => 1.2f, Description = "Crop side = longer box side × this." };
        var minFace = new Option<float>("--min-face") { DefaultValueFactory = _ => 10f, Description = "VOC faces with a shorter side below this many px are not trained on." };
        var incorrect = new Option<string>("--incorrect") { DefaultValueFactory = _ => "no_mask", Description = "mask_weared_incorrect faces: no_mask (train as violations) or skip." };
        incorrect.AcceptOnlyFromAmong("no_mask", "skip");
        var noAugment = new Option<bool>("--no-augment") { Description = "Train on the plain crops (debugging)." };
        var resume = new Option<bool>("--resume") { Description = "Continue from the checkpoint in --work." };

        var classifier = new Command("classifier", "Train the mask / no-mask ResNet classifier and export it to ONNX.")
        {
            crops, voc, output, card, work, trainSplit, devSplit, epochs, batch, lr, seed, patience, threads, maxSteps, epochSize,
            inputSize, stem, widths, blocks, expansion, minFace, incorrect, noAugment, resume,
        };
        classifier.SetAction(parse =>
        {
            using var factory = LoggerFactory.Create(b => b.AddSimpleConsole(c => { c.SingleLine = true; c.TimestampFormat = "HH:mm:ss "; }));
            var logger = factory.CreateLogger("edgemask-train");
            try
            {
                string outPath = parse.GetValue(output)!;
                var options = new TrainingOptions
                {
                    CropFolders = parse.GetValue(crops) ?? [],
                    VocFolders = parse.GetValue(voc) ?? [],
                    OutputPath = outPath,
                    CardPath = parse.GetValue(card) ?? Path.ChangeExtension(outPath, ".md"),
                    WorkDirectory = parse.GetValue(work) ?? Path.Combine(".edgemask", "train-classifier"),
                    TrainSplit = parse.GetValue(trainSplit)!,
                    DevSplit = parse.GetValue(devSplit)!,
                    Epochs = parse.GetValue(epochs),
                    BatchSize = parse.GetValue(batch),
                    LearningRate = parse.GetValue(lr),
                    Seed = parse.GetValue(seed),
                    Patience = parse.GetValue(patience),
                    Threads = parse.GetValue(threads),
                    MaxSteps = parse.GetValue(maxSteps),
                    EpochSize = parse.GetValue(epochSize),
                    Model = new ResNetConfig(parse.GetValue(inputSize), parse.GetValue(stem), Ints(parse.GetValue(widths)!, "--widths"), Ints(parse.GetValue(blocks)!, "--blocks")),
                    CropExpansion = parse.GetValue(expansion),
                    MinFace = parse.GetValue(minFace),
                    IncorrectAsNoMask = parse.GetValue(incorrect) == "no_mask",
                    Augment = !parse.GetValue(noAugment),
                    Resume = parse.GetValue(resume),
                    CommandLine = "edgemask-train " + string.Join(' ', Environment.GetCommandLineArgs().Skip(1).Select(Quote)),
                }.Validate();
                var result = new ClassifierTrainer(options, logger, TimeProvider.System).Run();
                Console.WriteLine($"wrote {result.OnnxPath} (sha256 {result.Sha256}, best epoch {result.BestEpoch})");
                foreach (var m in result.OnnxDev) Console.WriteLine(m);
                if (result.DataProblems.Count > 0)
                    Console.WriteLine($"{result.DataProblems.Count} input problem(s) were skipped; see the log above.");
                return 0;
            }
            catch (Exception e) when (e is DatasetException or ArgumentException or ClassifierContractException or IOException)
            {
                logger.LogError("{Message}", e.Message);
                return 2;
            }
        });
        return new RootCommand("EdgeMask training tools (TorchSharp).") { classifier };
    }

    private static int[] Ints(string text, string option)
    {
        try
        {
            return text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(t => int.Parse(t, NumberStyles.Integer, CultureInfo.InvariantCulture)).ToArray();
        }
        catch (FormatException)
        {
            throw new ArgumentException($"{option} must be comma-separated integers, not '{text}'.");
        }
    }

    private static string Quote(string a) => a.Contains(' ') ? $"\"{a}\"" : a;
}
