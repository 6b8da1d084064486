using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using EdgeMask.Core.Detection;
using EdgeMask.Inference.Models;
using EdgeMask.Training.Onnx;
using EdgeMask.Training.Training;
using Microsoft.Extensions.Logging;
using OpenCvSharp;
using TorchSharp;
using static TorchSharp.torch;

namespace EdgeMask.Training.Detection;

/// <summary>One epoch of detector fine-tuning: mean losses, dev figures per scale, and the selection score.</summary>
internal sealed record DetectorEpoch(int Epoch, int Steps, double Loss, double ClassLoss, double BoxLoss, double Seconds,
    IReadOnlyList<DetectorFigures> Dev, double Score);

/// <summary>The outcome of a detector fine-tuning run.</summary>
internal sealed record DetectorTrainingResult(
    string OnnxPath, string Sha256, long Bytes, int BestEpoch, IReadOnlyList<DetectorEpoch> History, IReadOnlyList<float> StepLosses,
    IReadOnlyList<DetectorFigures> Stock, IReadOnlyList<DetectorFigures> Final, int TrainPhotos, int TrainFaces, int DevPhotos, int DevFaces,
    IReadOnlyList<string> DataProblems, int PseudoFaces = 0);

/// <summary>
/// Fine-tunes RetinaFace-MNet0.25 in TorchSharp from the weights of its ONNX file: augmentation
/// (<see cref="DetectionAugmenter"/>), anchor matching (<see cref="AnchorMatcher"/>), multi-task loss with hard-negative
/// mining (<see cref="MultiBoxLoss"/>), AdamW with warm-up and cosine decay. After every epoch the weights are written
/// into a copy of the start ONNX (work/last.onnx — also the checkpoint a resumed run loads) and scored on the dev split
/// by the run-time detector; the best epoch is kept (work/best.onnx) and copied to the output with a model card.
/// </summary>
internal sealed class DetectorTrainer(DetectorTrainingOptions options, ILogger logger, TimeProvider time)
{
    /// <summary>Gradient norm bound: without BatchNorm an unlucky batch could otherwise throw the pretrained weights far off.</summary>
    private const double MaxGradNorm = 10.0;

