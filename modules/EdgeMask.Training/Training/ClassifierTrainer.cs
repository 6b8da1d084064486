using System.Collections.Immutable;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using EdgeMask.Core.Classification;
using EdgeMask.Core.Detection;
using EdgeMask.Inference.Classification;
using EdgeMask.Training.Data;
using EdgeMask.Training.Model;
using EdgeMask.Training.Onnx;
using Microsoft.Extensions.Logging;
using OpenCvSharp;
using TorchSharp;
using static TorchSharp.torch;

namespace EdgeMask.Training.Training;

/// <summary>What one epoch achieved.</summary>
internal sealed record EpochResult(int Epoch, double TrainLoss, double Score, IReadOnlyList<DevMetric> Dev, double Seconds);

/// <summary>The outcome of a training run.</summary>
internal sealed record TrainingResult(
    string OnnxPath, string Sha256, int BestEpoch, IReadOnlyList<EpochResult> History, IReadOnlyList<float> StepLosses,
    IReadOnlyList<DevMetric> OnnxDev, IReadOnlyList<string> DataProblems, int TrainCount, ClassifierContract Contract)
{
    /// <summary>The epoch with the best dev score (the exported one unless <c>--export-epoch</c> chose another).</summary>
    public int BestScoreEpoch { get; init; }
}

/// <summary>
/// Trains the small ResNet mask classifier: loads and caches crops, class-balanced sampling, camera augmentation,
/// AdamW with a cosine schedule, dev evaluation per epoch, early stopping, checkpoints every epoch (so a cut-off
/// run resumes), export of the best epoch to ONNX, re-scoring of that file in ONNX Runtime, and the model card.
/// </summary>
internal sealed class ClassifierTrainer(TrainingOptions options, ILogger logger, TimeProvider time)
{
    /// <summary>ImageNet channel statistics in 0–255 units, RGB order: a standard, data-independent normalisation.</summary>
    public static readonly ImmutableArray<float> Mean = [123.675f, 116.28f, 103.53f];
    public static readonly ImmutableArray<float> Std = [58.395f, 57.12f, 57.375f];

    public ClassifierContract Contract { get; } = new ClassifierContract(
        "input", options.Model.InputSize, ColorOrder.Rgb, Mean, Std, options.CropExpansion, "probabilities",
        [.. options.Classes]).Validate();

    private bool ThreeClasses => options.Incorrect == IncorrectTraining.Label;

