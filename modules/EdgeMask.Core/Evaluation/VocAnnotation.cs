using System.Globalization;
using System.Xml;
using System.Xml.Linq;
using EdgeMask.Core.Geometry;

namespace EdgeMask.Core.Evaluation;

/// <summary>One annotated object of a Pascal VOC file: class name and box in pixels.</summary>
public readonly record struct VocObject(string Name, BoxF Box);

/// <summary>A Pascal VOC annotation: image size and objects. Boxes outside the image are clipped and reported.</summary>
public sealed record VocAnnotation(string Path, int Width, int Height, IReadOnlyList<VocObject> Objects, IReadOnlyList<string> Warnings)
{
    /// <summary>Parses a VOC XML file; throws <see cref="VocFormatException"/> naming the file and the missing part.</summary>
    public static VocAnnotation Load(string path)
    {
        XDocument doc;
        try
        {
            doc = XDocument.Load(path);
        }
        catch (Exception ex) when (ex is XmlException or IOException)
        {
            throw new VocFormatException(path, $"not readable XML ({ex.Message})");
        }
        var root = doc.Root ?? throw new VocFormatException(path, "empty document");
        var size = root.Element("size") ?? throw new VocFormatException(path, "no <size> element");
        int width = ReadInt(size, "width", path), height = ReadInt(size, "height", path);
        if (width <= 0 || height <= 0) throw new VocFormatException(path, $"<size> is {width}×{height}");
        var objects = new List<VocObject>();
        var warnings = new List<string>();
        foreach (var o in root.Elements("object"))
        {
            string name = o.Element("name")?.Value.Trim() ?? throw new VocFormatException(path, "an <object> has no <name>");
            var b = o.Element("bndbox") ?? throw new VocFormatException(path, $"object '{name}' has no <bndbox>");
            var box = new BoxF(ReadFloat(b, "xmin", path), ReadFloat(b, "ymin", path), ReadFloat(b, "xmax", path), ReadFloat(b, "ymax", path));
            if (box.X2 <= box.X1 || box.Y2 <= box.Y1)
            {
                warnings.Add($"object '{name}' box {box} is empty or inverted; skipped");
                continue;
            }
            var clipped = box.ClipTo(width, height);
            if (clipped != box)
            {
                if (clipped.Area <= 0)
                {
                    warnings.Add($"object '{name}' box {box} lies outside the {width}×{height} image; skipped");
                    continue;
                }
                warnings.Add($"object '{name}' box {box} extends outside the {width}×{height} image; clipped");
            }
            objects.Add(new VocObject(name, clipped));
        }
        return new VocAnnotation(path, width, height, objects, warnings);
    }

    private static int ReadInt(XElement parent, string name, string path)
    {
        var text = parent.Element(name)?.Value ?? throw new VocFormatException(path, $"<{parent.Name}> has no <{name}>");
        return int.TryParse(text.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v)
            ? v
            : throw new VocFormatException(path, $"<{name}> is '{text}', not an integer");
    }

    private static float ReadFloat(XElement parent, string name, string path)
    {
        var text = parent.Element(name)?.Value ?? throw new VocFormatException(path, $"<{parent.Name}> has no <{name}>");
        return float.TryParse(text.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var v)
            ? v
            : throw new VocFormatException(path, $"<{name}> is '{text}', not a number");
    }
}

public sealed class VocFormatException(string path, string reason) : Exception($"{path}: {reason}.")
{
    public string Path { get; } = path;
}
