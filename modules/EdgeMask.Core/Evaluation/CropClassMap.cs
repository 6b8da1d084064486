using EdgeMask.Core.Detection;

namespace EdgeMask.Core.Evaluation;

/// <summary>A <c>--class-map</c> entry that cannot be used; the message names the entry and the accepted form.</summary>
public sealed class ClassMapFormatException(string message) : FormatException(message);

/// <summary>
/// Which label the images of each class folder carry, for scoring a folder of face crops in the common
/// one-subfolder-per-class layout. Folder names match without regard to case. The common names are known
/// (<c>with_mask</c>, <c>without_mask</c>, <c>mask_weared_incorrect</c>, <c>mask_worn_incorrectly</c>, and the labels
/// themselves); <c>--class-map</c> adds or overrides entries, and <c>skip</c> leaves a folder out on purpose.
/// </summary>
public sealed class CropClassMap
{
    /// <summary>The target that leaves a folder out without a warning.</summary>
    public const string SkipTarget = "skip";

    private readonly Dictionary<string, MaskLabel?> _map;

    private CropClassMap(Dictionary<string, MaskLabel?> map) => _map = map;

    /// <summary>The common folder names.</summary>
    public static CropClassMap Default => new(new Dictionary<string, MaskLabel?>(StringComparer.OrdinalIgnoreCase)
    {
        ["with_mask"] = MaskLabel.Mask,
        ["without_mask"] = MaskLabel.NoMask,
        ["mask_weared_incorrect"] = MaskLabel.Incorrect,
        ["mask_worn_incorrectly"] = MaskLabel.Incorrect,
        [MaskLabelExtensions.MaskWireName] = MaskLabel.Mask,
        [MaskLabelExtensions.NoMaskWireName] = MaskLabel.NoMask,
        [MaskLabelExtensions.IncorrectWireName] = MaskLabel.Incorrect,
    });

    /// <summary>
    /// The default map with the entries of <paramref name="text"/> (<c>folder=label,folder=label</c>, label one of mask,
    /// no_mask, incorrect or skip) added or overriding; null or empty text gives the default map.
    /// </summary>
    /// <exception cref="ClassMapFormatException">An entry is not <c>folder=label</c>, names a label that does not exist, or repeats a folder.</exception>
    public static CropClassMap Parse(string? text)
    {
        var map = Default._map;
        if (string.IsNullOrWhiteSpace(text)) return new CropClassMap(map);
        var given = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (string raw in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = raw.IndexOf('=');
            string folder = eq < 0 ? "" : raw[..eq].Trim(), target = eq < 0 ? "" : raw[(eq + 1)..].Trim();
            if (folder.Length == 0 || target.Length == 0)
                throw new ClassMapFormatException($"--class-map entry '{raw}' is not folder=label (e.g. with_mask=mask,without_mask=no_mask,mask_weared_incorrect=incorrect).");
            if (folder.IndexOfAny(['/', '\\']) >= 0)
                throw new ClassMapFormatException($"--class-map entry '{raw}': '{folder}' must be the name of a class folder directly in the crops folder, not a path.");
            if (!given.Add(folder))
                throw new ClassMapFormatException($"--class-map names the folder '{folder}' twice.");
            if (target.Equals(SkipTarget, StringComparison.OrdinalIgnoreCase)) map[folder] = null;
            else if (MaskLabelExtensions.TryParseWireName(target.ToLowerInvariant(), out var label)) map[folder] = label;
            else throw new ClassMapFormatException($"--class-map entry '{raw}': '{target}' is not a label; use mask, no_mask, incorrect or skip.");
        }
        return new CropClassMap(map);
    }

    /// <summary>
    /// Looks a class folder up: true with its label, true with null for a folder mapped to <c>skip</c>, false for a
    /// folder the map does not know.
    /// </summary>
    public bool TryMap(string folder, out MaskLabel? label) => _map.TryGetValue(folder, out label);
}
