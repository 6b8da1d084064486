using System.Text.Json;
using EdgeMask.Core.Detection;

namespace EdgeMask.Module.Cli;

/// <summary>
/// The <c>mask</c> object of <c>classify --json</c> and <c>detect --json</c>: the classifier's label of that face in that
/// one image (the likeliest class), its probability, and every class probability keyed by label.
/// </summary>
internal static class MaskJson
{
    /// <param name="hasIncorrect">Whether the model has the incorrect class; a two-class model's output has no <c>incorrect</c> key.</param>
    public static void Write(Utf8JsonWriter w, in MaskClassification c, bool hasIncorrect)
    {
        w.WriteStartObject("mask");
        w.WriteString("label", c.LabelText);
        w.WriteNumber("probability", Math.Round(c.Probability, 4));
        w.WriteStartObject("probabilities");
        w.WriteNumber(MaskLabelExtensions.MaskWireName, Math.Round(c.MaskProbability, 4));
        w.WriteNumber(MaskLabelExtensions.NoMaskWireName, Math.Round(c.NoMaskProbability, 4));
        if (hasIncorrect) w.WriteNumber(MaskLabelExtensions.IncorrectWireName, Math.Round(c.IncorrectProbability, 4));
        w.WriteEndObject();
        w.WriteEndObject();
    }

    /// <summary>"mask 0.98", as the tables and annotated images print a label.</summary>
    public static string Short(in MaskClassification c) => $"{c.LabelText} {c.Probability:0.00}";

    /// <summary>"3 mask, 1 no_mask, 2 incorrect" (incorrect only for a three-class model).</summary>
    public static string Counts(int mask, int noMask, int incorrect, bool hasIncorrect) =>
        hasIncorrect ? $"{mask} mask, {noMask} no_mask, {incorrect} incorrect" : $"{mask} mask, {noMask} no_mask";
}
