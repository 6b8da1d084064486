using EdgeMask.Core.Detection;

namespace EdgeMask.Dashboard.Web;

/// <summary>The labels the filters offer: the contract's three, then any other the devices reported (labels are data).</summary>
internal static class MaskLabels
{
    public static IReadOnlyList<string> Known { get; } =
        [MaskLabelExtensions.MaskWireName, MaskLabelExtensions.NoMaskWireName, MaskLabelExtensions.IncorrectWireName];

    public static IReadOnlyList<string> FilterOptions(IEnumerable<string> stored) =>
        [.. Known, .. stored.Where(l => !Known.Contains(l, StringComparer.Ordinal)).Order(StringComparer.Ordinal)];
}
