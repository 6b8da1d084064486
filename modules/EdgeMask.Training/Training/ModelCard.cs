using System.Globalization;
using System.Text;
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
        sb.AppendLine("# mask_classifier — EdgeMask mask / no-mask classifier (small ResNet)").AppendLine();
        if (o.InitFrom is null)
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
        sb.AppendLine(inv, $"| output | `{c.OutputName}` float32 `[N, 2]`, softmax, columns [{string.Join(", ", c.Classes)}] |");
        sb.AppendLine(inv, $"| classes | with_mask → mask; without_mask → no_mask; mask_weared_incorrect → {(o.IncorrectAsNoMask ? "no_mask (a product counts it as a violation)" : "left out of training")}{(o.IncorrectAsNoMask && o.IncorrectWeight > 1 ? $", drawn {o.IncorrectWeight}× as often as other no_mask faces" : "")} |");
        sb.AppendLine(inv, $"| seed | {o.Seed} |");
        sb.AppendLine(inv, $"| best epoch | {r.BestEpoch} of {r.History.Count} run (max {o.Epochs}, early-stopping patience {o.Patience}) |");
        sb.AppendLine().AppendLine("## Data").AppendLine();
        sb.AppendLine(inv, $"Training: split `{o.TrainSplit}` of {string.Join(", ", o.CropFolders.Concat(o.VocFolders).Select(f => $"`{f}`"))} — {r.TrainCount} faces")
          .AppendLine(inv, $"(VOC faces with a shorter side under {o.MinFace} px left out). Class-balanced sampling, camera augmentation")
          .AppendLine("(scale/shift jitter, rotation ±12°, mirror, low resolution, blur, brightness/contrast, grey, JPEG).")
          .AppendLine(inv, $"Dev (split `{o.DevSplit}`, used only for model selection / early stopping and for the figures below): {string.Join(", ", dev.Select(d => $"{d.Name} ({d.Samples.Count} faces)"))}.")
          .AppendLine("The reserved evaluation split of voc853 (image numbers ≡ 4 mod 5) is not stored here and was never read.");
        sb.AppendLine().AppendLine("## Accuracy on dev crops (ONNX Runtime, the shipped file, run-time cropping)").AppendLine();
        sb.AppendLine("| set | faces | accuracy | mask recall | no_mask recall |").AppendLine("| --- | --- | --- | --- | --- |");
        foreach (var m in r.OnnxDev)
            sb.AppendLine(inv, $"| {m.Name} | {m.Count} | {Pct(m.Accuracy)} | {Pct(m.RecallMask)} | {Pct(m.RecallNoMask)} |");
        sb.AppendLine().AppendLine("Targets (issue 3): ≥ 98 % on voc853 dev faces ≥ 20 px, ≥ 98.5 % on cd7 dev.").AppendLine();
        sb.AppendLine("## Training command").AppendLine().AppendLine("```").AppendLine(o.CommandLine).AppendLine("```").AppendLine();
        sb.AppendLine("## Training history").AppendLine().AppendLine("| epoch | train loss | dev score | seconds |").AppendLine("| --- | --- | --- | --- |");
        foreach (var e in r.History)
            sb.AppendLine(inv, $"| {e.Epoch} | {e.TrainLoss:0.0000} | {Pct(e.Score)} | {e.Seconds:0} |");
        if (r.DataProblems.Count > 0)
        {
            sb.AppendLine().AppendLine(inv, $"## Data problems reported ({r.DataProblems.Count})").AppendLine();
            foreach (string p in r.DataProblems.Take(20)) sb.AppendLine(inv, $"- {p}");
        }
        return sb.ToString();
    }

    private static string Pct(double v) => double.IsNaN(v) ? "—" : v.ToString("P2", CultureInfo.InvariantCulture);
}
