using EdgeMask.Core.Geometry;

namespace EdgeMask.Core.Detection;

/// <summary>One face found in one frame: box and landmarks in pixels of the original image, detector score.</summary>
public readonly record struct FaceDetection(BoxF Box, float Score, Landmarks5 Landmarks);

/// <summary>The classifier's verdict on one face.</summary>
public enum MaskLabel
{
    Mask,
    NoMask,

    /// <summary>A mask worn incorrectly: under the nose, on the chin, off one ear (voc853's <c>mask_weared_incorrect</c>).</summary>
    Incorrect,
}

/// <summary>
/// The classifier's output for one face: the three class probabilities (they sum to 1). A two-class model (mask,
/// no_mask) gives <see cref="IncorrectProbability"/> = 0. The label is the likeliest class (ties go to mask, then to
/// no_mask) and <see cref="Probability"/> the probability of that label (what the JSON contracts print).
/// </summary>
public readonly record struct MaskClassification
{
    /// <summary>A two-class verdict: p(no_mask) = 1 − p(mask), p(incorrect) = 0.</summary>
    public MaskClassification(float maskProbability)
        : this(maskProbability, 1f - maskProbability, 0f)
    {
    }

    public MaskClassification(float maskProbability, float noMaskProbability, float incorrectProbability)
    {
        MaskProbability = maskProbability;
        NoMaskProbability = noMaskProbability;
        IncorrectProbability = incorrectProbability;
    }

    public float MaskProbability { get; }
    public float NoMaskProbability { get; }
    public float IncorrectProbability { get; }

    /// <summary>p(the face is not properly masked) = p(no_mask) + p(incorrect).</summary>
    public float UnmaskedProbability => NoMaskProbability + IncorrectProbability;

    public MaskLabel Label =>
        MaskProbability >= NoMaskProbability && MaskProbability >= IncorrectProbability ? MaskLabel.Mask
        : NoMaskProbability >= IncorrectProbability ? MaskLabel.NoMask
        : MaskLabel.Incorrect;

    public float Probability => ProbabilityOf(Label);
    public string LabelText => Label.ToWireName();

    public float ProbabilityOf(MaskLabel label) => label switch
    {
        MaskLabel.Mask => MaskProbability,
        MaskLabel.NoMask => NoMaskProbability,
        MaskLabel.Incorrect => IncorrectProbability,
        _ => throw new ArgumentOutOfRangeException(nameof(label), label, "Unknown mask label."),
    };
}

public static class MaskLabelExtensions
{
    /// <summary>Every label, in the order of their wire names' documentation: mask, no_mask, incorrect.</summary>
    public static readonly IReadOnlyList<MaskLabel> All = [MaskLabel.Mask, MaskLabel.NoMask, MaskLabel.Incorrect];

    public const string MaskWireName = "mask";
    public const string NoMaskWireName = "no_mask";
    public const string IncorrectWireName = "incorrect";

    /// <summary>The label as it is written in JSON: "mask", "no_mask" or "incorrect".</summary>
    public static string ToWireName(this MaskLabel label) => label switch
    {
        MaskLabel.Mask => MaskWireName,
        MaskLabel.NoMask => NoMaskWireName,
        MaskLabel.Incorrect => IncorrectWireName,
        _ => throw new ArgumentOutOfRangeException(nameof(label), label, "Unknown mask label."),
    };

    public static MaskLabel ParseWireName(string text) => TryParseWireName(text, out var label)
        ? label
        : throw new FormatException($"'{text}' is not a mask label; expected \"mask\", \"no_mask\" or \"incorrect\".");

    public static bool TryParseWireName(string? text, out MaskLabel label)
    {
        switch (text)
        {
            case MaskWireName: label = MaskLabel.Mask; return true;
            case NoMaskWireName: label = MaskLabel.NoMask; return true;
            case IncorrectWireName: label = MaskLabel.Incorrect; return true;
            default: label = default; return false;
        }
    }
}
