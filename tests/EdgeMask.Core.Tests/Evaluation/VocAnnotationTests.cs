using EdgeMask.Core.Evaluation;
using EdgeMask.Core.Geometry;
using EdgeMask.Tests.Shared;

namespace EdgeMask.Core.Tests.Evaluation;

public class VocAnnotationTests
{
    private static string Write(string xml)
    {
        var path = Path.Combine(TestPaths.NewTempDirectory(), "a.xml");
        File.WriteAllText(path, xml);
        return path;
    }

    [Fact]
    public void Load_SharedAnnotation_ReadsSizeAndObjects()
    {
        var a = VocAnnotation.Load(TestPaths.VocAnnotation(0));
        Assert.Equal((512, 366), (a.Width, a.Height));
        Assert.Equal(3, a.Objects.Count);
        Assert.All(a.Objects, o => Assert.Contains(o.Name, new[] { "with_mask", "without_mask", "mask_weared_incorrect" }));
    }

    [Fact]
    public void Load_BoxPartlyOutside_ClippedWithWarning()
    {
        var a = VocAnnotation.Load(Write("<annotation><size><width>100</width><height>50</height></size><object><name>with_mask</name><bndbox><xmin>90</xmin><ymin>10</ymin><xmax>120</xmax><ymax>40</ymax></bndbox></object></annotation>"));
        Assert.Equal(new BoxF(90, 10, 100, 40), Assert.Single(a.Objects).Box);
        Assert.Contains("clipped", Assert.Single(a.Warnings));
    }

    [Fact]
    public void Load_BoxWhollyOutside_SkippedWithWarning()
    {
        var a = VocAnnotation.Load(Write("<annotation><size><width>100</width><height>50</height></size><object><name>with_mask</name><bndbox><xmin>200</xmin><ymin>10</ymin><xmax>220</xmax><ymax>40</ymax></bndbox></object></annotation>"));
        Assert.Empty(a.Objects);
        Assert.Contains("outside", Assert.Single(a.Warnings));
    }

    [Fact]
    public void Load_MissingSize_NamesFileAndElement()
    {
        var path = Write("<annotation><object><name>x</name></object></annotation>");
        var ex = Assert.Throws<VocFormatException>(() => VocAnnotation.Load(path));
        Assert.Contains(path, ex.Message);
        Assert.Contains("<size>", ex.Message);
    }

    [Fact]
    public void Load_NotXml_ClearError()
    {
        var ex = Assert.Throws<VocFormatException>(() => VocAnnotation.Load(Write("this is not xml")));
        Assert.Contains("not readable XML", ex.Message);
    }
}

public class DetectionMatcherTests
{
    [Fact]
    public void Match_HigherScoredDetectionTakesTheBestTruth()
    {
        BoxF[] truths = [new(0, 0, 10, 10), new(20, 0, 30, 10)];
        BoxF[] dets = [new(1, 0, 11, 10), new(0, 0, 10, 10), new(100, 100, 110, 110)];
        Span<int> mt = stackalloc int[2];
        Span<int> md = stackalloc int[3];
        DetectionMatcher.Match(truths, dets, 0.5f, mt, md);
        Assert.Equal(0, mt[0]);   // first (highest-scored) detection wins truth 0
        Assert.Equal(-1, mt[1]);  // no detection for truth 1: a miss
        Assert.Equal(-1, md[1]);  // duplicate of truth 0: a false detection
        Assert.Equal(-1, md[2]);
    }
}