    public TrainingResult Run(CancellationToken cancel = default)
    {
        options.Validate();
        using var log = TrainingProgress.StartRun(options.Threads, options.Seed, options.WorkDirectory, options.CommandLine);

        var loader = new DatasetLoader(Contract, logger);
        var (train, dev) = LoadData(loader);
        TrainingProgress.Log(log, $"train {train.Count} faces; dev {string.Join(", ", dev.Select(d => $"{d.Name} {d.Samples.Count}"))}");

        using var model = new SmallResNet(options.Model, options.Classes);
        var state = new RunState();
        string lastCkpt = Path.Combine(options.WorkDirectory, "last.pt"), bestCkpt = Path.Combine(options.WorkDirectory, "best.pt");
        string statePath = Path.Combine(options.WorkDirectory, "state.json");
        if (options.Resume && File.Exists(lastCkpt) && File.Exists(statePath))
        {
            model.load(lastCkpt);
            state = JsonSerializer.Deserialize<RunState>(File.ReadAllText(statePath), StateJson) ?? new RunState();
            logger.LogInformation("Resuming after epoch {Epoch} (best {Best:P2} at epoch {BestEpoch})", state.Epoch, state.BestScore, state.BestEpoch);
        }
        else if (options.StartFrom is not null)
        {
            // The shapes must match the checkpoint's; TorchSharp's load names the first parameter that does not.
            model.load(options.StartFrom);
            TrainingProgress.Log(log, $"started from the checkpoint {options.StartFrom}");
            logger.LogInformation("Started from the checkpoint {Checkpoint}", options.StartFrom);
        }
        else if (options.InitFrom is not null)
        {
            var report = PretrainedResNet18.LoadInto(model, options.InitFrom, Mean, Std);
            TrainingProgress.Log(log, $"initialised {report.LoadedLayers} layers ({report.LoadedParameters:N0} parameters) from {report.Source}; {report.RandomLayers} layers start random");
            logger.LogInformation("Initialised {Loaded} layers from ResNet-18 ({Source}); {Random} start random", report.LoadedLayers, report.Source, report.RandomLayers);
        }

        // The averaged weights (see TrainingOptions.EmaDecay) are what is evaluated, checkpointed and exported.
        using var averaged = options.EmaDecay > 0 ? new SmallResNet(options.Model, options.Classes) : null;
        var selected = averaged ?? model;
        if (averaged is not null)
        {
            if (options.Resume && File.Exists(lastCkpt) && File.Exists(statePath) && File.Exists(EmaPath(lastCkpt))) averaged.load(EmaPath(lastCkpt));
            else WeightAverage.CopyInto(model, averaged);
        }

        using var optimizer = optim.AdamW(model.parameters(), options.LearningRate, weight_decay: options.WeightDecay);
        int s = Contract.InputSize, perFace = 3 * s * s, batch = Math.Min(options.BatchSize, train.Count);
        int stepsPerEpoch = Math.Max(1, (options.EpochSize ?? train.Count) / batch);
        long totalSteps = (long)stepsPerEpoch * options.Epochs;
        var stepLosses = new List<float>();
        var history = new List<EpochResult>(state.History);
        var input = new float[batch * perFace];
        var labels = new long[batch];
        using var augmenter = new CameraAugmenter(s, loader.BaseWindow, options.Augment);
        using var crop = new Mat(s, s, MatType.CV_8UC3);
        var byClass = Enumerable.Range(0, options.Classes.Count).Select(c => SamplingPool(train, c, options)).ToArray();
        var classShares = ClassShares(options);
        var synthesizer = new IncorrectMaskSynthesizer(loader.CacheSide, loader.BaseWindow / options.CropExpansion);
        // Donors for synthetic badly worn masks: photo faces large enough to show a nose and a mask's edge.
        var bareDonors = SyntheticDonors(train, MaskLabel.NoMask);
        var maskedDonors = SyntheticDonors(train, MaskLabel.Mask);
        bool synthesize = ThreeClasses && options.SyntheticIncorrect > 0 && bareDonors.Length > 0 && maskedDonors.Length > 0;
        if (ThreeClasses && options.SyntheticIncorrect > 0)
            TrainingProgress.Log(log, synthesize
                ? $"synthetic badly worn masks: {options.SyntheticIncorrect:P0} of the incorrect draws, from {bareDonors.Length} bare and {maskedDonors.Length} masked photo faces"
                : "synthetic badly worn masks: no photo faces ≥ 20 px of both kinds to compose them from; real ones only");
        long step = (long)state.Epoch * stepsPerEpoch;

        for (int epoch = state.Epoch + 1; epoch <= options.Epochs; epoch++)
        {
            cancel.ThrowIfCancellationRequested();
            long started = time.GetTimestamp();
            // A fresh generator per epoch keeps a resumed run on the same sample and augmentation stream.
            var rng = new Random(EpochSeed(options.Seed, epoch));
            model.train();
            double lossSum = 0;
            int lossCount = 0;
            for (int b = 0; b < stepsPerEpoch; b++)
            {
                for (int i = 0; i < batch; i++)
                {
                    // Class-balanced: pick the class first (by its share), then a face of it.
                    int drawn = PickClass(classShares, rng.NextDouble());
                    var pool = byClass[drawn];
                    var sample = train[pool[rng.Next(pool.Length)]];
                    if (synthesize && drawn == 2 && rng.NextDouble() < options.SyntheticIncorrect)
                        sample = synthesizer.Compose(train[bareDonors[rng.Next(bareDonors.Length)]], train[maskedDonors[rng.Next(maskedDonors.Length)]], rng);
                    augmenter.Apply(sample, rng, crop);
                    FaceCropper.WriteNormalized(crop, Contract, input.AsSpan(i * perFace, perFace));
                    labels[i] = ClassIndex(sample.Label, options.Incorrect);
                }
                SetLearningRate(optimizer, step, totalSteps);
                float loss;
                using (var scope = NewDisposeScope())
                {
                    var x = torch.tensor(input, [batch, 3, s, s]);
                    var y = torch.tensor(labels);
                    optimizer.zero_grad();
                    var output = model.forward(x);
                    var l = nn.functional.cross_entropy(output, y, label_smoothing: options.LabelSmoothing);
                    if (ThreeClasses && options.ViolationWeight > 0)
                    {
                        using var weight = ((float)options.ViolationWeight).ToScalar();
                        l = l.add(ViolationLoss(output, y), weight);
                    }
                    l.backward();
                    optimizer.step();
                    loss = l.item<float>();
                }
                if (averaged is not null) WeightAverage.Update(averaged, model, options.EmaDecay, step);
                stepLosses.Add(loss);
                lossSum += loss;
                lossCount++;
                step++;
                TrainingProgress.Bar(epoch, b + 1, stepsPerEpoch, lossSum / lossCount);
                if ((b + 1) % 20 == 0)
                    TrainingProgress.Log(log, string.Create(CultureInfo.InvariantCulture, $"epoch {epoch} step {b + 1}/{stepsPerEpoch} loss {lossSum / lossCount:0.0000}"));
                if (options.MaxSteps is int max && stepLosses.Count >= max) break;
            }
            var metrics = dev.SelectMany(d => Evaluation.Score(d, PredictTorch(selected, d.Samples), options.DevMinFace)).ToList();
            double score = Evaluation.SelectionScore(dev, metrics, options.DevMinFace, ThreeClasses);
            double seconds = time.GetElapsedTime(started).TotalSeconds;
            var result = new EpochResult(epoch, lossSum / Math.Max(1, lossCount), score, metrics, seconds);
            history.Add(result);
            TrainingProgress.EndBar();
            string line = string.Create(CultureInfo.InvariantCulture,
                $"epoch {epoch}/{options.Epochs} loss {result.TrainLoss:0.0000} score {score:P2} ({seconds:0}s) | {string.Join(" | ", metrics.Take(8))}");
            TrainingProgress.Log(log, line);
            logger.LogInformation("{Line}", line);

            model.save(lastCkpt);
            averaged?.save(EmaPath(lastCkpt));
            if (options.KeepEpochs) selected.save(EpochPath(epoch));
            bool improved = double.IsNaN(state.BestScore) || score > state.BestScore || state.BestEpoch == 0;
            if (improved)
            {
                selected.save(bestCkpt);
                state = state with { BestScore = score, BestEpoch = epoch, SinceBest = 0 };
            }
            else
            {
                state = state with { SinceBest = state.SinceBest + 1 };
            }
            state = state with { Epoch = epoch, History = [.. history], CommandLine = state.CommandLine.Length > 0 ? state.CommandLine : options.CommandLine };
            File.WriteAllText(statePath, JsonSerializer.Serialize(state, StateJson));
            if (options.MaxSteps is int m && stepLosses.Count >= m) break;
            if (state.SinceBest >= options.Patience)
            {
                TrainingProgress.Log(log, $"early stop: no better dev score for {options.Patience} epochs");
                break;
            }
        }

        int exportedEpoch = state.BestEpoch;
        if (options.ExportEpoch is int chosen)
        {
            // A hand-picked epoch of the history (e.g. the one that meets every target), kept by --keep-epochs.
            if (!File.Exists(EpochPath(chosen)))
                throw new ArgumentException($"--export-epoch {chosen}: '{EpochPath(chosen)}' does not exist; only a run with --keep-epochs keeps every epoch.");
            selected.load(EpochPath(chosen));
            exportedEpoch = chosen;
        }
        else if (File.Exists(bestCkpt))
        {
            selected.load(bestCkpt);
        }
        selected.eval();
        string? dir = Path.GetDirectoryName(Path.GetFullPath(options.OutputPath));
        if (dir is not null) Directory.CreateDirectory(dir);
        var bytes = SmallResNetExporter.Export(selected, Contract, new Dictionary<string, string>
        {
            ["edgemask.classifier.architecture"] = $"small ResNet, {options.Model}",
            ["edgemask.classifier.trained"] = DateTimeOffset.UtcNow.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
            ["edgemask.classifier.seed"] = options.Seed.ToString(CultureInfo.InvariantCulture),
            ["edgemask.classifier.weights"] = options.HalfPrecisionWeights ? "float16 (cast to float32 at load)" : "float32",
        }, options.HalfPrecisionWeights);
        File.WriteAllBytes(options.OutputPath, bytes);
        string sha = Convert.ToHexStringLower(SHA256.HashData(bytes));
        TrainingProgress.Log(log, $"wrote {options.OutputPath} ({bytes.Length} bytes, sha256 {sha}) from epoch {exportedEpoch}");

        // The figures that ship are measured on the exported file in ONNX Runtime, through the run-time classifier.
        var onnxDev = new List<DevMetric>();
        using (var classifier = MaskClassifier.Open(options.OutputPath, options.Threads))
        {
            foreach (var d in dev) onnxDev.AddRange(Evaluation.Score(d, PredictOnnx(classifier, d.Samples), options.DevMinFace));
        }
        foreach (var m in onnxDev) TrainingProgress.Log(log, $"onnx {m}");

        var result2 = new TrainingResult(options.OutputPath, sha, exportedEpoch, history, stepLosses, onnxDev, loader.Problems, train.Count, Contract)
        {
            BestScoreEpoch = state.BestEpoch,
        };
        if (options.CardPath is not null)
        {
            string command = state.CommandLine.Length == 0 || state.CommandLine == options.CommandLine
                ? options.CommandLine
                : $"{state.CommandLine}\n# then, to finish (resume / export the best checkpoint):\n{options.CommandLine}";
            File.WriteAllText(options.CardPath, ModelCard.Write(options with { CommandLine = command }, result2, bytes.Length, dev));
            TrainingProgress.Log(log, $"wrote model card {options.CardPath}");
        }
        return result2;
    }

