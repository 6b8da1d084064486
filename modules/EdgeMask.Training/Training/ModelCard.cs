using System.Globalization;
using System.Text;
using EdgeMask.Core.Detection;
using EdgeMask.Core.Evaluation;
using EdgeMask.Training.Data;
using EdgeMask.Training.Model;

namespace EdgeMask.Training.Training;

/// <summary>Writes the Markdown model card that ships next to the ONNX file.</summary>
internal static class ModelCard
{
    public static string Write(TrainingOptions o, TrainingResult r, long bytes, IReadOnlyList<FaceSet> dev)
    {
        var c = r.Contract;
        var sb = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        sb.AppendLine(c.HasIncorrect
            ? "# mask_classifier — EdgeMask mask / no mask / mask worn incorrectly classifier (small ResNet)"
            : "# mask_classifier — EdgeMask mask / no-mask classifier (small ResNet)").AppendLine();
        if (o.StartFrom is not null)
            sb.AppendLine("Fine-tuned by `edgemask-train classifier` (TorchSharp, CPU), starting from the weights of an earlier run of the same")
              .AppendLine(CultureInfo.InvariantCulture, $"shape (checkpoint `{o.StartFrom}`, `--start-from`; that run's own start and command are part of this recipe),")
              .AppendLine("all layers trained on the face data below. Exported by EdgeMask's own ONNX writer (BatchNorm folded into the convolutions).").AppendLine();
        else if (o.InitFrom is null)
            sb.AppendLine("Trained from scratch by `edgemask-train classifier` (TorchSharp, CPU); exported by EdgeMask's own ONNX writer")
              .AppendLine("(BatchNorm folded into the convolutions). No pretrained weights are used.").AppendLine();
        else
            sb.AppendLine("Trained by `edgemask-train classifier` (TorchSharp, CPU), starting from the ImageNet ResNet-18 weights of the NuGet")
              .AppendLine(CultureInfo.InvariantCulture, $"package `{PretrainedResNet18.PackageId}` {PretrainedResNet18.PackageVersion} (MIT licence, © Microsoft; file `{PretrainedResNet18.FileInPackage}`):")
              .AppendLine("the stem and every layer whose shape matches ResNet-18's are initialised from it, then all layers are trained on")
              .AppendLine("the face data below. Exported by EdgeMask's own ONNX writer (BatchNorm folded into the convolutions).").AppendLine();
        sb.AppendLine("| item | value |").AppendLine("| --- | --- |");
        sb.AppendLine(inv, $"| file | `{Path.GetFileName(r.OnnxPath)}` |");
        sb.AppendLine(inv, $"| size | {bytes:N0} bytes |");
        sb.AppendLine(inv, $"| sha256 | `{r.Sha256}` |");
        sb.AppendLine(inv, $"| date | {DateTimeOffset.UtcNow:yyyy-MM-dd} |");
        sb.AppendLine(inv, $"| architecture | small ResNet: {o.Model} (BasicBlocks, projection shortcut at each stride-2 stage start) |");
        sb.AppendLine(inv, $"| format | ONNX IR 8, opset 13, {(o.HalfPrecisionWeights ? "weights stored as float16 and cast to float32 at load (computation in float32)" : "float32")}, dynamic batch |");
        sb.AppendLine(inv, $"| input | `{c.InputName}` float32 `[N, 3, {c.InputSize}, {c.InputSize}]`, NCHW, {c.ColorOrder.ToString().ToUpperInvariant()}, (pixel − mean) / std with mean ({string.Join(", ", c.Mean.Select(v => v.ToString(inv)))}) and std ({string.Join(", ", c.Std.Select(v => v.ToString(inv)))}) in 0–255 units |");
        sb.AppendLine(inv, $"| crop | square, side = longer side of the face box × {c.CropExpansion.ToString(inv)}, centred on the box, border replicated; an image that is one crop is padded to a square |");
        sb.AppendLine(inv, $"| output | `{c.OutputName}` float32 `[N, {c.Classes.Length}]`, softmax, columns [{string.Join(", ", c.Classes)}] |");
        string incorrect = o.Incorrect switch
        {
            IncorrectTraining.Label => $"incorrect (its own class; {o.IncorrectShare:P0} of every batch, mask and no_mask half of the rest each)",
            IncorrectTraining.NoMask => "no_mask (counted as a violation)" + (o.IncorrectWeight > 1 ? $", drawn {o.IncorrectWeight}× as often as other no_mask faces" : ""),
            _ => "left out of training",
        };
        sb.AppendLine(inv, $"| classes | with_mask → mask; without_mask → no_mask; mask_weared_incorrect → {incorrect} |");
        if (o.ViolationWeight > 0 && c.HasIncorrect)
            sb.AppendLine(inv, $"| loss | cross-entropy (label smoothing {o.LabelSmoothing}) + {o.ViolationWeight} × −log p(violation) (p(no_mask) + p(incorrect); −log p(mask) for a proper mask) |");
        sb.AppendLine(inv, $"| seed | {o.Seed} |");
        string why = r.BestEpoch == r.BestScoreEpoch
            ? "the best dev score"
            : string.Create(inv, $"chosen with `--export-epoch` (best dev score: epoch {r.BestScoreEpoch})");
        sb.AppendLine(inv, $"| exported epoch | {r.BestEpoch} of {r.History.Count} run, {why} (max {o.Epochs}, early-stopping patience {o.Patience}) |");
        sb.AppendLine().AppendLine("## Data").AppendLine();
        sb.AppendLine(inv, $"Training: split `{o.TrainSplit}` of {string.Join(", ", o.CropFolders.Concat(o.VocFolders).Select(f => $"`{f}`"))} — {r.TrainCount} faces")
          .AppendLine(inv, $"(VOC faces with a shorter side under {o.MinFace} px left out). Class-balanced sampling, camera augmentation")
          .AppendLine("(scale/shift jitter, rotation ±12°, mirror, low resolution, blur, brightness/contrast, grey, JPEG).")
          .AppendLine(inv, $"Dev (split `{o.DevSplit}`, used only for model selection / early stopping and for the figures below): {string.Join(", ", dev.Select(d => $"{d.Name} ({d.Samples.Count} faces)"))}.")
          .AppendLine("The reserved evaluation split of voc853 (image numbers ≡ 4 mod 5) is not stored here and was never read.");
        sb.AppendLine().AppendLine("## Accuracy on dev crops (ONNX Runtime, the shipped file, run-time cropping)").AppendLine();
        sb.AppendLine("\"mask vs no_mask\": with_mask and without_mask faces only, right when a with_mask face is labelled mask and a")
          .AppendLine("without_mask face no_mask or incorrect (a violation either way). \"exact\": every face, right only with its own label.")
          .AppendLine("\"caught\": badly worn masks labelled no_mask or incorrect, i.e. raised as a violation by the default policy.").AppendLine();
        sb.AppendLine("| set | faces | mask vs no_mask | exact | recall mask | recall no_mask | recall incorrect | incorrect caught |")
          .AppendLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var m in r.OnnxDev)
        {
            var k = m.Confusion;
            sb.AppendLine(inv, $"| {m.Name} | {m.Count} | {k.MaskVersusNoMask.ToPercent()} | {k.Accuracy.ToPercent()} | {Of(k.Recall(MaskLabel.Mask))} | {Of(k.Recall(MaskLabel.NoMask))} | {Of(k.Recall(MaskLabel.Incorrect))} | {Of(k.CaughtAsViolation(MaskLabel.Incorrect))} |");
        }
        foreach (var m in r.OnnxDev.Where(m => m.Confusion.TruthCount(MaskLabel.Incorrect) > 0 || c.HasIncorrect))
            sb.AppendLine().AppendLine(inv, $"Confusion matrix, {m.Name} (rows: annotated class, columns: label given):").AppendLine()
              .Append(m.Confusion.ToMarkdown("annotated \\ labelled"));
        sb.AppendLine().AppendLine("Targets (issue 17, voc853 dev faces ≥ 20 px): mask vs no_mask ≥ 98.5 %; mask_weared_incorrect caught as a violation ≥ 90 % and")
          .AppendLine("labelled incorrect ≥ 70 %; cd7 dev ≥ 99 %.").AppendLine();
        sb.AppendLine("## Training command").AppendLine().AppendLine("```").AppendLine(o.CommandLine).AppendLine("```").AppendLine();
        // Every epoch's figures (TorchSharp, the averaged weights), so the card shows how much the chosen epoch depends on luck.
        var columns = r.History.Count == 0 ? [] : r.History[0].Dev.Select(d => d.Name).ToList();
        sb.AppendLine("## Training history").AppendLine()
          .AppendLine("Per epoch, on each dev subset: mask vs no_mask accuracy; where the subset has badly worn masks, also their recall as")
          .AppendLine("incorrect / caught as a violation.").AppendLine()
          .Append("| epoch | train loss | dev score | seconds |").AppendJoin("", columns.Select(n => $" {n} |")).AppendLine()
          .Append("| --- | --- | --- | --- |").AppendJoin("", columns.Select(_ => " --- |")).AppendLine();
        foreach (var e in r.History)
        {
            sb.Append(inv, $"| {e.Epoch} | {e.TrainLoss:0.0000} | {Pct(e.Score)} | {e.Seconds:0} |");
            foreach (string name in columns)
            {
                var k = e.Dev.FirstOrDefault(d => d.Name == name)?.Confusion;
                sb.Append(' ').Append(k is null ? "—" : k.TruthCount(MaskLabel.Incorrect) == 0
                    ? k.MaskVersusNoMask.ToPercent()
                    : $"{k.MaskVersusNoMask.ToPercent()}; {Of(k.Recall(MaskLabel.Incorrect))} / {Of(k.CaughtAsViolation(MaskLabel.Incorrect))}").Append(" |");
            }
            sb.AppendLine();
        }
        if (r.DataProblems.Count > 0)
        {
            sb.AppendLine().AppendLine(inv, $"## Data problems reported ({r.DataProblems.Count})").AppendLine();
            foreach (string p in r.DataProblems.Take(20)) sb.AppendLine(inv, $"- {p}");
        }
        return sb.ToString();
    }

    private static string Pct(double v) => double.IsNaN(v) ? "—" : v.ToString("P2", CultureInfo.InvariantCulture);

    /// <summary>"80.6 % (25/31)": with so few faces in a class the count says more than the percentage.</summary>
    private static string Of(Fraction f) => f.Total == 0 ? "—" : $"{f.ToPercent(1)} ({f.Hits}/{f.Total})";
}
