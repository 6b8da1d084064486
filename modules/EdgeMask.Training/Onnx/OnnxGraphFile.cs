using System.Runtime.InteropServices;
using System.Text;

namespace EdgeMask.Training.Onnx;

/// <summary>An ONNX file cannot be used as a starting point for training (unreadable, or not the expected graph).</summary>
internal sealed class OnnxGraphException(string path, string reason) : Exception($"{path}: {reason}")
{
    public string Path { get; } = path;
}

/// <summary>
/// A float32 initializer stored as <c>raw_data</c> or as packed <c>float_data</c> (CNTK's exporter writes the latter);
/// both are the little-endian floats back to back, and <see cref="RawOffset"/> is the byte offset of them in the file.
/// </summary>
internal sealed record OnnxInitializer(string Name, long[] Dims, int DataType, int RawOffset, int RawLength)
{
    public long ElementCount => Dims.Aggregate(1L, (a, b) => a * b);
}

/// <summary>A graph node as read from the file (only what rebuilding the network needs).</summary>
internal sealed record OnnxGraphNode(string OpType, string Name, IReadOnlyList<string> Inputs, IReadOnlyList<string> Outputs,
    IReadOnlyDictionary<string, long[]> IntAttributes, IReadOnlyDictionary<string, float> FloatAttributes);

/// <summary>
/// A read-only view of an ONNX <c>ModelProto</c>: nodes in graph order and the initializers, each with the byte range
/// of its <c>raw_data</c>. Parsed straight from the protobuf wire format (field numbers of onnx/onnx.proto) so no
/// generated classes are needed. Tuned weights are written back by overwriting those byte ranges in a copy of the
/// original bytes: same shapes ⇒ same lengths, so every other byte of the file (graph, shapes, metadata) stays as exported.
/// </summary>
internal sealed class OnnxGraphFile
{
    private const int FloatType = 1;
    private readonly byte[] _bytes;

    public string Path { get; }
    public IReadOnlyList<OnnxGraphNode> Nodes { get; }
    public IReadOnlyDictionary<string, OnnxInitializer> Initializers { get; }

    private OnnxGraphFile(string path, byte[] bytes, List<OnnxGraphNode> nodes, Dictionary<string, OnnxInitializer> initializers)
    {
        Path = path;
        _bytes = bytes;
        Nodes = nodes;
        Initializers = initializers;
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
        try
        {
            bool sawGraph = false;
            foreach (var f in Fields(bytes, 0, bytes.Length))
            {
                if (f.Number != 7 || f.WireType != 2) continue; // ModelProto.graph
                sawGraph = true;
                foreach (var g in Fields(bytes, f.Start, f.End))
                {
                    if (g.WireType != 2) continue;
                    if (g.Number == 1) nodes.Add(ReadNode(bytes, g.Start, g.End));            // GraphProto.node
                    else if (g.Number == 5)                                                   // GraphProto.initializer
                    {
                        var t = ReadTensor(bytes, g.Start, g.End);
                        if (t is not null) inits[t.Name] = t;
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
        return new OnnxGraphFile(path, bytes, nodes, inits);
    }

    /// <summary>The values of a float32 initializer.</summary>
    public float[] ReadFloats(string name)
    {
        var t = Initializer(name);
        return MemoryMarshal.Cast<byte, float>(_bytes.AsSpan(t.RawOffset, t.RawLength)).ToArray();
    }

    public OnnxInitializer Initializer(string name) =>
        Initializers.TryGetValue(name, out var t) ? t : throw new OnnxGraphException(Path, $"no float32 raw_data initializer named '{name}'.");

    /// <summary>A copy of the file with the given initializers' values replaced (each must keep its element count).</summary>
    public byte[] WithInitializers(IReadOnlyDictionary<string, float[]> values)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("ONNX raw_data is little-endian; this writer needs a little-endian host.");
        var copy = (byte[])_bytes.Clone();
        foreach (var (name, data) in values)
        {
            var t = Initializer(name);
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
        string name = "", op = "";
        var ints = new Dictionary<string, long[]>(StringComparer.Ordinal);
        var floats = new Dictionary<string, float>(StringComparer.Ordinal);
        foreach (var f in Fields(b, start, end))
        {
            switch (f.Number, f.WireType)
            {
                case (1, 2): inputs.Add(Str(b, f)); break;
                case (2, 2): outputs.Add(Str(b, f)); break;
                case (3, 2): name = Str(b, f); break;
                case (4, 2): op = Str(b, f); break;
                case (5, 2): ReadAttribute(b, f.Start, f.End, ints, floats); break;
            }
        }
        return new OnnxGraphNode(op, name, inputs, outputs, ints, floats);
    }

    private static void ReadAttribute(byte[] b, int start, int end, Dictionary<string, long[]> ints, Dictionary<string, float> floats)
    {
        string name = "";
        float? f32 = null;
        var list = new List<long>();
        bool hasInt = false;
        foreach (var f in Fields(b, start, end))
        {
            switch (f.Number, f.WireType)
            {
                case (1, 2): name = Str(b, f); break;
                case (2, 5): f32 = BitConverter.ToSingle(b, f.Start); break;
                case (3, 0): list.Add(f.Value); hasInt = true; break;
                case (8, 0): list.Add(f.Value); hasInt = true; break;
                case (8, 2): // packed ints
                    for (int p = f.Start; p < f.End;) list.Add(ReadVarint(b, ref p));
                    hasInt = true;
                    break;
            }
        }
        if (f32 is float v) floats[name] = v;
        if (hasInt) ints[name] = [.. list];
    }

    private static OnnxInitializer? ReadTensor(byte[] b, int start, int end)
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
        // Only float32 tensors stored as raw bytes or packed floats can be read and overwritten in place; others (shape constants) are not weights.
        if (type != FloatType || rawStart < 0) return null;
        var t = new OnnxInitializer(name, [.. dims], type, rawStart, rawLength);
        return t.ElementCount * 4 == rawLength ? t : null;
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
