using EdgeMask.Core.Detection;

namespace EdgeMask.Core.Classification;

/// <summary>How the dataset class names map to the classifier's two labels.</summary>
public static class MaskClassNames
{
    public const string WithMask = "with_mask";
    public const string WithoutMask = "without_mask";
    public const string MaskWornIncorrectly = "mask_weared_incorrect";

    /// <summary>
    /// The label a product counts a face as. A mask worn incorrectly is a violation, so it is <see cref="MaskLabel.NoMask"/>.
    /// Null for names that are not mask classes.
    /// </summary>
    public static MaskLabel? ToLabel(string name) => name switch
    {
        WithMask => MaskLabel.Mask,
        WithoutMask or MaskWornIncorrectly => MaskLabel.NoMask,
        _ => null,
    };
}
