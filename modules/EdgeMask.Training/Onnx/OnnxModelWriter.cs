using System.Runtime.InteropServices;
using Google.Protobuf;

namespace EdgeMask.Training.Onnx;

/// <summary>One graph node: ONNX operator, inputs, outputs, attributes.</summary>
internal sealed record OnnxNode(string OpType, string Name, string[] Inputs, string[] Outputs, OnnxAttribute[] Attributes);

/// <summary>A node attribute: exactly one of an int, a float or a list of ints.</summary>
internal sealed record OnnxAttribute(string Name, long? Int = null, float? Float = null, long[]? Ints = null)
{
    public static OnnxAttribute Of(string name, long value) => new(name, Int: value);
    public static OnnxAttribute Of(string name, float value) => new(name, Float: value);
    public static OnnxAttribute Of(string name, params long[] values) => new(name, Ints: values);
}

/// <summary>A float32 initializer (weights).</summary>
internal sealed record OnnxTensor(string Name, long[] Dims, float[] Data);

/// <summary>
/// An initializer of any element type given as its little-endian bytes (<c>raw_data</c>): int8 / uint8 / int32 tensors
/// of a quantized graph. <see cref="DataType"/> is ONNX's <c>TensorProto.DataType</c> (<see cref="OnnxDataType"/>).
/// </summary>
internal sealed record OnnxRawTensor(string Name, long[] Dims, int DataType, byte[] Raw);

/// <summary>ONNX <c>TensorProto.DataType</c> numbers this project writes.</summary>
internal static class OnnxDataType
{
    public const int Float = 1;
    public const int Uint8 = 2;
    public const int Int8 = 3;
    public const int Int32 = 6;
    public const int Float16 = 10;
}

/// <summary>
/// A graph input or output: float32 with dimensions that are fixed (&gt; 0) or named symbols; null dimensions write no
/// shape at all (an intermediate tensor exposed as an output, whose shape ONNX Runtime infers).
/// </summary>
internal sealed record OnnxValue(string Name, object[]? Dims);

/// <summary>
/// Writes an ONNX <c>ModelProto</c> directly in protobuf wire format (TorchSharp has no ONNX export). Only the
/// fields this project needs are written; field numbers are those of onnx/onnx.proto (IR version 8).
/// </summary>
internal static class OnnxModelWriter
{
    public const long IrVersion = 8;
    public const long OpsetVersion = 13;
    private const int FloatType = 1; // TensorProto.DataType.FLOAT
    private const int Float16Type = 10; // TensorProto.DataType.FLOAT16
    /// <summary>Suffix of an initializer stored as float16, cast back to float32 by a Cast node under the original name.</summary>
    public const string HalfSuffix = "__float16";

    /// <param name="halfPrecisionWeights">
    /// Store each initializer as float16 followed by a Cast to float32 under its own name: half the file size, and
    /// ONNX Runtime folds the Casts when it loads the model, so it still computes in float32 (with the weights
    /// rounded to float16, a relative change of at most 2⁻¹¹).
    /// </param>
    /// <param name="rawInitializers">Initializers of other element types (quantized weights, scales, zero points), written as they are.</param>
    public static byte[] Write(
        string graphName, IReadOnlyList<OnnxNode> nodes, IReadOnlyList<OnnxTensor> initializers,
        IReadOnlyList<OnnxValue> inputs, IReadOnlyList<OnnxValue> outputs, IReadOnlyDictionary<string, string> metadata,
        string producer, string docString, bool halfPrecisionWeights = false, IReadOnlyList<OnnxRawTensor>? rawInitializers = null)
    {
        if (halfPrecisionWeights)
        {
            // Casts first: nodes must be in topological order, and the Casts depend on initializers only.
            nodes = [.. initializers.Select(t => new OnnxNode("Cast", t.Name + "_cast", [t.Name + HalfSuffix], [t.Name], [OnnxAttribute.Of("to", (long)FloatType)])), .. nodes];
        }
        return Message(m =>
        {
            m.Int(1, IrVersion);                      // ir_version
            m.Str(2, producer);                       // producer_name
            m.Str(3, "1");                            // producer_version
            m.Str(6, docString);                      // doc_string
            m.Msg(7, g =>                             // graph
            {
                foreach (var n in nodes) g.Msg(1, w => Node(w, n));
                g.Str(2, graphName);
                foreach (var t in initializers) g.Msg(5, w => Tensor(w, t, halfPrecisionWeights));
                foreach (var t in rawInitializers ?? []) g.Msg(5, w => RawTensor(w, t));
                foreach (var v in inputs) g.Msg(11, w => Value(w, v));
                foreach (var v in outputs) g.Msg(12, w => Value(w, v));
            });
            m.Msg(8, o => { o.Str(1, ""); o.Int(2, OpsetVersion); }); // opset_import: default domain
            foreach (var (k, v) in metadata) m.Msg(14, e => { e.Str(1, k); e.Str(2, v); }); // metadata_props
        });
    }

