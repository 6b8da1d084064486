using EdgeMask.Core.Geometry;

namespace EdgeMask.Core.Detection;

/// <summary>One face found in one frame: box and landmarks in pixels of the original image, detector score.</summary>
public readonly record struct FaceDetection(BoxF Box, float Score, Landmarks5 Landmarks);

/// <summary>The classifier's verdict on one face.</summary>
public enum MaskLabel
{
    Mask,
    NoMask,
}

/// <summary>
/// The classifier's output for one face. <see cref="MaskProbability"/> is p(mask); the label is the likelier
/// class and <see cref="Probability"/> the probability of that label (what the JSON contracts print).
/// </summary>
public readonly record struct MaskClassification(float MaskProbability)
{
    public MaskLabel Label => MaskProbability >= 0.5f ? MaskLabel.Mask : MaskLabel.NoMask;
    public float Probability => Label == MaskLabel.Mask ? MaskProbability : 1f - MaskProbability;
    public string LabelText => Label.ToWireName();
}

public static class MaskLabelExtensions
{
    /// <summary>The label as it is written in JSON: "mask" or "no_mask".</summary>
    public static string ToWireName(this MaskLabel label) => label == MaskLabel.Mask ? "mask" : "no_mask";

    public static MaskLabel ParseWireName(string text) => text switch
    {
        "mask" => MaskLabel.Mask,
        "no_mask" => MaskLabel.NoMask,
        _ => throw new FormatException($"'{text}' is not a mask label; expected \"mask\" or \"no_mask\"."),
    };
}
