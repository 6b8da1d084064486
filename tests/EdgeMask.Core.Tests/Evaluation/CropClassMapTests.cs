using EdgeMask.Core.Detection;
using EdgeMask.Core.Evaluation;

namespace EdgeMask.Core.Tests.Evaluation;

public sealed class CropClassMapTests
{
    [Theory]
    [InlineData("with_mask", MaskLabel.Mask)]
    [InlineData("Without_Mask", MaskLabel.NoMask)]
    [InlineData("mask_weared_incorrect", MaskLabel.Incorrect)]
    [InlineData("incorrect", MaskLabel.Incorrect)]
    public void Default_CommonFolderNames_Known(string folder, MaskLabel label)
    {
        Assert.True(CropClassMap.Default.TryMap(folder, out var mapped));
        Assert.Equal(label, mapped);
    }

    [Fact]
    public void Parse_SiteNames_AddedOverridingAndSkipped()
    {
        var map = CropClassMap.Parse("masked=mask, bare = no_mask,chin=incorrect,with_mask=no_mask,unsure=skip");
        Assert.True(map.TryMap("masked", out var a) && a == MaskLabel.Mask);
        Assert.True(map.TryMap("bare", out var b) && b == MaskLabel.NoMask);
        Assert.True(map.TryMap("chin", out var c) && c == MaskLabel.Incorrect);
        Assert.True(map.TryMap("with_mask", out var d) && d == MaskLabel.NoMask);
        Assert.True(map.TryMap("unsure", out var e) && e is null);
        Assert.False(map.TryMap("other", out _));
        Assert.True(map.TryMap("without_mask", out _)); // the common names stay
    }

    [Theory]
    [InlineData("masked", "folder=label")]
    [InlineData("masked=", "folder=label")]
    [InlineData("masked=half", "'half' is not a label")]
    [InlineData("a/b=mask", "not a path")]
    [InlineData("x=mask,X=no_mask", "twice")]
    public void Parse_BadEntry_ErrorNamesTheEntry(string text, string expected)
    {
        var e = Assert.Throws<ClassMapFormatException>(() => CropClassMap.Parse(text));
        Assert.Contains(expected, e.Message);
        Assert.Contains("--class-map", e.Message);
    }
}
