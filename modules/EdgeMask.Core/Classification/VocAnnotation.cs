using System.Globalization;
using System.Xml;
using System.Xml.Linq;
using EdgeMask.Core.Detection;
using EdgeMask.Core.Geometry;

namespace EdgeMask.Core.Classification;

/// <summary>One annotated object of a Pascal VOC file: class name as written, box in pixels.</summary>
public sealed record VocObject(string Name, BoxF Box);

/// <summary>
/// A Pascal VOC annotation: image size and the usable objects. <see cref="Problems"/> lists objects that were
/// skipped (box outside the image, empty box, missing fields) so callers can report them and go on.
/// </summary>
public sealed record VocAnnotation(string Path, int Width, int Height, IReadOnlyList<VocObject> Objects, IReadOnlyList<string> Problems);

/// <summary>A VOC annotation file that cannot be used at all (not XML, or no usable image size).</summary>
public sealed class VocAnnotationException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>Reads Pascal VOC XML (the <c>face-mask-voc853</c> layout and any customer set in the same format).</summary>
public static class VocAnnotationReader
{
    public static VocAnnotation Read(string path)
    {
        string xml;
        try
        {
            xml = File.ReadAllText(path);
        }
        catch (IOException e)
        {
            throw new VocAnnotationException($"{path}: cannot be read: {e.Message}", e);
        }
        return Parse(xml, path);
    }

    public static VocAnnotation Parse(string xml, string path)
    {
        XElement root;
        try
        {
            root = XDocument.Parse(xml).Root ?? throw new VocAnnotationException($"{path}: empty XML document.");
        }
        catch (XmlException e)
        {
            throw new VocAnnotationException($"{path}: not valid XML: {e.Message}", e);
        }
        var size = root.Element("size")
            ?? throw new VocAnnotationException($"{path}: no <size> element; the image width and height are needed to check the boxes.");
        int width = PositiveInt(size, "width", path), height = PositiveInt(size, "height", path);

        var objects = new List<VocObject>();
        var problems = new List<string>();
        int index = 0;
        foreach (var o in root.Elements("object"))
        {
            index++;
            string? name = o.Element("name")?.Value.Trim();
            var b = o.Element("bndbox");
            if (string.IsNullOrEmpty(name) || b is null)
            {
                problems.Add($"{path}: object {index} has no <name> or <bndbox>; skipped.");
                continue;
            }
            if (!TryFloat(b, "xmin", out float x1) || !TryFloat(b, "ymin", out float y1)
                || !TryFloat(b, "xmax", out float x2) || !TryFloat(b, "ymax", out float y2))
            {
                problems.Add($"{path}: object {index} ({name}) has a missing or non-numeric box coordinate; skipped.");
                continue;
            }
            var box = new BoxF(x1, y1, x2, y2);
            if (x2 <= x1 || y2 <= y1)
            {
                problems.Add($"{path}: object {index} ({name}) has an empty box {box}; skipped.");
                continue;
            }
            // Many VOC tools write 1-based corners, so a face touching the right/bottom edge ends at width + 1:
            // that one pixel is clipped silently; anything further out is an annotation error.
            if (x1 >= -1 && y1 >= -1 && x2 <= width + 1 && y2 <= height + 1)
                box = box.ClipTo(width, height);
            if (x1 < -1 || y1 < -1 || x2 > width + 1 || y2 > height + 1 || box.Width <= 0 || box.Height <= 0)
            {
                problems.Add($"{path}: object {index} ({name}) box {box} lies outside the {width}×{height} image; skipped.");
                continue;
            }
            objects.Add(new VocObject(name, box));
        }
        return new VocAnnotation(path, width, height, objects, problems);
    }

    private static int PositiveInt(XElement size, string name, string path)
    {
        string? text = size.Element(name)?.Value.Trim();
        if (text is null)
            throw new VocAnnotationException($"{path}: <size> has no <{name}>; the image size is needed to check the boxes.");
        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) || v <= 0)
            throw new VocAnnotationException($"{path}: <size><{name}> is '{text}', not a positive integer.");
        return v;
    }

    private static bool TryFloat(XElement box, string name, out float value) =>
        float.TryParse(box.Element(name)?.Value.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out value);
}

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
