using EdgeMask.Core.Classification;

namespace EdgeMask.Core.Tests.Classification;

public sealed class ClassifierContractTests
{
    private const string Json = """
        {"input":{"name":"input","layout":"NCHW","size":64,"colorOrder":"RGB","mean":[123.675,116.28,103.53],"std":[58.395,57.12,57.375]},
         "crop":{"expansion":1.2},
         "output":{"name":"probabilities","classes":["mask","no_mask"]}}
        """;

    [Fact]
    public void Parse_ManifestEntry_ReadsEveryField()
    {
        var c = ClassifierContract.Parse(Json);
        Assert.Equal("input", c.InputName);
        Assert.Equal(64, c.InputSize);
        Assert.Equal(ColorOrder.Rgb, c.ColorOrder);
        Assert.Equal([123.675f, 116.28f, 103.53f], c.Mean.ToArray());
        Assert.Equal(1.2f, c.CropExpansion);
        Assert.Equal("probabilities", c.OutputName);
        Assert.Equal(0, c.MaskIndex);
    }

    [Fact]
    public void ToJson_ThenParse_RoundTrips()
    {
        var c = ClassifierContract.Parse(Json);
        Assert.Equal(c.ToJson(), ClassifierContract.Parse(c.ToJson()).ToJson());
    }

    [Theory]
    [InlineData("\"size\":64", "\"size\":0", "input.size")]
    [InlineData("\"colorOrder\":\"RGB\"", "\"colorOrder\":\"HSV\"", "input.colorOrder")]
    [InlineData("\"std\":[58.395,57.12,57.375]", "\"std\":[58.395,0,57.375]", "input.std")]
    [InlineData("\"crop\":{\"expansion\":1.2}", "\"crop\":{}", "crop.expansion")]
    [InlineData("[\"mask\",\"no_mask\"]", "[\"mask\",\"other\"]", "output.classes")]
    [InlineData("[\"mask\",\"no_mask\"]", "[\"mask\",\"incorrect\"]", "output.classes")]
    [InlineData("[\"mask\",\"no_mask\"]", "[\"mask\",\"no_mask\",\"no_mask\"]", "output.classes")]
    [InlineData("[\"mask\",\"no_mask\"]", "[\"mask\",\"no_mask\",\"incorrect\",\"other\"]", "output.classes")]
    [InlineData("\"layout\":\"NCHW\"", "\"layout\":\"NHWC\"", "input.layout")]
    public void Parse_BadValue_ThrowsNamingTheKey(string from, string to, string key)
    {
        var e = Assert.Throws<ClassifierContractException>(() => ClassifierContract.Parse(Json.Replace(from, to)));
        Assert.Contains($"'{key}'", e.Message);
    }

    [Fact]
    public void Parse_ThreeClassesInAnyOrder_IndicesFollowTheOutputColumns()
    {
        var c = ClassifierContract.Parse(Json.Replace("[\"mask\",\"no_mask\"]", "[\"incorrect\",\"mask\",\"no_mask\"]"));
        Assert.True(c.HasIncorrect);
        Assert.Equal((1, 2, 0), (c.MaskIndex, c.NoMaskIndex, c.IncorrectIndex));
    }

    [Fact]
    public void Parse_TwoClassModel_StillAcceptedWithoutIncorrect()
    {
        var c = ClassifierContract.Parse(Json);
        Assert.False(c.HasIncorrect);
        Assert.Equal(-1, c.IncorrectIndex);
    }

    [Fact]
    public void Parse_NotJson_ThrowsContractException()
    {
        Assert.Throws<ClassifierContractException>(() => ClassifierContract.Parse("{not json"));
    }
}
