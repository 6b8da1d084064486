using EdgeMask.Core.Detection;

namespace EdgeMask.Core.Classification;

/// <summary>How the dataset class names (voc853, crop folders) map to the classifier's labels.</summary>
public static class MaskClassNames
{
    public const string WithMask = "with_mask";
    public const string WithoutMask = "without_mask";
    public const string MaskWornIncorrectly = "mask_weared_incorrect";

    /// <summary>The label a dataset class name stands for; null for names that are not mask classes.</summary>
    public static MaskLabel? ToLabel(string name) => name switch
    {
        WithMask => MaskLabel.Mask,
        WithoutMask => MaskLabel.NoMask,
        MaskWornIncorrectly => MaskLabel.Incorrect,
        _ => null,
    };
}
