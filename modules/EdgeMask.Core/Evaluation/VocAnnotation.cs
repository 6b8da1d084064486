using System.Globalization;
using System.Xml;
using System.Xml.Linq;
using EdgeMask.Core.Geometry;

namespace EdgeMask.Core.Evaluation;

/// <summary>One annotated object of a Pascal VOC file: class name as written and box in pixels (inside the image).</summary>
public readonly record struct VocObject(string Name, BoxF Box);

/// <summary>
/// A Pascal VOC annotation (the <c>face-mask-voc853</c> layout and any customer set in the same format): image size
/// and the usable objects. The one reader for evaluation (<c>edgemask eval</c>) and training (classifier crops,
/// detector fine-tuning), so both see the same ground truth. <see cref="Warnings"/> lists what was clipped or
/// skipped so callers can report it and go on.
/// </summary>
/// <remarks>
/// Box rules: a box that ends at most one pixel past the image (many VOC tools write 1-based corners, so a face at
/// the right or bottom edge ends at width + 1) is clipped silently; one further out is clipped with a warning; one
/// wholly outside, empty, or with a missing or non-numeric coordinate is skipped with a warning. A file that is not
/// XML or has no usable <c>&lt;size&gt;</c> throws <see cref="VocFormatException"/>: without the image size no box
/// can be checked.
/// </remarks>
public sealed record VocAnnotation(string Path, int Width, int Height, IReadOnlyList<VocObject> Objects, IReadOnlyList<string> Warnings)
{
    /// <summary>Reads a VOC XML file; throws <see cref="VocFormatException"/> naming the file and the problem.</summary>
    public static VocAnnotation Load(string path)
    {
        string xml;
        try
        {
            xml = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new VocFormatException(path, $"cannot be read ({ex.Message})");
        }
        return Parse(xml, path);
    }

    /// <summary>Parses VOC XML text; <paramref name="path"/> only names the source in messages.</summary>
    public static VocAnnotation Parse(string xml, string path)
    {
        XElement root;
        try
        {
            root = XDocument.Parse(xml).Root ?? throw new VocFormatException(path, "empty document");
        }
        catch (XmlException ex)
        {
            throw new VocFormatException(path, $"not readable XML ({ex.Message})");
        }
        var size = root.Element("size") ?? throw new VocFormatException(path, "no <size> element; the image width and height are needed to check the boxes");
        int width = PositiveInt(size, "width", path), height = PositiveInt(size, "height", path);

        var objects = new List<VocObject>();
        var warnings = new List<string>();
        int index = 0;
        foreach (var o in root.Elements("object"))
        {
            index++;
            string? name = o.Element("name")?.Value.Trim();
            var b = o.Element("bndbox");
            if (string.IsNullOrEmpty(name) || b is null)
            {
                warnings.Add($"object {index} has no <name> or <bndbox>; skipped");
                continue;
            }
            if (!TryFloat(b, "xmin", out float x1) || !TryFloat(b, "ymin", out float y1)
                || !TryFloat(b, "xmax", out float x2) || !TryFloat(b, "ymax", out float y2))
            {
                warnings.Add($"object {index} '{name}' has a missing or non-numeric box coordinate; skipped");
                continue;
            }
            var box = new BoxF(x1, y1, x2, y2);
            if (x2 <= x1 || y2 <= y1)
            {
                warnings.Add($"object {index} '{name}' box {box} is empty or inverted; skipped");
                continue;
            }
            var clipped = box.ClipTo(width, height);
            if (clipped.Width <= 0 || clipped.Height <= 0)
            {
                warnings.Add($"object {index} '{name}' box {box} lies outside the {width}×{height} image; skipped");
                continue;
            }
            bool withinOnePixel = x1 >= -1 && y1 >= -1 && x2 <= width + 1 && y2 <= height + 1;
            if (!withinOnePixel) warnings.Add($"object {index} '{name}' box {box} extends outside the {width}×{height} image; clipped");
            objects.Add(new VocObject(name, clipped));
        }
        return new VocAnnotation(path, width, height, objects, warnings);
    }

    private static int PositiveInt(XElement size, string name, string path)
    {
        string text = size.Element(name)?.Value.Trim() ?? throw new VocFormatException(path, $"<size> has no <{name}>; the image size is needed to check the boxes");
        return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && v > 0
            ? v
            : throw new VocFormatException(path, $"<size><{name}> is '{text}', not a positive integer");
    }

    private static bool TryFloat(XElement box, string name, out float value) =>
        float.TryParse(box.Element(name)?.Value.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out value);
}

/// <summary>A VOC annotation file that cannot be used at all (unreadable, not XML, no usable image size).</summary>
public sealed class VocFormatException(string path, string reason) : Exception($"{path}: {reason}.")
{
    public string Path { get; } = path;
}
