using EdgeMask.Core.Classification;
using EdgeMask.Core.Detection;

namespace EdgeMask.Core.Tests.Classification;

public sealed class VocAnnotationReaderTests
{
    private static string Xml(string size, params string[] objects) =>
        $"<annotation><filename>a.png</filename>{size}{string.Concat(objects)}</annotation>";

    private static string Obj(string name, int x1, int y1, int x2, int y2) =>
        $"<object><name>{name}</name><bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>";

    private const string Size = "<size><width>400</width><height>300</height><depth>3</depth></size>";

    [Fact]
    public void Parse_ValidFile_ReturnsSizeAndBoxes()
    {
        var a = VocAnnotationReader.Parse(Xml(Size, Obj("with_mask", 10, 20, 50, 70), Obj("without_mask", 100, 100, 130, 140)), "a.xml");
        Assert.Equal((400, 300), (a.Width, a.Height));
        Assert.Equal(2, a.Objects.Count);
        Assert.Equal("without_mask", a.Objects[1].Name);
        Assert.Equal(30f, a.Objects[1].Box.Width);
        Assert.Empty(a.Problems);
    }

    [Fact]
    public void Parse_BoxOutsideImage_ReportsItAndKeepsTheOthers()
    {
        var a = VocAnnotationReader.Parse(Xml(Size, Obj("with_mask", 380, 20, 420, 60), Obj("with_mask", 10, 20, 50, 70)), "a.xml");
        Assert.Single(a.Objects);
        var problem = Assert.Single(a.Problems);
        Assert.Contains("outside the 400×300 image", problem);
    }

    [Fact]
    public void Parse_BoxOnePixelPastEdge_ClippedSilently()
    {
        // 1-based VOC corners put a face touching the right edge at width + 1.
        var a = VocAnnotationReader.Parse(Xml(Size, Obj("with_mask", 380, 20, 401, 60)), "a.xml");
        Assert.Equal(400f, Assert.Single(a.Objects).Box.X2);
        Assert.Empty(a.Problems);
    }

    [Fact]
    public void Parse_MissingSize_ThrowsNamingTheFile()
    {
        var e = Assert.Throws<VocAnnotationException>(() => VocAnnotationReader.Parse(Xml("", Obj("with_mask", 1, 1, 5, 5)), "b.xml"));
        Assert.Contains("b.xml", e.Message);
        Assert.Contains("<size>", e.Message);
    }

    [Fact]
    public void Parse_NotXml_ThrowsAnnotationException()
    {
        Assert.Throws<VocAnnotationException>(() => VocAnnotationReader.Parse("<annotation><size>", "c.xml"));
    }

    [Theory]
    [InlineData("with_mask", MaskLabel.Mask)]
    [InlineData("without_mask", MaskLabel.NoMask)]
    [InlineData("mask_weared_incorrect", MaskLabel.NoMask)]
    public void ToLabel_DatasetClass_ProductLabel(string name, MaskLabel expected)
    {
        Assert.Equal(expected, MaskClassNames.ToLabel(name));
    }
}
