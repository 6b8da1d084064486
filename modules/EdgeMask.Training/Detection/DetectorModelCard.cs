using System.Globalization;
using System.Text;

namespace EdgeMask.Training.Detection;

/// <summary>Writes the Markdown model card of a fine-tuned RetinaFace.</summary>
internal static class DetectorModelCard
{
    public static string Write(DetectorTrainingOptions o, DetectorTrainingResult r)
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine($"# {Path.GetFileNameWithoutExtension(r.OnnxPath)} — RetinaFace-MNet0.25 fine-tuned for masked faces").AppendLine();
        sb.AppendLine("Fine-tuned by `edgemask-train detector` (TorchSharp, CPU) from the weights of the stock RetinaFace-MNet0.25 ONNX")
          .AppendLine("(`retinaface_mnet025.onnx`, biubug6/Pytorch_Retinaface, trained on WIDER FACE; see `../shared/models/PROVENANCE.md`).")
          .AppendLine("The tuned weights are written back into a copy of that ONNX graph (same nodes, shapes, input/output contract and")
          .AppendLine("prior-box configuration), so it is a drop-in replacement: `edgemask detect|eval|run --detector FILE`.")
          .AppendLine("Our own training code produced it from MIT-licensed weights; rebuild it with the command below.").AppendLine();
        sb.AppendLine("| item | value |").AppendLine("| --- | --- |");
        sb.AppendLine(inv, $"| file | `{Path.GetFileName(r.OnnxPath)}` |");
        sb.AppendLine(inv, $"| size | {r.Bytes:N0} bytes |");
        sb.AppendLine(inv, $"| sha256 | `{r.Sha256}` |");
        sb.AppendLine(inv, $"| date | {DateTimeOffset.UtcNow:yyyy-MM-dd} |");
        sb.AppendLine("| contract | unchanged from `retinaface_mnet025` in `models/manifest.json` (input `input` BGR minus mean (104, 117, 123); outputs `loc`, `conf`, `landmarks`; priors min sizes [[16,32],[64,128],[256,512]], steps [8,16,32], variances [0.1, 0.2]) |");
        sb.AppendLine(inv, $"| seed | {o.Seed} |");
        sb.AppendLine(inv, $"| best epoch | {r.BestEpoch} of {r.History.Count} run |");
        sb.AppendLine().AppendLine("## Data").AppendLine();
        sb.AppendLine(inv, $"Training: split `{o.TrainSplit}` of `{o.VocFolder}` — {r.TrainPhotos} photos, {r.TrainFaces} annotated faces (all three classes are faces).")
          .AppendLine(inv, $"Dev (split `{o.DevSplit}`, used for choosing the epoch and for the figures below): {r.DevPhotos} photos, {r.DevFaces} faces.")
          .AppendLine("The reserved evaluation split of voc853 (image numbers ≡ 4 mod 5) is not stored here and was never read.");
        sb.AppendLine().AppendLine("## Recipe").AppendLine();
        sb.AppendLine(inv, $"- Anchors from the manifest's prior configuration at {o.ImageSize}×{o.ImageSize}; matching: IoU ≥ {o.PositiveIoU} face, < {o.NegativeIoU} background, in between ignored; every face's best anchor is a face anchor.")
          .AppendLine("- Targets encoded with the variances (0.1, 0.2); hard-negative mining 3 : 1 per image.")
          .AppendLine(inv, $"- Loss = softmax cross-entropy + {o.BoxWeight} · smooth-L1(box) + {o.LandmarkWeight} · smooth-L1(landmarks){(o.DistillWeight > 0 ? string.Create(inv, $" + {o.DistillWeight} · KL(start model ‖ tuned) on the class probabilities of every anchor that is not an annotated face anchor (the frozen start model as teacher, so what it learned from WIDER FACE is kept)") : "")}; the VOC faces have no landmarks, so the landmark term is masked out (the landmark head is not trained).")
          .AppendLine(o.BareWeight != 1f
              ? string.Create(inv, $"- Annotated faces without a mask (and with one worn incorrectly) weigh {o.BareWeight} in the classification term (voc853 has five masked faces for each of them).")
              : "- Every annotated face weighs the same in the classification term.")
          .AppendLine(o.PseudoLabels is { } pl
              ? string.Create(inv, $"- Pseudo-labels: the start model's own detections on the training photos with a face score ≥ {pl.MinScore} (at {string.Join(", ", pl.Sizings)}) that match no annotated face (IoU < {pl.MaxOverlap}, less than half inside one) are trained as faces — {r.PseudoFaces} faces beside the {r.TrainFaces} annotated (faces the annotators left out, mostly in crowds).")
              : "- No pseudo-labels: only the annotated faces are faces.")
          .AppendLine(o.TeacherIgnoreAbove <= 1f ? string.Create(inv, $"- Background anchors on which the start model's face probability is ≥ {o.TeacherIgnoreAbove} are not mined as hard negatives (most are faces the annotators left out).") : "- Every background anchor may be mined as a hard negative.")
          .AppendLine(inv, $"- Augmentation: {(o.Augment ? "colour jitter (brightness, contrast, saturation, hue), " : "")}random square crop at a resize factor drawn log-uniformly in [{o.MinScale}, {o.MaxScale}] (below 1 = zoom-out with mean padding) {(o.MinVisible < 1f ? string.Create(inv, $"that keeps faces wholly inside, and faces it cuts with at least {o.MinVisible:P0} inside{(o.MaxCutSide is float mc ? string.Create(inv, $" and at most {mc} px on the short side in the input") : "")} (box clipped to the crop, as photos cut faces at their borders); a crop that cuts any other face is drawn again") : "that never cuts a face (faces wholly inside are kept; a crop that would cut one is drawn again)")}{(o.Augment ? ", horizontal flip with left/right landmark swap" : "")}.")
          .AppendLine(inv, $"- {(o.Optimizer == "sgd" ? "SGD (momentum 0.9)" : "AdamW")}, lr {o.LearningRate} (linear warm-up {o.WarmupSteps} steps, cosine decay to 5 %), weight decay {o.WeightDecay}, batch {o.BatchSize}, gradient norm ≤ 10, {o.Threads} CPU threads{(o.FreezeStage1 ? "; first backbone stage frozen at its pretrained weights" : "")}.")
          .AppendLine(o.EmaDecay > 0
              ? string.Create(inv, $"- The weights scored and shipped are the exponential moving average of the trained weights (decay {o.EmaDecay}).")
              : "- The weights scored and shipped are those of each epoch's last step (no averaging).")
          .AppendLine(inv, $"- Epoch selection: mean of masked ≥ 20 px, bare ≥ 20 px and < 20 px recall at the first dev scale; epochs with more false detections than {(o.MaxFalseDetections is int mf ? mf.ToString(inv) : "the stock model")} rank last.");
        sb.AppendLine().AppendLine("## Figures on voc853 dev (`edgemask eval --detector FILE`: ONNX Runtime, score > 0.5, NMS 0.4, IoU ≥ 0.5)").AppendLine();
        sb.AppendLine("| model | input | masked ≥ 20 px | bare ≥ 20 px | incorrect ≥ 20 px | all ≥ 20 px | < 20 px | all | false detections |")
          .AppendLine("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        foreach (var (name, list) in new[] { ("stock", r.Stock), ("tuned", r.Final) })
        {
            foreach (var f in list)
            {
                sb.AppendLine(inv, $"| {name} | {f.Input} | {Cell(f.RecallMaskedLarge)} | {Cell(f.RecallBareLarge)} | {Cell(f.RecallIncorrectLarge)} | {Cell(f.RecallLarge)} | {Cell(f.RecallSmall)} | {Cell(f.Recall)} | {f.FalseDetections} of {f.Detections} |");
            }
        }
        sb.AppendLine().AppendLine("Targets (issue 16, at the default operating point): masked ≥ 20 px ≥ 97 %, bare ≥ 20 px ≥ 97 %, < 20 px ≥ 80 %,")
          .AppendLine("false detections ≤ 100.").AppendLine();
        sb.AppendLine("## Training command").AppendLine().AppendLine("```").AppendLine(o.CommandLine).AppendLine("```").AppendLine();
        sb.AppendLine("## Training history").AppendLine();
        sb.AppendLine("| epoch | steps | loss | cls | box | " + string.Join(" | ", o.DevScales.Select(s => $"{s} masked / bare ≥20 / <20 / false")) + " | score | seconds |");
        sb.AppendLine("| --- | --- | --- | --- | --- | " + string.Join(" | ", o.DevScales.Select(_ => "---")) + " | --- | --- |");
        foreach (var e in r.History)
        {
            string dev = string.Join(" | ", e.Dev.Select(f => $"{DetectorFigures.Pct(f.RecallMaskedLarge)} / {DetectorFigures.Pct(f.RecallBareLarge)} / {DetectorFigures.Pct(f.RecallSmall)} / {f.FalseDetections}"));
            sb.AppendLine(inv, $"| {e.Epoch} | {e.Steps} | {e.Loss:0.0000} | {e.ClassLoss:0.0000} | {e.BoxLoss:0.0000} | {dev} | {e.Score:0.0000} | {e.Seconds:0} |");
        }
        if (r.DataProblems.Count > 0)
        {
            sb.AppendLine().AppendLine(inv, $"## Data problems reported ({r.DataProblems.Count})").AppendLine();
            foreach (string p in r.DataProblems.Take(20)) sb.AppendLine(inv, $"- {p}");
        }
        return sb.ToString();
    }

    private static string Cell(EdgeMask.Core.Evaluation.Fraction f) =>
        double.IsNaN(f.Value) ? "—" : string.Create(CultureInfo.InvariantCulture, $"{f.Value:P1} ({f.Hits}/{f.Total})");
}
