using System.CommandLine;
using System.Globalization;
using EdgeMask.Core.Classification;
using EdgeMask.Training.Data;
using EdgeMask.Training.Detection;
using EdgeMask.Training.Model;
using EdgeMask.Training.Onnx;
using EdgeMask.Training.Quantization;
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
        var maxMinutes = new Option<double?>("--max-minutes") { Description = "Wall-clock budget: start no epoch that would end past it; the best epoch so far is written." };
        var epochSize = new Option<int?>("--epoch-size") { Description = "Faces per epoch (default: the training set size); smaller = more frequent dev checks and checkpoints." };
        var maxSteps = new Option<int?>("--max-steps") { Description = "Stop after this many optimizer steps (smoke runs)." };
        var inputSize = new Option<int>("--input-size") { DefaultValueFactory = _ => ResNetConfig.Default.InputSize };
        var stem = new Option<int>("--stem-width") { DefaultValueFactory = _ => ResNetConfig.Default.StemWidth };
        var widths = new Option<string>("--widths") { DefaultValueFactory = _ => string.Join(',', ResNetConfig.Default.Widths), Description = "Channels per stage, comma-separated." };
        var blocks = new Option<string>("--blocks") { DefaultValueFactory = _ => string.Join(',', ResNetConfig.Default.Blocks), Description = "BasicBlocks per stage, comma-separated." };
        var expansion = new Option<float>("--crop-expansion") { DefaultValueFactory = _ => 1.2f, Description = "Crop side = longer box side × this." };
        var minFace = new Option<float>("--min-face") { DefaultValueFactory = _ => 10f, Description = "VOC faces with a shorter side below this many px are not trained on." };
        var incorrect = new Option<string>("--incorrect") { DefaultValueFactory = _ => "label", Description = "mask_weared_incorrect faces: label (their own class 'incorrect': a three-class model), no_mask (trained as violations: a two-class model) or skip (left out)." };
        incorrect.AcceptOnlyFromAmong("label", "no_mask", "skip");
        var incorrectShare = new Option<double>("--incorrect-share") { DefaultValueFactory = _ => 0.2, Description = "With --incorrect label: the share of each batch drawn from the badly worn masks (mask and no_mask split the rest)." };
        var synthetic = new Option<double>("--synthetic-incorrect") { DefaultValueFactory = _ => 0.0, Description = "With --incorrect label: the share of badly worn masks drawn that are synthetic (a masked photo face's mask pasted below a bare photo face's nose); 0 = only real ones." };
        var violationWeight = new Option<double>("--violation-weight") { DefaultValueFactory = _ => 0.0, Description = "With --incorrect label: add this weight × −log p(violation) (no_mask + incorrect; −log p(mask) for a proper mask), the probability the violation policy acts on; 0 = off." };
        var incorrectWeight = new Option<int>("--incorrect-weight") { DefaultValueFactory = _ => 1, Description = "With --incorrect no_mask: draw mask_weared_incorrect faces this many times more often than other no_mask faces (they are rare and the hardest violations)." };
        var noAugment = new Option<bool>("--no-augment") { Description = "Train on the plain crops (debugging)." };
        var resume = new Option<bool>("--resume") { Description = "Continue from the checkpoint in --work." };
        var keepEpochs = new Option<bool>("--keep-epochs") { Description = "Keep every epoch's weights in --work (epoch-N.pt), so --resume --export-epoch N can export any epoch of the history." };
        var exportEpoch = new Option<int?>("--export-epoch") { Description = "Export this epoch (kept by --keep-epochs) instead of the one with the best dev score." };
        var halfWeights = new Option<bool>("--fp16-weights") { Description = "Store the exported weights as float16 (half the file); ONNX Runtime computes in float32." };
        var stemKind = new Option<string>("--stem") { DefaultValueFactory = _ => "3x3", Description = "3x3 (one 3×3 stride-2 convolution) or imagenet (7×7 stride-2 convolution + max-pooling, first stage stride 1: ResNet-18's shape)." };
        stemKind.AcceptOnlyFromAmong("3x3", "imagenet");
        var initFrom = new Option<string?>("--init-from") { Description = $"Start from ImageNet ResNet-18 weights (needs --stem imagenet --stem-width 64): 'resnet18' for the file of the NuGet package {PretrainedResNet18.PackageId} {PretrainedResNet18.PackageVersion} (fetched by restoring this project), or that ONNX file's path." };

        var startFrom = new Option<string?>("--start-from") { Description = "Start from the weights of an earlier run's checkpoint of the same shape (<work>/best.pt or epoch-N.pt kept by --keep-epochs), e.g. to fine-tune it with --violation-weight." };
        var classifier = new Command("classifier", "Train the mask / no mask / incorrectly worn mask ResNet classifier and export it to ONNX.")
        {
            crops, voc, output, card, work, trainSplit, devSplit, epochs, batch, lr, seed, patience, threads, maxSteps, epochSize,
            inputSize, stem, widths, blocks, expansion, minFace, incorrect, noAugment, resume, halfWeights, stemKind, initFrom, incorrectWeight, incorrectShare, synthetic, violationWeight, keepEpochs, exportEpoch, startFrom,
        };
        classifier.SetAction(parse => RunTool(logger =>
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
                Model = new ResNetConfig(parse.GetValue(inputSize), parse.GetValue(stem), Ints(parse.GetValue(widths)!, "--widths"), Ints(parse.GetValue(blocks)!, "--blocks"),
                    parse.GetValue(stemKind) == "imagenet" ? StemKind.ImageNet : StemKind.Conv3x3),
                InitFrom = parse.GetValue(initFrom) is { } init && init.Equals("resnet18", StringComparison.OrdinalIgnoreCase) ? PretrainedResNet18.DefaultPath() : parse.GetValue(initFrom),
                CropExpansion = parse.GetValue(expansion),
                MinFace = parse.GetValue(minFace),
                Incorrect = parse.GetValue(incorrect) switch
                {
                    "no_mask" => IncorrectTraining.NoMask,
                    "skip" => IncorrectTraining.Skip,
                    _ => IncorrectTraining.Label,
                },
                IncorrectShare = parse.GetValue(incorrectShare),
                SyntheticIncorrect = parse.GetValue(synthetic),
                ViolationWeight = parse.GetValue(violationWeight),
                StartFrom = parse.GetValue(startFrom),
                IncorrectWeight = parse.GetValue(incorrectWeight),
                Augment = !parse.GetValue(noAugment),
                Resume = parse.GetValue(resume),
                KeepEpochs = parse.GetValue(keepEpochs),
                ExportEpoch = parse.GetValue(exportEpoch),
                HalfPrecisionWeights = parse.GetValue(halfWeights),
                CommandLine = TypedCommandLine(),
            }.Validate();
            var result = new ClassifierTrainer(options, logger, TimeProvider.System).Run();
            Console.WriteLine($"wrote {result.OnnxPath} (sha256 {result.Sha256}, best epoch {result.BestEpoch})");
            foreach (var m in result.OnnxDev) Console.WriteLine(m);
            if (result.DataProblems.Count > 0)
                Console.WriteLine($"{result.DataProblems.Count} input problem(s) were skipped; see the log above.");
            return 0;
        }, static e => e is DatasetException or ArgumentException or ClassifierContractException or IOException or OnnxGraphException));
        return new RootCommand("EdgeMask training tools (TorchSharp).") { classifier, DetectorCommand(), BlendCommand(), CropsCommand(), QuantizeCommand() };
    }

    /// <summary>
    /// Runs one tool command with console logging: the errors <paramref name="isInputError"/> names (a bad dataset,
    /// model or option) are logged as one line and end it with exit code 2; anything else is a bug and propagates.
    /// </summary>
    private static int RunTool(Func<ILogger, int> run, Func<Exception, bool> isInputError)
    {
        using var factory = ConsoleLoggers();
        var logger = factory.CreateLogger("edgemask-train");
        try
        {
            return run(logger);
        }
        catch (Exception e) when (isInputError(e))
        {
            logger.LogError("{Message}", e.Message);
            return 2;
        }
    }

    /// <summary><c>edgemask-train blend …</c>: (1 − α)·start + α·tuned, written into a copy of the tuned file.</summary>
    private static Command BlendCommand()
    {
        var start = new Option<string>("--start") { Description = "The model fine-tuning started from (the stock RetinaFace).", Required = true };
        var tuned = new Option<string>("--tuned") { Description = "The fine-tuned model (same graph).", Required = true };
        var alpha = new Option<float>("--alpha") { Description = "Weight of the tuned model: 1 = tuned, 0 = start.", Required = true };
        var output = new Option<string>("--out") { Description = "ONNX file to write.", Required = true };
        var command = new Command("blend", "Interpolate the weights of a fine-tuned RetinaFace and its start model (WiSE-FT).") { start, tuned, alpha, output };
        command.SetAction(parse => RunTool(logger =>
        {
            byte[] bytes = WeightBlend.Blend(OnnxGraphFile.Load(parse.GetValue(start)!), OnnxGraphFile.Load(parse.GetValue(tuned)!), parse.GetValue(alpha));
            string outPath = parse.GetValue(output)!;
            File.WriteAllBytes(outPath, bytes);
            Console.WriteLine($"wrote {outPath} ({bytes.Length} bytes, sha256 {Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes))})");
            return 0;
        }, static e => e is OnnxGraphException or ArgumentException or IOException));
        return command;
    }

    /// <summary><c>edgemask-train quantize …</c>: static int8 (QDQ) quantization of a classifier, calibrated on training faces.</summary>
    private static Command QuantizeCommand()
    {
        var d = new QuantizeOptions { ModelPath = "", OutputPath = "" };
        var model = new Option<string>("--model") { Description = "The float classifier ONNX to quantize (models/mask_classifier.onnx).", Required = true };
        var output = new Option<string>("--out") { Description = "The int8 ONNX file to write.", Required = true };
        var crops = new Option<string[]>("--crops") { Description = "Crop folder(s) to calibrate on (their splits/<train-split>.txt faces only). Repeatable.", AllowMultipleArgumentsPerToken = true };
        var voc = new Option<string[]>("--voc") { Description = "VOC folder(s) to calibrate on (their splits/<train-split>.txt photos only). Repeatable.", AllowMultipleArgumentsPerToken = true };
        var faces = new Option<int>("--calibration-faces") { DefaultValueFactory = _ => d.CalibrationFaces, Description = "Training faces drawn (seeded) for calibration." };
        var method = new Option<string>("--calibration") { DefaultValueFactory = _ => "minmax", Description = "minmax (nothing clipped), percentile (the --percentile of values kept at each end) or entropy (the clipping with the least KL divergence, as TensorRT's calibrator)." };
        method.AcceptOnlyFromAmong("minmax", "percentile", "entropy");
        var percentile = new Option<double>("--percentile") { DefaultValueFactory = _ => d.Percentile, Description = "With --calibration percentile: e.g. 99.99." };
        var weightBits = new Option<int>("--weight-bits") { DefaultValueFactory = _ => 7, Description = "8, or 7 (weights in ±64: ONNX Runtime's reduce_range, which keeps the AVX2 int8 kernel from saturating on CPUs without VNNI)." };
        weightBits.AcceptOnlyFromAmong("7", "8");
        var trainSplit = new Option<string>("--train-split") { DefaultValueFactory = _ => d.TrainSplit, Description = "Split file the calibration faces come from." };
        var devSplit = new Option<string>("--dev-split") { DefaultValueFactory = _ => d.DevSplit, Description = "Split the float and int8 files are compared on afterwards (never calibrated on)." };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => d.Seed };
        var threads = new Option<int>("--threads") { DefaultValueFactory = _ => d.Threads };
        var noCompare = new Option<bool>("--no-compare") { Description = "Skip the float vs int8 comparison on the dev split." };
        var command = new Command("quantize", "Quantize a mask classifier to int8 (QDQ: weights per output channel, activations per tensor, calibrated on training faces).")
        {
            model, output, crops, voc, faces, method, percentile, weightBits, trainSplit, devSplit, seed, threads, noCompare,
        };
        command.SetAction(parse => RunTool(logger =>
        {
            var options = new QuantizeOptions
            {
                ModelPath = parse.GetValue(model)!,
                OutputPath = parse.GetValue(output)!,
                CropFolders = parse.GetValue(crops) ?? [],
                VocFolders = parse.GetValue(voc) ?? [],
                CalibrationFaces = parse.GetValue(faces),
                Method = parse.GetValue(method) switch
                {
                    "percentile" => CalibrationMethod.Percentile,
                    "entropy" => CalibrationMethod.Entropy,
                    _ => CalibrationMethod.MinMax,
                },
                Percentile = parse.GetValue(percentile),
                WeightMax = parse.GetValue(weightBits) == 8 ? 127 : 64,
                TrainSplit = parse.GetValue(trainSplit)!,
                DevSplit = parse.GetValue(devSplit)!,
                Seed = parse.GetValue(seed),
                Threads = parse.GetValue(threads),
                Compare = !parse.GetValue(noCompare),
                CommandLine = TypedCommandLine(),
            }.Validate();
            var result = new ClassifierQuantizer(options, logger).Run();
            Console.WriteLine($"wrote {result.OutputPath} ({result.Bytes} bytes, sha256 {result.Sha256}), calibrated on {result.CalibrationFaces} training faces");
            Console.WriteLine($"ONNX Runtime CPU kernels: {OrtKernelCensus.Format(result.Census)}");
            for (int i = 0; i < result.Int8Dev.Count; i++)
            {
                Console.WriteLine($"float {result.FloatDev[i]}");
                Console.WriteLine($"int8  {result.Int8Dev[i]}");
            }
            foreach (string line in result.Agreement) Console.WriteLine(line);
            return 0;
        }, static e => e is QuantizationException or DatasetException or ArgumentException or IOException or ClassifierContractException
            or Microsoft.ML.OnnxRuntime.OnnxRuntimeException or EdgeMask.Inference.Classification.MaskClassifierModelException));
        return command;
    }

    /// <summary><c>edgemask-train crops …</c>: a VOC set's faces as a crop folder, cut as the run time cuts them.</summary>
    private static Command CropsCommand()
    {
        var voc = new Option<string>("--voc") { Description = "Pascal VOC folder (images/, annotations/, optional splits/<split>.txt).", Required = true };
        var split = new Option<string?>("--split") { Description = "Split file name (e.g. dev); default: every annotation." };
        var output = new Option<string>("--out") { Description = "Folder to write: with_mask/, without_mask/, mask_weared_incorrect/ and faces.csv.", Required = true };
        var size = new Option<int>("--size") { DefaultValueFactory = _ => ResNetConfig.Default.InputSize, Description = "Side of the written squares in px: the classifier's input size gives exactly its input; larger is for looking at." };
        var expansion = new Option<float>("--crop-expansion") { DefaultValueFactory = _ => 1.2f, Description = "Crop side = longer box side × this (the classifier contract's crop.expansion)." };
        var minFace = new Option<float>("--min-face") { DefaultValueFactory = _ => 20f, Description = "Leave out faces whose shorter side is below this many px." };
        var command = new Command("crops", "Write a VOC set's faces, cut as the run time cuts them, as a crop folder for edgemask eval --crops / classify.")
        {
            voc, split, output, size, expansion, minFace,
        };
        command.SetAction(parse => RunTool(logger =>
        {
            string outPath = parse.GetValue(output)!;
            var summary = CropExport.Run(parse.GetValue(voc)!, parse.GetValue(split), outPath, parse.GetValue(size), parse.GetValue(expansion), parse.GetValue(minFace), logger);
            Console.WriteLine($"wrote {summary.Faces.Values.Sum()} faces of {summary.Photos} photos to {outPath} "
                + $"({string.Join(", ", summary.Faces.Select(kv => $"{kv.Key} {kv.Value}"))}; {summary.LeftOutSmall} under the minimum size left out)");
            return 0;
        }, static e => e is DatasetException or ClassifierContractException or IOException));
        return command;
    }

    /// <summary><c>edgemask-train detector …</c>: fine-tunes RetinaFace-MNet0.25 on a VOC folder.</summary>
    private static Command DetectorCommand()
    {
        var d = new DetectorTrainingOptions { VocFolder = "", StartDetector = "", OutputPath = "", WorkDirectory = "" };
        var voc = new Option<string>("--voc") { Description = "Pascal VOC folder (images/, annotations/, splits/<split>.txt).", DefaultValueFactory = _ => Path.Combine("..", "shared", "data", "face-mask-voc853") };
        var detector = new Option<string?>("--detector") { Description = "RetinaFace ONNX to start from (default: ../shared/models/retinaface_mnet025.onnx, else models/retinaface_mnet025.onnx)." };
        var output = new Option<string>("--out") { Description = "Tuned ONNX file to write.", DefaultValueFactory = _ => Path.Combine(".edgemask", "models", "retinaface_mnet025_masked.onnx") };
        var card = new Option<string?>("--card") { Description = "Model card to write (default: the ONNX path with .md)." };
        var work = new Option<string?>("--work") { Description = "Folder for last/best ONNX checkpoints, state.json and train.log (default: .edgemask/train-detector)." };
        var trainSplit = new Option<string>("--train-split") { DefaultValueFactory = _ => d.TrainSplit };
        var devSplit = new Option<string>("--dev-split") { DefaultValueFactory = _ => d.DevSplit };
        var epochs = new Option<int>("--epochs") { DefaultValueFactory = _ => d.Epochs };
        var batch = new Option<int>("--batch") { DefaultValueFactory = _ => d.BatchSize };
        var lr = new Option<double>("--lr") { DefaultValueFactory = _ => d.LearningRate, Description = "AdamW peak learning rate." };
        var weightDecay = new Option<double>("--weight-decay") { DefaultValueFactory = _ => d.WeightDecay };
        var optimizer = new Option<string>("--optimizer") { DefaultValueFactory = _ => d.Optimizer, Description = "adamw or sgd (momentum 0.9)." };
        optimizer.AcceptOnlyFromAmong("adamw", "sgd");
        var warmup = new Option<int>("--warmup") { DefaultValueFactory = _ => d.WarmupSteps, Description = "Linear warm-up steps." };
        var imageSize = new Option<int>("--image-size") { DefaultValueFactory = _ => d.ImageSize, Description = "Side of the square training crops (multiple of 32)." };
        var minScale = new Option<float>("--min-scale") { DefaultValueFactory = _ => d.MinScale, Description = "Smallest photo→input resize factor (< 1 = zoom-out)." };
        var maxScale = new Option<float>("--max-scale") { DefaultValueFactory = _ => d.MaxScale, Description = "Largest photo→input resize factor." };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => d.Seed };
        var boxWeight = new Option<float>("--loss-box-weight") { DefaultValueFactory = _ => d.BoxWeight, Description = "λ of the smooth-L1 box term." };
        var landmarkWeight = new Option<float>("--loss-landmark-weight") { DefaultValueFactory = _ => d.LandmarkWeight, Description = "λ of the smooth-L1 landmark term (faces without landmarks are masked out)." };
        var positiveIoU = new Option<float>("--positive-iou") { DefaultValueFactory = _ => d.PositiveIoU, Description = "Anchors with IoU ≥ this are face anchors (paper: 0.5)." };
        var negativeIoU = new Option<float>("--negative-iou") { DefaultValueFactory = _ => d.NegativeIoU, Description = "Anchors with IoU < this are background; in between ignored (paper: 0.3)." };
        var maxSteps = new Option<int?>("--max-steps") { Description = "Stop after this many optimizer steps (smoke runs)." };
        var maxMinutes = new Option<double?>("--max-minutes") { Description = "Wall-clock budget: start no epoch that would end past it; the best epoch so far is written." };
        var epochSize = new Option<int?>("--epoch-size") { Description = "Photos per epoch (default: the whole train split)." };
        var devLimit = new Option<int?>("--dev-limit") { Description = "Dev photos scored per epoch (default: all)." };
        var devScales = new Option<string>("--dev-scales") { DefaultValueFactory = _ => "1,2", Description = "Detector input sizings for the dev figures: scales (2, 1.5) or long sides (960px); the first one chooses the epoch." };
        var threads = new Option<int>("--threads") { DefaultValueFactory = _ => Math.Min(Environment.ProcessorCount, 2) };
        var noAugment = new Option<bool>("--no-augment") { Description = "No colour jitter, flip or scale jitter (debugging)." };
        var trainStage1 = new Option<bool>("--train-stage1") { Description = "Also train the first backbone stage (frozen by default: faster, less forgetting)." };
        var resume = new Option<bool>("--resume") { Description = "Continue from work/last.onnx and work/state.json." };
        var minVisible = new Option<float>("--min-visible") { DefaultValueFactory = _ => d.MinVisible, Description = "Keep a face a training crop cuts (box clipped) when this fraction of it stays inside; 1: crops never cut faces." };
        var distill = new Option<float>("--distill-weight") { DefaultValueFactory = _ => d.DistillWeight, Description = "λ of the KL term against the frozen start model on anchors that are not annotated faces (0: off)." };
        var teacherIgnore = new Option<float>("--teacher-ignore") { DefaultValueFactory = _ => d.TeacherIgnoreAbove, Description = "Background anchors where the start model's face probability is ≥ this are not mined as negatives (> 1: off)." };
        var maxFalse = new Option<int?>("--max-false") { Description = "Epoch selection: an epoch with more false detections than this at the first dev scale ranks last (default: the start model's count)." };
        var pseudoLabels = new Option<float?>("--pseudo-labels") { Description = "Train the start model's own detections on the training photos with at least this face score (e.g. 0.8) as faces where none is annotated (default: off)." };
        var pseudoSizings = new Option<string>("--pseudo-sizings") { DefaultValueFactory = _ => string.Join(',', d.PseudoLabelSizings), Description = "Detector input sizings the pseudo-labels are found at: scales (2) or long sides (960px)." };
        var maxCutSide = new Option<float?>("--max-cut-side") { Description = "With --min-visible: only faces up to this short side in input pixels may be cut (default: any)." };
        var bareWeight = new Option<float>("--bare-weight") { DefaultValueFactory = _ => d.BareWeight, Description = "Weight of annotated faces without a mask (or with one worn incorrectly) in the classification loss (1: every face the same)." };
        var ema = new Option<double>("--ema") { DefaultValueFactory = _ => d.EmaDecay, Description = "Score, choose and ship the moving average of the weights with this decay per step (e.g. 0.995; 0: off)." };
        var command = new Command("detector", "Fine-tune the RetinaFace detector (TorchSharp) and write the weights back into its ONNX graph.")
        {
            voc, detector, output, card, work, trainSplit, devSplit, epochs, batch, lr, weightDecay, optimizer, warmup, imageSize, minScale, maxScale,
            seed, boxWeight, landmarkWeight, positiveIoU, negativeIoU, maxSteps, maxMinutes, epochSize, devLimit, devScales, threads, noAugment, trainStage1, resume,
            distill, teacherIgnore, maxFalse, minVisible, pseudoLabels, pseudoSizings, ema, bareWeight, maxCutSide,
        };
        command.SetAction(parse => RunTool(logger =>
        {
            string outPath = parse.GetValue(output)!;
            var options = new DetectorTrainingOptions
            {
                VocFolder = parse.GetValue(voc)!,
                StartDetector = parse.GetValue(detector) ?? DefaultDetector(),
                OutputPath = outPath,
                CardPath = parse.GetValue(card) ?? Path.ChangeExtension(outPath, ".md"),
                WorkDirectory = parse.GetValue(work) ?? Path.Combine(".edgemask", "train-detector"),
                TrainSplit = parse.GetValue(trainSplit)!,
                DevSplit = parse.GetValue(devSplit)!,
                Epochs = parse.GetValue(epochs),
                BatchSize = parse.GetValue(batch),
                LearningRate = parse.GetValue(lr),
                WeightDecay = parse.GetValue(weightDecay),
                Optimizer = parse.GetValue(optimizer)!,
                WarmupSteps = parse.GetValue(warmup),
                ImageSize = parse.GetValue(imageSize),
                MinScale = parse.GetValue(minScale),
                MaxScale = parse.GetValue(maxScale),
                Seed = parse.GetValue(seed),
                BoxWeight = parse.GetValue(boxWeight),
                LandmarkWeight = parse.GetValue(landmarkWeight),
                PositiveIoU = parse.GetValue(positiveIoU),
                NegativeIoU = parse.GetValue(negativeIoU),
                MaxSteps = parse.GetValue(maxSteps),
                MaxMinutes = parse.GetValue(maxMinutes),
                EpochSize = parse.GetValue(epochSize),
                DevLimit = parse.GetValue(devLimit),
                DevScales = Sizings(parse.GetValue(devScales)!),
                Threads = parse.GetValue(threads),
                Augment = !parse.GetValue(noAugment),
                FreezeStage1 = !parse.GetValue(trainStage1),
                Resume = parse.GetValue(resume),
                MinVisible = parse.GetValue(minVisible),
                DistillWeight = parse.GetValue(distill),
                TeacherIgnoreAbove = parse.GetValue(teacherIgnore),
                MaxFalseDetections = parse.GetValue(maxFalse),
                PseudoLabelScore = parse.GetValue(pseudoLabels),
                PseudoLabelSizings = Sizings(parse.GetValue(pseudoSizings)!),
                EmaDecay = parse.GetValue(ema),
                BareWeight = parse.GetValue(bareWeight),
                MaxCutSide = parse.GetValue(maxCutSide),
                CommandLine = TypedCommandLine(),
            }.Validate();
            var result = new DetectorTrainer(options, logger, TimeProvider.System).Run();
            Console.WriteLine($"wrote {result.OnnxPath} ({result.Bytes} bytes, sha256 {result.Sha256}, best epoch {result.BestEpoch})");
            foreach (var f in result.Stock) Console.WriteLine($"stock {f}");
            foreach (var f in result.Final) Console.WriteLine($"tuned {f}");
            return 0;
        }, static e => e is DatasetException or ArgumentException or OnnxGraphException or IOException
            or EdgeMask.Inference.Models.ModelException or Microsoft.ML.OnnxRuntime.OnnxRuntimeException
            or EdgeMask.Inference.Runtime.ExecutionProviderUnavailableException));
        return command;
    }

    private static ILoggerFactory ConsoleLoggers() =>
        LoggerFactory.Create(b => b.AddSimpleConsole(c => { c.SingleLine = true; c.TimestampFormat = "HH:mm:ss "; }));

    /// <summary>The command as typed, for the model card.</summary>
    private static string TypedCommandLine() => "edgemask-train " + string.Join(' ', Environment.GetCommandLineArgs().Skip(1).Select(Quote));

    /// <summary>The stock detector: the shared models folder beside the checkout, else the checkout's models/ folder.</summary>
    private static string DefaultDetector()
    {
        string shared = Path.Combine("..", "shared", "models", "retinaface_mnet025.onnx");
        return File.Exists(shared) ? shared : Path.Combine("models", "retinaface_mnet025.onnx");
    }

    private static DevSizing[] Sizings(string text) =>
        text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(DevSizing.Parse).ToArray();

    private static float[] Floats(string text, string option)
    {
        try
        {
            return text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(t => float.Parse(t, NumberStyles.Float, CultureInfo.InvariantCulture)).ToArray();
        }
        catch (FormatException)
        {
            throw new ArgumentException($"{option} must be comma-separated numbers, not '{text}'.");
        }
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
