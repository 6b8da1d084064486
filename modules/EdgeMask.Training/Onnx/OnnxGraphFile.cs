using System.Runtime.InteropServices;
using System.Text;

namespace EdgeMask.Training.Onnx;

/// <summary>An ONNX file cannot be used as a starting point for training (unreadable, or not the expected graph).</summary>
internal sealed class OnnxGraphException(string path, string reason) : Exception($"{path}: {reason}")
{
    public string Path { get; } = path;
}

/// <summary>
/// A float32 initializer stored as <c>raw_data</c> or as packed <c>float_data</c> (CNTK's exporter writes the latter),
/// or a float16 one stored as <c>raw_data</c> (our <c>--fp16-weights</c> files); the values are little-endian back to
/// back, and <see cref="RawOffset"/> is the byte offset of them in the file.
/// </summary>
internal sealed record OnnxInitializer(string Name, long[] Dims, int DataType, int RawOffset, int RawLength)
{
    public const int Float = 1;
    public const int Float16 = 10;

    public long ElementCount => Dims.Aggregate(1L, (a, b) => a * b);
}

/// <summary>
/// A graph node as read from the file (only what rebuilding the network needs). <see cref="IntListAttributes"/> names the
/// integer attributes stored as a list (<c>kernel_shape</c>) rather than one value (<c>axis</c>), so a node can be written
/// back with the same attribute types; <see cref="OtherAttributes"/> names attributes of any other type (strings, tensors),
/// which are not read.
/// </summary>
internal sealed record OnnxGraphNode(string OpType, string Name, IReadOnlyList<string> Inputs, IReadOnlyList<string> Outputs,
    IReadOnlyDictionary<string, long[]> IntAttributes, IReadOnlyDictionary<string, float> FloatAttributes)
{
    public IReadOnlySet<string> IntListAttributes { get; init; } = new HashSet<string>();
    public IReadOnlySet<string> OtherAttributes { get; init; } = new HashSet<string>();
    /// <summary>The operator set domain ("" for the default ONNX domain; ONNX Runtime's optimised graphs use com.microsoft).</summary>
    public string Domain { get; init; } = "";
}

/// <summary>
/// A read-only view of an ONNX <c>ModelProto</c>: nodes in graph order and the initializers, each with the byte range
/// of its <c>raw_data</c>. Parsed straight from the protobuf wire format (field numbers of onnx/onnx.proto) so no
/// generated classes are needed. Tuned weights are written back by overwriting those byte ranges in a copy of the
/// original bytes: same shapes ⇒ same lengths, so every other byte of the file (graph, shapes, metadata) stays as exported.
/// </summary>
internal sealed class OnnxGraphFile
{
    private readonly byte[] _bytes;

    public string Path { get; }
    public IReadOnlyList<OnnxGraphNode> Nodes { get; }
    public IReadOnlyDictionary<string, OnnxInitializer> Initializers { get; }
    /// <summary>Every initializer's element type (ONNX <c>TensorProto.DataType</c>) and dimensions, whatever its type (int8 weights included).</summary>
    public IReadOnlyDictionary<string, (int DataType, long[] Dims)> InitializerTypes { get; }
    /// <summary>The model's <c>metadata_props</c> (key → value).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }
    /// <summary>The names of the graph's inputs and outputs, in order (initializers listed as inputs by old exporters included).</summary>
    public IReadOnlyList<string> GraphInputs { get; }
    public IReadOnlyList<string> GraphOutputs { get; }

    private OnnxGraphFile(string path, byte[] bytes, List<OnnxGraphNode> nodes, Dictionary<string, OnnxInitializer> initializers,
        Dictionary<string, string> metadata, List<string> inputs, List<string> outputs, Dictionary<string, (int, long[])> types)
    {
        InitializerTypes = types;
        Path = path;
        _bytes = bytes;
        Nodes = nodes;
        Initializers = initializers;
        Metadata = metadata;
        GraphInputs = inputs;
        GraphOutputs = outputs;
    }

    public static OnnxGraphFile Load(string path)
    {
        if (!File.Exists(path)) throw new OnnxGraphException(path, "the file does not exist (install the models with models/install.sh --from ../shared/models).");
        return Parse(File.ReadAllBytes(path), path);
    }