    public DetectorTrainingResult Run(CancellationToken cancel = default)
    {
        options.Validate();
        long runStarted = time.GetTimestamp();
        using var log = TrainingProgress.StartRun(options.Threads, options.Seed, options.WorkDirectory, options.CommandLine);

        var entry = ModelManifest.Embedded.GetByRole("detector");
        var priorConfig = entry.GetPriorBoxConfig();
        var mean = entry.Input.Mean;
        var start = OnnxGraphFile.Load(options.StartDetector);
        using var net = new RetinaFaceNet();
        net.LoadFrom(start);

        // With an average (--ema), last.onnx holds the averaged weights — what is scored, chosen and shipped — and
        // last-raw.onnx the weights of the last step, which a resumed run continues from.
        string lastPath = Path.Combine(options.WorkDirectory, "last.onnx"), bestPath = Path.Combine(options.WorkDirectory, "best.onnx");
        string rawPath = Path.Combine(options.WorkDirectory, "last-raw.onnx");
        string statePath = Path.Combine(options.WorkDirectory, "state.json");
        using var averaged = options.EmaDecay > 0 ? new RetinaFaceNet() : null;
        averaged?.LoadFrom(start);
        var state = new DetectorRunState();
        if (options.Resume && File.Exists(lastPath) && File.Exists(statePath))
        {
            if (averaged is not null && !File.Exists(rawPath))
                throw new IOException($"{rawPath} is missing: --resume with --ema needs the last step's weights next to {lastPath}; start the run again without --resume.");
            net.LoadFrom(OnnxGraphFile.Load(averaged is null ? lastPath : rawPath));
            averaged?.LoadFrom(OnnxGraphFile.Load(lastPath));
            state = JsonSerializer.Deserialize<DetectorRunState>(File.ReadAllText(statePath), StateJson) ?? new DetectorRunState();
            logger.LogInformation("Resuming after epoch {Epoch} (best epoch {Best})", state.Epoch, state.BestEpoch);
        }
        var exported = averaged ?? net;

        using var train = VocPhotoSet.Load(options.VocFolder, options.TrainSplit, logger);
        using var dev = VocPhotoSet.Load(options.VocFolder, options.DevSplit, logger);
        var devPhotos = options.DevLimit is int limit ? dev.Photos.Take(limit).ToList() : dev.Photos.ToList();
        var evaluator = new DetectorDevEvaluator(entry, options.Threads, logger);
        TrainingProgress.Log(log, $"train {train.Photos.Count} photos / {train.FaceCount} faces; dev {devPhotos.Count} photos");
        var pseudo = options.PseudoLabels is { } pl
            ? TeacherPseudoLabels.Find(options.StartDetector, entry, train.Photos, pl, options.Threads, logger)
            : null;
        var trainFaces = train.Photos.Select((photo, i) => pseudo is null
            ? photo.FacesWeighted(options.BareWeight)
            : [.. photo.FacesWeighted(options.BareWeight), .. pseudo[i].Select(b => new TrainingFace(b, null))]).ToArray();
        int pseudoCount = pseudo?.Sum(x => x.Count) ?? 0;
        if (pseudo is not null) TrainingProgress.Log(log, $"pseudo-labels: {pseudoCount} faces found by the start model beyond the annotations");

        var stock = state.Stock.Length > 0 ? state.Stock : options.DevScales.Select(s => evaluator.Evaluate(options.StartDetector, devPhotos, s)).ToArray();
        foreach (var f in stock) TrainingProgress.Log(log, $"stock {f}");
        foreach (var f in stock) logger.LogInformation("stock {Figures}", f.ToString());

        // The start model, frozen, as the teacher of the distillation term: what it knows of WIDER FACE stays.
        using var teacher = options.Teacher is null ? null : new RetinaFaceNet();
        if (teacher is not null)
        {
            teacher.LoadFrom(start);
            teacher.eval();
            foreach (var tp in teacher.parameters()) tp.requires_grad = false;
        }

        if (options.FreezeStage1) net.FreezeStage1();
        var trainable = net.parameters().Where(x => x.requires_grad).ToList();
        using optim.Optimizer optimizer = options.Optimizer == "sgd"
            ? optim.SGD(trainable, options.LearningRate, momentum: 0.9, weight_decay: options.WeightDecay)
            : optim.AdamW(trainable, options.LearningRate, weight_decay: options.WeightDecay);
        var aug = options.Augmentation;
        var pad = DetectionAugmenter.PadColor(mean);
        var thresholds = new MatchingThresholds(options.PositiveIoU, options.NegativeIoU);
        var loss = new MultiBoxLoss(options.BoxWeight, options.LandmarkWeight, teacher: options.Teacher);
        int maxFalse = options.MaxFalseDetections ?? stock[0].FalseDetections;
        int s = options.ImageSize;
        var priors = PriorBoxes.Generate(priorConfig, s, s);
        int p = priors.Length / 4;
        int perEpoch = Math.Min(options.EpochSize ?? train.Photos.Count, train.Photos.Count);
        int batch = Math.Min(options.BatchSize, perEpoch);
        int stepsPerEpoch = Math.Max(1, perEpoch / batch);
        long totalSteps = Math.Min((long)stepsPerEpoch * options.Epochs, options.MaxSteps ?? long.MaxValue);
        var input = new float[batch * 3 * s * s];
        var labels = new long[batch * p];
        var locT = new float[batch * p * 4];
        var lmT = new float[batch * p * 10];
        var lmMask = new float[batch * p];
        var weights = options.BareWeight == 1f ? null : new float[batch * p];
        using var canvas = new Mat(s, s, MatType.CV_8UC3);
        var stepLosses = new List<float>();
        var history = new List<DetectorEpoch>(state.History);
        long step = (long)state.Epoch * stepsPerEpoch;
        int resumedEpochs = history.Count;

        for (int epoch = state.Epoch + 1; epoch <= options.Epochs; epoch++)
        {
            cancel.ThrowIfCancellationRequested();
            long started = time.GetTimestamp();
            // A generator per epoch from (seed, epoch) keeps a resumed run on the same sample and augmentation stream.
            var rng = new Random(unchecked(options.Seed * 1_000_003 + epoch));
            var order = Enumerable.Range(0, train.Photos.Count).ToArray();
            rng.Shuffle(order);
            net.train();
            double sum = 0, clsSum = 0, boxSum = 0, distillSum = 0;
            int count = 0;
            double dataSeconds = 0, stepSeconds = 0;
            for (int b = 0; b < stepsPerEpoch; b++)
            {
                long t0 = time.GetTimestamp();
                for (int i = 0; i < batch; i++)
                {
                    int index = order[(b * batch + i) % order.Length];
                    var photo = train.Photos[index];
                    var faces = options.Augment
                        ? DetectionAugmenter.Apply(photo.Image, trainFaces[index], aug, pad, rng, canvas)
                        : DetectionAugmenter.Apply(photo.Image, trainFaces[index], aug with { MinScale = 1f, MaxScale = 1f }, pad, rng, canvas);
                    WritePlanar(canvas, mean, input.AsSpan(i * 3 * s * s, 3 * s * s));
                    AnchorMatcher.Match(priors, s, s, faces, thresholds, priorConfig.CenterVariance, priorConfig.SizeVariance,
                        labels.AsSpan(i * p, p), locT.AsSpan(i * p * 4, p * 4), lmT.AsSpan(i * p * 10, p * 10), lmMask.AsSpan(i * p, p),
                        weights is null ? [] : weights.AsSpan(i * p, p));
                }
                long t1 = time.GetTimestamp();
                dataSeconds += time.GetElapsedTime(t0, t1).TotalSeconds;
                SetLearningRate(optimizer, step, totalSteps);
                LossParts parts;
                float l;
                using (var scope = NewDisposeScope())
                {
                    optimizer.zero_grad();
                    var x = torch.tensor(input, [batch, 3, s, s]);
                    Tensor? teacherLogits = null;
                    if (teacher is not null)
                    {
                        using var noGrad = no_grad();
                        using var taught = teacher.forward(x);
                        teacherLogits = taught.Logits.detach();
                    }
                    using var outputs = net.forward(x);
                    parts = loss.Compute(outputs, torch.tensor(labels, [batch, p]), torch.tensor(locT, [batch, p, 4]),
                        torch.tensor(lmT, [batch, p, 10]), torch.tensor(lmMask, [batch, p]), teacherLogits,
                        weights is null ? null : torch.tensor(weights, [batch, p]));
                    parts.Total.backward();
                    nn.utils.clip_grad_norm_(trainable, MaxGradNorm);
                    optimizer.step();
                    l = parts.Total.item<float>();
                }
                if (averaged is not null) WeightAverage.Update(averaged, net, options.EmaDecay, step);
                stepSeconds += time.GetElapsedTime(t1).TotalSeconds;
                stepLosses.Add(l);
                sum += l; clsSum += parts.Classification; boxSum += parts.Box; distillSum += parts.Distillation; count++;
                step++;
                TrainingProgress.Bar(epoch, b + 1, stepsPerEpoch, sum / count);
                if ((b + 1) % 10 == 0 || b < 3)
                    TrainingProgress.Log(log, string.Create(CultureInfo.InvariantCulture,
                        $"epoch {epoch} step {b + 1}/{stepsPerEpoch} loss {sum / count:0.0000} (cls {clsSum / count:0.0000} box {boxSum / count:0.0000} distill {distillSum / count:0.0000}) data {dataSeconds / count:0.00}s + step {stepSeconds / count:0.00}s per batch"));
                if (options.MaxSteps is int max && stepLosses.Count >= max) break;
            }
            TrainingProgress.EndBar();

            net.eval();
            if (averaged is not null) File.WriteAllBytes(rawPath, start.WithInitializers(net.ToInitializers(start)));
            File.WriteAllBytes(lastPath, start.WithInitializers(exported.ToInitializers(start)));
            var figures = options.DevScales.Select(sc => evaluator.Evaluate(lastPath, devPhotos, sc)).ToList();
            double score = Score(figures[0], maxFalse);
            double seconds = time.GetElapsedTime(started).TotalSeconds;
            var result = new DetectorEpoch(epoch, count, sum / Math.Max(1, count), clsSum / Math.Max(1, count), boxSum / Math.Max(1, count), seconds, figures, score);
            history.Add(result);
            string line = string.Create(CultureInfo.InvariantCulture,
                $"epoch {epoch}/{options.Epochs} loss {result.Loss:0.0000} (cls {result.ClassLoss:0.0000} box {result.BoxLoss:0.0000}) score {score:0.0000} ({seconds:0}s) | {string.Join(" | ", figures)}");
            TrainingProgress.Log(log, line);
            logger.LogInformation("{Line}", line);
            if (state.BestEpoch == 0 || score > state.BestScore)
            {
                File.Copy(lastPath, bestPath, overwrite: true);
                state = state with { BestEpoch = epoch, BestScore = score };
            }
            state = state with
            {
                Epoch = epoch, History = [.. history], Stock = [.. stock],
                CommandLine = state.CommandLine.Length > 0 ? state.CommandLine : options.CommandLine,
            };
            File.WriteAllText(statePath, JsonSerializer.Serialize(state, StateJson));
            if (options.MaxSteps is int m && stepLosses.Count >= m) break;
            double elapsedMinutes = time.GetElapsedTime(runStarted).TotalMinutes;
            double epochMinutes = history.Skip(resumedEpochs).Max(h => h.Seconds) / 60;
            if (options.MaxMinutes is double budget && epoch < options.Epochs && elapsedMinutes + epochMinutes > budget)
            {
                TrainingProgress.Log(log, string.Create(CultureInfo.InvariantCulture, $"time budget: {elapsedMinutes:0.0} of {budget:0} minutes used and an epoch takes about {epochMinutes:0.0}; stopping after epoch {epoch}"));
                logger.LogInformation("Time budget of {Budget} minutes reached after epoch {Epoch}", budget, epoch);
                break;
            }
        }

        string chosen = File.Exists(bestPath) ? bestPath : lastPath;
        if (!File.Exists(chosen)) File.WriteAllBytes(chosen, start.WithInitializers(exported.ToInitializers(start)));
        string? dir = Path.GetDirectoryName(Path.GetFullPath(options.OutputPath));
        if (dir is not null) Directory.CreateDirectory(dir);
        File.Copy(chosen, options.OutputPath, overwrite: true);
        byte[] bytes = File.ReadAllBytes(options.OutputPath);
        string sha = Convert.ToHexStringLower(SHA256.HashData(bytes));
        TrainingProgress.Log(log, $"wrote {options.OutputPath} ({bytes.Length} bytes, sha256 {sha}) from epoch {state.BestEpoch}");

        // The figures that ship: the written file, every dev photo, through the run-time detector.
        var final = options.DevLimit is null && state.BestEpoch > 0 && history.FirstOrDefault(h => h.Epoch == state.BestEpoch) is { } best
            ? best.Dev
            : options.DevScales.Select(sc => evaluator.Evaluate(options.OutputPath, dev.Photos, sc)).ToList();
        var finalStock = options.DevLimit is null
            ? stock
            : options.DevScales.Select(sc => evaluator.Evaluate(options.StartDetector, dev.Photos, sc)).ToArray();
        foreach (var f in final) TrainingProgress.Log(log, $"final {f}");

        var outcome = new DetectorTrainingResult(options.OutputPath, sha, bytes.Length, state.BestEpoch, history, stepLosses,
            finalStock, final, train.Photos.Count, train.FaceCount, dev.Photos.Count, dev.FaceCount, [.. train.Problems, .. dev.Problems], pseudoCount);
        if (options.CardPath is not null)
        {
            string command = state.CommandLine.Length == 0 || state.CommandLine == options.CommandLine
                ? options.CommandLine
                : $"{state.CommandLine}\n# then, to finish (resume):\n{options.CommandLine}";
            File.WriteAllText(options.CardPath, DetectorModelCard.Write(options with { CommandLine = command }, outcome));
            TrainingProgress.Log(log, $"wrote model card {options.CardPath}");
        }
        return outcome;
    }

