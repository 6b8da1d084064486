using EdgeMask.Core.Detection;
using EdgeMask.Core.Policy;

namespace EdgeMask.Core.Events;

/// <summary>
/// Versions of the published documents (events and stats). A device speaks the current version unless it is told to
/// speak version 1 to consumers that cannot read version 2 yet (<c>contract.version: 1</c>). Version 1 knows two labels,
/// so a badly worn mask is folded the way the site counts it: into no_mask when it is a violation (the default, and
/// what EdgeMask's two-class classifier said of such faces before), into mask when the site counts it as compliant.
/// </summary>
public static class EventContract
{
    /// <summary>The version devices publish by default: events <c>edgemask.event/2</c>, stats <c>edgemask.stats/2</c>.</summary>
    public const int CurrentVersion = 2;

    /// <summary>The oldest version a device can still publish.</summary>
    public const int OldestVersion = 1;

    /// <summary>Whether <paramref name="schema"/> names an event document a consumer of the current version reads (version 1 or 2).</summary>
    public static bool IsEventSchema(string? schema) => schema is MaskEvent.SchemaName or MaskEvent.SchemaNameV1;

    /// <summary>Whether <paramref name="schema"/> names a stats document a consumer of the current version reads (version 1 or 2).</summary>
    public static bool IsStatsSchema(string? schema) => schema is CameraStats.SchemaName or CameraStats.SchemaNameV1;

    /// <summary>The event as the given version says it; version 2 returns it unchanged.</summary>
    public static MaskEvent ForVersion(this MaskEvent e, int version, IncorrectMaskCounting counting) => version switch
    {
        CurrentVersion => e,
        OldestVersion => e.ToVersion1(counting),
        _ => throw new ArgumentOutOfRangeException(nameof(version), version, $"Contract version must be {OldestVersion} or {CurrentVersion}."),
    };

    /// <summary>The stats as the given version says them; version 2 returns them unchanged.</summary>
    public static CameraStats ForVersion(this CameraStats s, int version) => version switch
    {
        CurrentVersion => s,
        OldestVersion => s.ToVersion1(),
        _ => throw new ArgumentOutOfRangeException(nameof(version), version, $"Contract version must be {OldestVersion} or {CurrentVersion}."),
    };

    /// <summary>
    /// The version 1 document of an event: <c>incorrect.*</c> becomes <c>violation.*</c> (a version 1 consumer sees a
    /// violation, which it is), the label becomes mask or no_mask with the probability of that side (badly worn masks on
    /// the side <paramref name="counting"/> puts them), and the probabilities are left out.
    /// </summary>
    public static MaskEvent ToVersion1(this MaskEvent e, IncorrectMaskCounting counting)
    {
        ArgumentNullException.ThrowIfNull(e);
        if (e.Schema == MaskEvent.SchemaNameV1) return e;
        bool incorrectIsMasked = counting == IncorrectMaskCounting.Compliant;
        EventMask mask;
        if (e.Mask.Probabilities is { } p)
        {
            float masked = p.Mask + (incorrectIsMasked ? p.Incorrect ?? 0f : 0f);
            float unmasked = p.NoMask + (incorrectIsMasked ? 0f : p.Incorrect ?? 0f);
            bool isMask = masked >= unmasked;
            mask = new EventMask(isMask ? MaskLabelExtensions.MaskWireName : MaskLabelExtensions.NoMaskWireName,
                Math.Clamp(isMask ? masked : unmasked, 0f, 1f), e.Mask.FramesObserved, e.Mask.FramesUnmasked);
        }
        else
        {
            string label = e.Mask.Label == MaskLabelExtensions.IncorrectWireName
                ? incorrectIsMasked ? MaskLabelExtensions.MaskWireName : MaskLabelExtensions.NoMaskWireName
                : e.Mask.Label;
            mask = new EventMask(label, e.Mask.Probability, e.Mask.FramesObserved, e.Mask.FramesUnmasked);
        }
        return e with { Schema = MaskEvent.SchemaNameV1, Type = EventTypes.AsViolation(e.Type), Mask = mask };
    }

    /// <summary>
    /// The version 1 document of camera statistics: the per-label counts left out. <c>facesUnmasked</c> and
    /// <c>complianceRate</c> mean the same in both versions (counted as the violation policy counts).
    /// </summary>
    public static CameraStats ToVersion1(this CameraStats s)
    {
        ArgumentNullException.ThrowIfNull(s);
        return s.Schema == CameraStats.SchemaNameV1 ? s : s with { Schema = CameraStats.SchemaNameV1, FacesByLabel = null };
    }
}