    private static void Node(Writer w, OnnxNode n)
    {
        foreach (string i in n.Inputs) w.Str(1, i);
        foreach (string o in n.Outputs) w.Str(2, o);
        w.Str(3, n.Name);
        w.Str(4, n.OpType);
        foreach (var a in n.Attributes)
        {
            w.Msg(5, aw =>
            {
                aw.Str(1, a.Name);
                if (a.Float is float f) { aw.Float(2, f); aw.Int(20, 1); }          // FLOAT
                else if (a.Int is long i) { aw.Int(3, i); aw.Int(20, 2); }         // INT
                else if (a.Ints is long[] ints) { foreach (long v in ints) aw.Int(8, v); aw.Int(20, 7); } // INTS
                else throw new ArgumentException($"Attribute '{a.Name}' of node '{n.Name}' has no value.");
            });
        }
    }

    private static void Tensor(Writer w, OnnxTensor t, bool half)
    {
        long count = t.Dims.Aggregate(1L, (a, b) => a * b);
        if (count != t.Data.Length)
            throw new ArgumentException($"Initializer '{t.Name}' has {t.Data.Length} values for dims [{string.Join(",", t.Dims)}].");
        foreach (long d in t.Dims) w.Int(1, d);
        w.Int(2, half ? Float16Type : FloatType);
        w.Str(8, half ? t.Name + HalfSuffix : t.Name);
        // raw_data is little-endian by the ONNX spec; this writer runs on little-endian hosts only.
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("The ONNX writer needs a little-endian host.");
        if (!half)
        {
            w.Bytes(9, MemoryMarshal.AsBytes(t.Data.AsSpan()).ToArray());
            return;
        }
        var halves = new Half[t.Data.Length];
        for (int i = 0; i < halves.Length; i++) halves[i] = (Half)t.Data[i];
        w.Bytes(9, MemoryMarshal.AsBytes(halves.AsSpan()).ToArray());
    }

    private static void RawTensor(Writer w, OnnxRawTensor t)
    {
        foreach (long d in t.Dims) w.Int(1, d);
        w.Int(2, t.DataType);
        w.Str(8, t.Name);
        w.Bytes(9, t.Raw);
    }

    private static void Value(Writer w, OnnxValue v)
    {
        w.Str(1, v.Name);
        w.Msg(2, type => type.Msg(1, tensor =>
        {
            tensor.Int(1, FloatType);
            if (v.Dims is null) return;
            tensor.Msg(2, shape =>
            {
                foreach (object d in v.Dims)
                {
                    shape.Msg(1, dim =>
                    {
                        if (d is string symbol) dim.Str(2, symbol);
                        else dim.Int(1, Convert.ToInt64(d, System.Globalization.CultureInfo.InvariantCulture));
                    });
                }
            });
        }));
    }

    private static byte[] Message(Action<Writer> body)
    {
        using var ms = new MemoryStream();
        var cos = new CodedOutputStream(ms, leaveOpen: true);
        body(new Writer(cos));
        cos.Flush();
        return ms.ToArray();
    }

    /// <summary>Field writer; nested messages are built into their own buffer, then written length-delimited.</summary>
    private readonly struct Writer(CodedOutputStream output)
    {
        public void Int(int field, long value)
        {
            output.WriteTag(field, WireFormat.WireType.Varint);
            output.WriteInt64(value);
        }

        public void Float(int field, float value)
        {
            output.WriteTag(field, WireFormat.WireType.Fixed32);
            output.WriteFloat(value);
        }

        public void Str(int field, string value)
        {
            output.WriteTag(field, WireFormat.WireType.LengthDelimited);
            output.WriteString(value);
        }

        public void Bytes(int field, byte[] value)
        {
            output.WriteTag(field, WireFormat.WireType.LengthDelimited);
            output.WriteBytes(ByteString.CopyFrom(value));
        }

        public void Msg(int field, Action<Writer> body) => Bytes(field, Message(body));
    }
}