    /// <summary>
    /// Selection score from the first dev scale: the mean of masked-face recall ≥ 20 px, bare-face recall ≥ 20 px and
    /// recall &lt; 20 px (the issue's three targets), minus 1 when the epoch makes more than <paramref name="maxFalse"/>
    /// false detections (by default the stock model's count), so any epoch that keeps precision ranks above every one
    /// that does not.
    /// </summary>
    internal static double Score(DetectorFigures f, int maxFalse)
    {
        static double V(EdgeMask.Core.Evaluation.Fraction x) => double.IsNaN(x.Value) ? 0 : x.Value;
        double mean = (V(f.RecallMaskedLarge) + V(f.RecallBareLarge) + V(f.RecallSmall)) / 3;
        return f.FalseDetections > maxFalse ? mean - 1 : mean;
    }

    /// <summary>HWC BGR bytes → CHW float minus the model's BGR mean (the detector's own preprocessing, without the resize).</summary>
    internal static unsafe void WritePlanar(Mat bgr, IReadOnlyList<float> mean, Span<float> target)
    {
        int h = bgr.Rows, w = bgr.Cols, plane = h * w;
        if (target.Length != 3 * plane) throw new ArgumentException("Input buffer does not match the image size.");
        float mb = mean[0], mg = mean[1], mr = mean[2];
        long stepBytes = bgr.Step();
        byte* data = (byte*)bgr.DataPointer;
        for (int y = 0; y < h; y++)
        {
            byte* row = data + y * stepBytes;
            int o = y * w;
            for (int x = 0; x < w; x++, row += 3, o++)
            {
                target[o] = row[0] - mb;
                target[plane + o] = row[1] - mg;
                target[2 * plane + o] = row[2] - mr;
            }
        }
    }

    private void SetLearningRate(optim.Optimizer optimizer, long step, long totalSteps)
    {
        long warmup = Math.Min(options.WarmupSteps, Math.Max(0, totalSteps / 5));
        double lr = step < warmup
            ? options.LearningRate * (step + 1) / warmup
            : options.LearningRate * (0.05 + 0.95 * 0.5 * (1 + Math.Cos(Math.PI * Math.Min(1.0, (double)(step - warmup) / Math.Max(1, totalSteps - warmup)))));
        foreach (var g in optimizer.ParamGroups) g.LearningRate = lr;
    }

    private static readonly JsonSerializerOptions StateJson = new()
    {
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
        WriteIndented = true,
    };

    /// <summary>What survives a cut-off run (next to last.onnx / best.onnx).</summary>
    internal sealed record DetectorRunState
    {
        public int Epoch { get; init; }
        public double BestScore { get; init; } = double.NegativeInfinity;
        public int BestEpoch { get; init; }
        public DetectorEpoch[] History { get; init; } = [];
        public DetectorFigures[] Stock { get; init; } = [];
        public string CommandLine { get; init; } = "";
    }
}
