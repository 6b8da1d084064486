using EdgeMask.Core.Classification;
using EdgeMask.Core.Detection;
using EdgeMask.Core.Evaluation;

namespace EdgeMask.Core.Tests.Evaluation;

public sealed class VocAnnotationParseTests
{
    private static string Xml(string size, params string[] objects) =>
        $"<annotation><filename>a.png</filename>{size}{string.Concat(objects)}</annotation>";

    private static string Obj(string name, int x1, int y1, int x2, int y2) =>
        $"<object><name>{name}</name><bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>";

    private const string Size = "<size><width>400</width><height>300</height><depth>3</depth></size>";

    [Fact]
    public void Parse_ValidFile_ReturnsSizeAndBoxes()
    {
        var a = VocAnnotation.Parse(Xml(Size, Obj("with_mask", 10, 20, 50, 70), Obj("without_mask", 100, 100, 130, 140)), "a.xml");
        Assert.Equal((400, 300), (a.Width, a.Height));
        Assert.Equal(2, a.Objects.Count);
        Assert.Equal("without_mask", a.Objects[1].Name);
        Assert.Equal(30f, a.Objects[1].Box.Width);
        Assert.Empty(a.Warnings);
    }

    [Fact]
    public void Parse_BoxPastTheEdge_ClippedReportedAndTheOthersKept()
    {
        var a = VocAnnotation.Parse(Xml(Size, Obj("with_mask", 380, 20, 420, 60), Obj("with_mask", 10, 20, 50, 70)), "a.xml");
        Assert.Equal(2, a.Objects.Count);
        Assert.Equal(400f, a.Objects[0].Box.X2);
        var problem = Assert.Single(a.Warnings);
        Assert.Contains("outside the 400×300 image; clipped", problem);
    }

    [Fact]
    public void Parse_ObjectWithoutBoxOrWithTextCoordinates_SkippedAndTheOthersKept()
    {
        string noBox = "<object><name>with_mask</name></object>";
        string text = "<object><name>with_mask</name><bndbox><xmin>a</xmin><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax></bndbox></object>";
        var a = VocAnnotation.Parse(Xml(Size, noBox, text, Obj("without_mask", 10, 20, 50, 70)), "a.xml");
        Assert.Equal("without_mask", Assert.Single(a.Objects).Name);
        Assert.Equal(2, a.Warnings.Count);
        Assert.All(a.Warnings, w => Assert.EndsWith("skipped", w));
    }

    [Fact]
    public void Parse_BoxOnePixelPastEdge_ClippedSilently()
    {
        // 1-based VOC corners put a face touching the right edge at width + 1.
        var a = VocAnnotation.Parse(Xml(Size, Obj("with_mask", 380, 20, 401, 60)), "a.xml");
        Assert.Equal(400f, Assert.Single(a.Objects).Box.X2);
        Assert.Empty(a.Warnings);
    }

    [Fact]
    public void Parse_MissingSize_ThrowsNamingTheFile()
    {
        var e = Assert.Throws<VocFormatException>(() => VocAnnotation.Parse(Xml("", Obj("with_mask", 1, 1, 5, 5)), "b.xml"));
        Assert.Contains("b.xml", e.Message);
        Assert.Contains("<size>", e.Message);
    }

    [Fact]
    public void Parse_NotXml_ThrowsAnnotationException()
    {
        Assert.Throws<VocFormatException>(() => VocAnnotation.Parse("<annotation><size>", "c.xml"));
    }

    [Theory]
    [InlineData("with_mask", MaskLabel.Mask)]
    [InlineData("without_mask", MaskLabel.NoMask)]
    [InlineData("mask_weared_incorrect", MaskLabel.Incorrect)]
    public void ToLabel_DatasetClass_ProductLabel(string name, MaskLabel expected)
    {
        Assert.Equal(expected, MaskClassNames.ToLabel(name));
    }
}