    public static OnnxGraphFile Parse(byte[] bytes, string path)
    {
        var nodes = new List<OnnxGraphNode>();
        var inits = new Dictionary<string, OnnxInitializer>(StringComparer.Ordinal);
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var types = new Dictionary<string, (int, long[])>(StringComparer.Ordinal);
        var inputs = new List<string>();
        var outputs = new List<string>();
        try
        {
            bool sawGraph = false;
            foreach (var f in Fields(bytes, 0, bytes.Length))
            {
                if (f.Number == 14 && f.WireType == 2)                                        // ModelProto.metadata_props
                {
                    string key = "", value = "";
                    foreach (var e in Fields(bytes, f.Start, f.End))
                    {
                        if (e.Number == 1 && e.WireType == 2) key = Str(bytes, e);
                        else if (e.Number == 2 && e.WireType == 2) value = Str(bytes, e);
                    }
                    metadata[key] = value;
                    continue;
                }
                if (f.Number != 7 || f.WireType != 2) continue; // ModelProto.graph
                sawGraph = true;
                foreach (var g in Fields(bytes, f.Start, f.End))
                {
                    if (g.WireType != 2) continue;
                    if (g.Number == 1) nodes.Add(ReadNode(bytes, g.Start, g.End));            // GraphProto.node
                    else if (g.Number == 5)                                                   // GraphProto.initializer
                    {
                        var t = ReadTensor(bytes, g.Start, g.End, types);
                        if (t is not null) inits[t.Name] = t;
                    }
                    else if (g.Number is 11 or 12)                                            // GraphProto.input / output (ValueInfoProto)
                    {
                        string name = "";
                        foreach (var v in Fields(bytes, g.Start, g.End))
                            if (v.Number == 1 && v.WireType == 2) name = Str(bytes, v);
                        (g.Number == 11 ? inputs : outputs).Add(name);
                    }
                }
            }
            if (!sawGraph) throw new OnnxGraphException(path, "no graph in the file; is it an ONNX model?");
        }
        catch (Exception e) when (e is MalformedProtobufException or IndexOutOfRangeException or ArgumentOutOfRangeException or OverflowException)
        {
            // Reading past the end of the buffer is how a truncated or non-protobuf file shows up.
            throw new OnnxGraphException(path, "truncated or not an ONNX protobuf file.");
        }
        return new OnnxGraphFile(path, bytes, nodes, inits, metadata, inputs, outputs, types);
    }

    /// <summary>The values of a float32 initializer, or of a float16 one widened to float32.</summary>
    public float[] ReadFloats(string name)
    {
        var t = Initializer(name);
        var raw = _bytes.AsSpan(t.RawOffset, t.RawLength);
        if (t.DataType == OnnxInitializer.Float) return MemoryMarshal.Cast<byte, float>(raw).ToArray();
        var halves = MemoryMarshal.Cast<byte, Half>(raw);
        var floats = new float[halves.Length];
        for (int i = 0; i < floats.Length; i++) floats[i] = (float)halves[i];
        return floats;
    }

    public OnnxInitializer Initializer(string name) =>
        Initializers.TryGetValue(name, out var t) ? t : throw new OnnxGraphException(Path, $"no float32 or float16 raw_data initializer named '{name}'.");

