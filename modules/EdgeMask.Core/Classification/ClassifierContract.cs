using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using System.Text.Json;
using EdgeMask.Core.Detection;

namespace EdgeMask.Core.Classification;

/// <summary>Channel order of the classifier's planar input.</summary>
public enum ColorOrder
{
    Rgb,
    Bgr,
}

/// <summary>A classifier contract (model card / manifest entry / ONNX metadata) that is missing a key or has a bad value.</summary>
public sealed class ClassifierContractException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// The mask classifier's input/output contract: what the model expects and returns. It travels with the model
/// (ONNX metadata key <see cref="MetadataKey"/>, written by the trainer) and is repeated in
/// <c>models/manifest.json</c>, so no size, mean or channel order is a constant in code.
/// </summary>
/// <param name="InputName">ONNX input name; float32 <c>[N, 3, InputSize, InputSize]</c>, NCHW.</param>
/// <param name="InputSize">Side of the square crop in pixels.</param>
/// <param name="ColorOrder">Order of the three planes.</param>
/// <param name="Mean">Per-plane mean in 0–255 pixel units, in <paramref name="ColorOrder"/>; input = (pixel − mean) / std.</param>
/// <param name="Std">Per-plane standard deviation in 0–255 pixel units.</param>
/// <param name="CropExpansion">Crop side = longer side of the face box × this factor (see <see cref="FaceCropGeometry"/>).</param>
/// <param name="OutputName">ONNX output name; float32 <c>[N, Classes.Length]</c> softmax probabilities.</param>
/// <param name="Classes">
/// Class label of each output column, as wire names: "mask" and "no_mask", and "incorrect" (a mask worn incorrectly)
/// for a three-class model. Any order; two-class models from before the third label keep working.
/// </param>
public sealed record ClassifierContract(
    string InputName,
    int InputSize,
    ColorOrder ColorOrder,
    ImmutableArray<float> Mean,
    ImmutableArray<float> Std,
    float CropExpansion,
    string OutputName,
    ImmutableArray<string> Classes)
{
    /// <summary>ONNX <c>metadata_props</c> key that holds the contract JSON inside the model file.</summary>
    public const string MetadataKey = "edgemask.classifier";

    /// <summary>Output column holding p(mask).</summary>
    public int MaskIndex => Classes.IndexOf(MaskLabelExtensions.MaskWireName);

    /// <summary>Output column holding p(no_mask).</summary>
    public int NoMaskIndex => Classes.IndexOf(MaskLabelExtensions.NoMaskWireName);

    /// <summary>Output column holding p(incorrect), or −1 for a two-class model.</summary>
    public int IncorrectIndex => Classes.IndexOf(MaskLabelExtensions.IncorrectWireName);

    /// <summary>Whether the model tells a mask worn incorrectly from no mask.</summary>
    public bool HasIncorrect => IncorrectIndex >= 0;

    /// <summary>Checks every field; throws <see cref="ClassifierContractException"/> naming the key.</summary>
    public ClassifierContract Validate()
    {
        if (string.IsNullOrWhiteSpace(InputName)) throw Bad("input.name", "must not be empty");
        if (InputSize is < 8 or > 1024) throw Bad("input.size", $"must be 8..1024 pixels, not {InputSize}");
        if (Mean.IsDefault || Mean.Length != 3) throw Bad("input.mean", "must have 3 values");
        if (Std.IsDefault || Std.Length != 3) throw Bad("input.std", "must have 3 values");
        foreach (float s in Std)
            if (!(s > 0) || float.IsInfinity(s)) throw Bad("input.std", $"values must be positive, not {s}");
        foreach (float m in Mean)
            if (!float.IsFinite(m)) throw Bad("input.mean", "values must be finite");
        if (!(CropExpansion >= 0.5f && CropExpansion <= 4f)) throw Bad("crop.expansion", $"must be 0.5..4, not {CropExpansion}");
        if (string.IsNullOrWhiteSpace(OutputName)) throw Bad("output.name", "must not be empty");
        if (Classes.IsDefault || Classes.Length is < 2 or > 3 || Classes.Distinct().Count() != Classes.Length
            || !Classes.Contains(MaskLabelExtensions.MaskWireName) || !Classes.Contains(MaskLabelExtensions.NoMaskWireName)
            || Classes.Any(c => !MaskLabelExtensions.TryParseWireName(c, out _)))
            throw Bad("output.classes",
                $"must list \"mask\", \"no_mask\" and optionally \"incorrect\", each once, in output order (got [{(Classes.IsDefault ? "" : string.Join(", ", Classes))}])");
        return this;
    }

    /// <summary>Reads a contract from its JSON object (the manifest entry's <c>contract</c>, or the ONNX metadata value).</summary>
    public static ClassifierContract Parse(string json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            return Parse(doc.RootElement);
        }
        catch (JsonException e)
        {
            throw new ClassifierContractException($"The classifier contract is not valid JSON: {e.Message}", e);
        }
    }

    public static ClassifierContract Parse(JsonElement root)
    {
        JsonElement input = Obj(root, "input", "input"), output = Obj(root, "output", "output"), crop = Obj(root, "crop", "crop");
        string layout = Str(input, "layout", "input.layout");
        if (layout != "NCHW") throw Bad("input.layout", $"must be \"NCHW\", not \"{layout}\"");
        string colour = Str(input, "colorOrder", "input.colorOrder");
        var order = colour switch
        {
            "RGB" => ColorOrder.Rgb,
            "BGR" => ColorOrder.Bgr,
            _ => throw Bad("input.colorOrder", $"must be \"RGB\" or \"BGR\", not \"{colour}\""),
        };
        return new ClassifierContract(
            Str(input, "name", "input.name"),
            Int(input, "size", "input.size"),
            order,
            Floats(input, "mean", "input.mean"),
            Floats(input, "std", "input.std"),
            Float(crop, "expansion", "crop.expansion"),
            Str(output, "name", "output.name"),
            Strings(output, "classes", "output.classes")).Validate();
    }

    /// <summary>The contract as JSON (the shape <see cref="Parse(string)"/> reads).</summary>
    public string ToJson(bool indented = false)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = indented }))
        {
            w.WriteStartObject();
            w.WriteStartObject("input");
            w.WriteString("name", InputName);
            w.WriteString("layout", "NCHW");
            w.WriteNumber("size", InputSize);
            w.WriteString("colorOrder", ColorOrder == ColorOrder.Rgb ? "RGB" : "BGR");
            w.WriteStartArray("mean"); foreach (float m in Mean) w.WriteNumberValue(m); w.WriteEndArray();
            w.WriteStartArray("std"); foreach (float s in Std) w.WriteNumberValue(s); w.WriteEndArray();
            w.WriteEndObject();
            w.WriteStartObject("crop");
            w.WriteNumber("expansion", CropExpansion);
            w.WriteString("shape", "square, longer box side × expansion, centred, border replicated");
            w.WriteEndObject();
            w.WriteStartObject("output");
            w.WriteString("name", OutputName);
            w.WriteStartArray("classes"); foreach (string c in Classes) w.WriteStringValue(c); w.WriteEndArray();
            w.WriteString("meaning", "softmax probability per class, shape [N, classes]");
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    private static ClassifierContractException Bad(string key, string what) =>
        new($"Classifier contract key '{key}' {what}.");

    private static JsonElement Get(JsonElement parent, string name, string key)
    {
        if (parent.ValueKind != JsonValueKind.Object || !parent.TryGetProperty(name, out var e))
            throw Bad(key, "is missing");
        return e;
    }

    private static JsonElement Obj(JsonElement p, string n, string key)
    {
        var e = Get(p, n, key);
        return e.ValueKind == JsonValueKind.Object ? e : throw Bad(key, "must be an object");
    }

    private static string Str(JsonElement p, string n, string key)
    {
        var e = Get(p, n, key);
        return e.ValueKind == JsonValueKind.String ? e.GetString()! : throw Bad(key, "must be a string");
    }

    private static int Int(JsonElement p, string n, string key)
    {
        var e = Get(p, n, key);
        return e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out int v) ? v : throw Bad(key, "must be an integer");
    }

    private static float Float(JsonElement p, string n, string key)
    {
        var e = Get(p, n, key);
        return e.ValueKind == JsonValueKind.Number ? e.GetSingle() : throw Bad(key, "must be a number");
    }

    private static ImmutableArray<float> Floats(JsonElement p, string n, string key)
    {
        var e = Get(p, n, key);
        if (e.ValueKind != JsonValueKind.Array) throw Bad(key, "must be an array of numbers");
        var b = ImmutableArray.CreateBuilder<float>();
        foreach (var v in e.EnumerateArray())
            b.Add(v.ValueKind == JsonValueKind.Number ? v.GetSingle() : throw Bad(key, "must be an array of numbers"));
        return b.ToImmutable();
    }

    private static ImmutableArray<string> Strings(JsonElement p, string n, string key)
    {
        var e = Get(p, n, key);
        if (e.ValueKind != JsonValueKind.Array) throw Bad(key, "must be an array of strings");
        var b = ImmutableArray.CreateBuilder<string>();
        foreach (var v in e.EnumerateArray())
            b.Add(v.ValueKind == JsonValueKind.String ? v.GetString()! : throw Bad(key, "must be an array of strings"));
        return b.ToImmutable();
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{InputName} [N,3,{InputSize},{InputSize}] {ColorOrder} mean ({string.Join(", ", Mean)}) std ({string.Join(", ", Std)}) crop ×{CropExpansion} → {OutputName} [{string.Join(", ", Classes)}]");
}
