using EdgeMask.Core.Detection;

namespace EdgeMask.Training.Data;

/// <summary>
/// One face for training or evaluation. <see cref="Pixels"/> is an 8-bit BGR square of <see cref="Side"/> px:
/// for training a wider context crop that augmentation re-cuts; for dev the exact run-time crop.
/// </summary>
internal sealed record FaceSample(string Source, string File, MaskLabel Label, float ShortSide, int Side, byte[] Pixels)
{
    /// <summary>A mask worn incorrectly (voc853's <c>mask_weared_incorrect</c>).</summary>
    public bool WornIncorrectly => Label == MaskLabel.Incorrect;

    /// <summary>Cut from a photo around an annotated box (so the face sits centred at a known scale), not a crop image.</summary>
    public bool FromPhoto { get; init; }
}

/// <summary>A named set of faces (e.g. "voc853 dev"); <see cref="IsPhotoSet"/> for boxes cut from photos.</summary>
internal sealed record FaceSet(string Name, bool IsPhotoSet, IReadOnlyList<FaceSample> Samples);

/// <summary>Training input that cannot be used at all (no images, a class with no samples).</summary>
internal sealed class DatasetException(string message) : Exception(message);