    /// <summary>
    /// The sample and augmentation stream of one epoch. Deterministic across processes (unlike
    /// <see cref="HashCode.Combine{T1, T2}"/>, which .NET seeds randomly per process), so a resumed run replays
    /// the same epochs as an uninterrupted one.
    /// </summary>
    internal static int EpochSeed(int seed, int epoch) => unchecked(seed * 1_000_003 + epoch);

    private string EpochPath(int epoch) => Path.Combine(options.WorkDirectory, $"epoch-{epoch}.pt");

    /// <summary>The averaged weights' checkpoint next to the raw one (resume needs both).</summary>
    private static string EmaPath(string checkpoint) => Path.ChangeExtension(checkpoint, ".ema.pt");

    private (List<FaceSample> Train, List<FaceSet> Dev) LoadData(DatasetLoader loader)
    {
        var train = new List<FaceSample>();
        var dev = new List<FaceSet>();
        foreach (string folder in options.CropFolders)
        {
            string name = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder)));
            train.AddRange(loader.LoadCropFolder(folder, options.TrainSplit, forTraining: true, $"{name} {options.TrainSplit}").Samples);
            if (DatasetLoader.HasSplit(folder, options.DevSplit))
                dev.Add(loader.LoadCropFolder(folder, options.DevSplit, forTraining: false, $"{name} {options.DevSplit}"));
        }
        foreach (string folder in options.VocFolders)
        {
            string name = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder)));
            var faces = loader.LoadVoc(folder, options.TrainSplit, forTraining: true, $"{name} {options.TrainSplit}", options.MinFace).Samples;
            train.AddRange(options.Incorrect == IncorrectTraining.Skip ? faces.Where(f => !f.WornIncorrectly) : faces);
            if (DatasetLoader.HasSplit(folder, options.DevSplit))
                dev.Add(loader.LoadVoc(folder, options.DevSplit, forTraining: false, $"{name} {options.DevSplit}", 1f));
        }
        if (train.Count == 0)
            throw new DatasetException("No training images were found in the given folders; see the problems listed above.");
        train.RemoveAll(t => options.Incorrect == IncorrectTraining.Skip && t.WornIncorrectly);
        for (int c = 0; c < options.Classes.Count; c++)
        {
            if (!train.Any(t => ClassIndex(t.Label, options.Incorrect) == c))
                throw new DatasetException(c switch
                {
                    0 => "No training images of class 'mask' (folder 'with_mask/' or VOC class with_mask); every class is needed.",
                    1 => "No training images of class 'no_mask' (folder 'without_mask/' or VOC class without_mask); every class is needed.",
                    _ => "No training images of class 'incorrect' (folder 'mask_weared_incorrect/' or VOC class mask_weared_incorrect); "
                         + "give data with badly worn masks, or train a two-class model with --incorrect no_mask or --incorrect skip.",
                });
        }
        return (train, dev);
    }

    /// <summary>Indices of photo faces of <paramref name="label"/> at least 20 px, the donors of synthetic badly worn masks.</summary>
    private static int[] SyntheticDonors(List<FaceSample> train, MaskLabel label) =>
        Enumerable.Range(0, train.Count).Where(i => train[i].FromPhoto && train[i].Label == label && train[i].ShortSide >= 20).ToArray();

    /// <summary>The output column a face is trained towards: its label's, except a badly worn mask trained as no_mask.</summary>
    internal static int ClassIndex(MaskLabel label, IncorrectTraining incorrect) => label switch
    {
        MaskLabel.Mask => 0,
        MaskLabel.NoMask => 1,
        MaskLabel.Incorrect when incorrect == IncorrectTraining.Label => 2,
        MaskLabel.Incorrect => 1,
        _ => throw new ArgumentOutOfRangeException(nameof(label), label, "Unknown mask label."),
    };

    /// <summary>
    /// The share of each batch drawn from each class. Three classes: the badly worn masks get
    /// <see cref="TrainingOptions.IncorrectShare"/>, mask and no_mask split the rest; two classes: half each.
    /// </summary>
    internal static double[] ClassShares(TrainingOptions options) => options.Incorrect == IncorrectTraining.Label
        ? [(1 - options.IncorrectShare) / 2, (1 - options.IncorrectShare) / 2, options.IncorrectShare]
        : [0.5, 0.5];

    /// <summary>
    /// The two-way loss of what the product acts on: −log p(violation) for a no_mask or badly worn face, where
    /// p(violation) = p(no_mask) + p(incorrect) (<c>violation.incorrectCounts: violation</c>), and −log p(mask) for a
    /// proper mask; mean over the batch. The three-way cross-entropy charges a badly worn mask called no_mask as
    /// much as one called mask, though only the second lets the person pass unnoticed; this term charges only that.
    /// </summary>
    internal static Tensor ViolationLoss(Tensor logits, Tensor labels)
    {
        using var scope = NewDisposeScope();
        var logP = nn.functional.log_softmax(logits, 1);
        var logMask = logP.select(1, 0);
        var logViolation = logP.narrow(1, 1, logits.shape[1] - 1).logsumexp(1);
        using var maskClass = 0L.ToScalar();
        var perFace = torch.where(labels.ne(maskClass), logViolation, logMask);
        return perFace.mean().neg().MoveToOuterDisposeScope();
    }

    /// <summary>The class whose share covers <paramref name="u"/> ∈ [0, 1) on the cumulative scale.</summary>
    internal static int PickClass(double[] shares, double u)
    {
        double cumulative = 0;
        for (int c = 0; c < shares.Length - 1; c++)
        {
            cumulative += shares[c];
            if (u < cumulative) return c;
        }
        return shares.Length - 1;
    }

    internal MaskClassification[] PredictTorch(SmallResNet model, IReadOnlyList<FaceSample> samples)
    {
        model.eval();
        int s = Contract.InputSize, perFace = 3 * s * s, classes = model.Classes.Count;
        var result = new MaskClassification[samples.Count];
        const int chunk = 128;
        var buffer = new float[chunk * perFace];
        using var crop = new Mat(s, s, MatType.CV_8UC3);
        using var noGrad = no_grad();
        for (int start = 0; start < samples.Count; start += chunk)
        {
            int n = Math.Min(chunk, samples.Count - start);
            for (int i = 0; i < n; i++) Normalize(samples[start + i], crop, buffer.AsSpan(i * perFace, perFace));
            using var scope = NewDisposeScope();
            var x = torch.tensor(buffer.AsSpan(0, n * perFace).ToArray(), [n, 3, s, s]);
            var p = nn.functional.softmax(model.forward(x), 1).contiguous().data<float>().ToArray();
            for (int i = 0; i < n; i++)
                result[start + i] = classes == 3
                    ? new MaskClassification(p[i * 3], p[i * 3 + 1], p[i * 3 + 2])
                    : new MaskClassification(p[i * 2], p[i * 2 + 1], 0f);
        }
        return result;
    }

    internal static MaskClassification[] PredictOnnx(MaskClassifier classifier, IReadOnlyList<FaceSample> samples)
    {
        var result = new MaskClassification[samples.Count];
        for (int i = 0; i < samples.Count; i++)
        {
            var sample = samples[i];
            unsafe
            {
                fixed (byte* p = sample.Pixels)
                {
                    using var image = Mat.FromPixelData(sample.Side, sample.Side, MatType.CV_8UC3, (nint)p);
                    result[i] = classifier.ClassifyCrop(image);
                }
            }
        }
        return result;
    }

    private unsafe void Normalize(FaceSample sample, Mat crop, Span<float> target)
    {
        if (sample.Side != Contract.InputSize)
            throw new InvalidOperationException($"Dev sample {sample.File} is {sample.Side} px, expected {Contract.InputSize}.");
        fixed (byte* p = sample.Pixels)
        {
            using var image = Mat.FromPixelData(sample.Side, sample.Side, MatType.CV_8UC3, (nint)p);
            FaceCropper.WriteNormalized(image, Contract, target);
        }
    }

    private void SetLearningRate(optim.Optimizer optimizer, long step, long totalSteps)
    {
        // Short linear warm-up, then cosine decay to zero over the planned epochs.
        long warmup = Math.Min(100, totalSteps / 10);
        double lr = step < warmup
            ? options.LearningRate * (step + 1) / warmup
            : options.LearningRate * 0.5 * (1 + Math.Cos(Math.PI * Math.Min(1.0, (double)(step - warmup) / Math.Max(1, totalSteps - warmup))));
        foreach (var g in optimizer.ParamGroups) g.LearningRate = lr;
    }

    /// <summary>
    /// The faces of one output class to draw from. Trained as no_mask, a badly worn mask is listed
    /// <see cref="TrainingOptions.IncorrectWeight"/> times (it is rare and the hardest no_mask case).
    /// </summary>
    internal static int[] SamplingPool(IReadOnlyList<FaceSample> train, int classIndex, TrainingOptions options) =>
        Enumerable.Range(0, train.Count)
            .Where(i => ClassIndex(train[i].Label, options.Incorrect) == classIndex)
            .SelectMany(i => Enumerable.Repeat(i, train[i].WornIncorrectly && options.Incorrect == IncorrectTraining.NoMask ? options.IncorrectWeight : 1))
            .ToArray();

    private static readonly JsonSerializerOptions StateJson = new()
    {
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>What survives a cut-off run (next to last.pt / best.pt).</summary>
    internal sealed record RunState
    {
        public int Epoch { get; init; }
        public double BestScore { get; init; } = double.NaN;
        public int BestEpoch { get; init; }
        public int SinceBest { get; init; }
        public EpochResult[] History { get; init; } = [];
        /// <summary>The command that started the run, kept across resumes for the model card.</summary>
        public string CommandLine { get; init; } = "";
    }
}