    /// <summary>A copy of the file with the given initializers' values replaced (each must keep its element count).</summary>
    public byte[] WithInitializers(IReadOnlyDictionary<string, float[]> values)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("ONNX raw_data is little-endian; this writer needs a little-endian host.");
        var copy = (byte[])_bytes.Clone();
        foreach (var (name, data) in values)
        {
            var t = Initializer(name);
            if (t.DataType != OnnxInitializer.Float)
                throw new ArgumentException($"Initializer '{name}' is stored as float16; only float32 initializers are overwritten in place.");
            if (data.Length != t.ElementCount)
                throw new ArgumentException($"Initializer '{name}' holds {t.ElementCount} values; {data.Length} were given.");
            MemoryMarshal.AsBytes(data.AsSpan()).CopyTo(copy.AsSpan(t.RawOffset, t.RawLength));
        }
        return copy;
    }

    private static OnnxGraphNode ReadNode(byte[] b, int start, int end)
    {
        var inputs = new List<string>();
        var outputs = new List<string>();
        string name = "", op = "", domain = "";
        var ints = new Dictionary<string, long[]>(StringComparer.Ordinal);
        var floats = new Dictionary<string, float>(StringComparer.Ordinal);
        var lists = new HashSet<string>(StringComparer.Ordinal);
        var others = new HashSet<string>(StringComparer.Ordinal);
        foreach (var f in Fields(b, start, end))
        {
            switch (f.Number, f.WireType)
            {
                case (1, 2): inputs.Add(Str(b, f)); break;
                case (2, 2): outputs.Add(Str(b, f)); break;
                case (3, 2): name = Str(b, f); break;
                case (4, 2): op = Str(b, f); break;
                case (5, 2): ReadAttribute(b, f.Start, f.End, ints, floats, lists, others); break;
                case (7, 2): domain = Str(b, f); break;
            }
        }
        return new OnnxGraphNode(op, name, inputs, outputs, ints, floats) { IntListAttributes = lists, OtherAttributes = others, Domain = domain };
    }

    private static void ReadAttribute(byte[] b, int start, int end, Dictionary<string, long[]> ints, Dictionary<string, float> floats,
        HashSet<string> lists, HashSet<string> others)
    {
        string name = "";
        float? f32 = null;
        var list = new List<long>();
        bool hasInt = false, isList = false, hasOther = false;
        foreach (var f in Fields(b, start, end))
        {
            switch (f.Number, f.WireType)
            {
                case (1, 2): name = Str(b, f); break;
                case (2, 5): f32 = BitConverter.ToSingle(b, f.Start); break;
                case (3, 0): list.Add(f.Value); hasInt = true; break;
                case (8, 0): list.Add(f.Value); hasInt = true; isList = true; break;
                case (8, 2): // packed ints
                    for (int p = f.Start; p < f.End;) list.Add(ReadVarint(b, ref p));
                    hasInt = true;
                    isList = true;
                    break;
                case (4, 2) or (5, 2) or (6, 2) or (7, 2) or (9, 2) or (10, 2) or (11, 2): hasOther = true; break; // s, t, g, floats, strings, tensors, graphs
                case (20, 0) when f.Value == 7: isList = true; break; // AttributeType INTS (an empty list has no values)
            }
        }
        if (f32 is float v) floats[name] = v;
        if (hasInt) ints[name] = [.. list];
        if (isList) lists.Add(name);
        if (hasOther) others.Add(name);
    }

    private static OnnxInitializer? ReadTensor(byte[] b, int start, int end, Dictionary<string, (int, long[])> types)
    {
        var dims = new List<long>();
        int type = 0, rawStart = -1, rawLength = 0;
        string name = "";
        foreach (var f in Fields(b, start, end))
        {
            switch (f.Number, f.WireType)
            {
                case (1, 0): dims.Add(f.Value); break;
                case (1, 2): for (int p = f.Start; p < f.End;) dims.Add(ReadVarint(b, ref p)); break;
                case (2, 0): type = (int)f.Value; break;
                case (8, 2): name = Str(b, f); break;
                case (4, 2):                                   // float_data, packed
                case (9, 2): rawStart = f.Start; rawLength = f.End - f.Start; break;  // raw_data
            }
        }
        types[name] = (type, [.. dims]);
        // Only float32 tensors stored as raw bytes or packed floats, and float16 ones stored as raw bytes, are weights to
        // read; others (shape constants, quantized tensors) are not.
        if (type is not (OnnxInitializer.Float or OnnxInitializer.Float16) || rawStart < 0) return null;
        var t = new OnnxInitializer(name, [.. dims], type, rawStart, rawLength);
        return t.ElementCount * (type == OnnxInitializer.Float ? 4 : 2) == rawLength ? t : null;
    }

    private static string Str(byte[] b, in Field f) => Encoding.UTF8.GetString(b, f.Start, f.End - f.Start);

    private readonly record struct Field(int Number, int WireType, long Value, int Start, int End);

    /// <summary>The fields of one message occupying bytes [start, end): varints carry <c>Value</c>, length-delimited and fixed fields their byte range.</summary>
    private static IEnumerable<Field> Fields(byte[] b, int start, int end)
    {
        int p = start;
        while (p < end)
        {
            long tag = ReadVarint(b, ref p);
            int number = (int)(tag >> 3), wire = (int)(tag & 7);
            switch (wire)
            {
                case 0:
                    yield return new Field(number, wire, ReadVarint(b, ref p), p, p);
                    break;
                case 1:
                    yield return new Field(number, wire, 0, p, p + 8);
                    p += 8;
                    break;
                case 2:
                    int length = checked((int)ReadVarint(b, ref p));
                    if (length < 0 || p + length > end) throw new MalformedProtobufException();
                    yield return new Field(number, wire, 0, p, p + length);
                    p += length;
                    break;
                case 5:
                    yield return new Field(number, wire, 0, p, p + 4);
                    p += 4;
                    break;
                default:
                    throw new MalformedProtobufException();
            }
        }
    }

    private static long ReadVarint(byte[] b, ref int p)
    {
        long result = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            byte x = b[p++];
            result |= (long)(x & 0x7F) << shift;
            if ((x & 0x80) == 0) return result;
        }
        throw new MalformedProtobufException();
    }

    /// <summary>A length, wire type or varint that cannot occur in a well-formed message; turned into <see cref="OnnxGraphException"/>.</summary>
    private sealed class MalformedProtobufException() : Exception("malformed protobuf");
}
