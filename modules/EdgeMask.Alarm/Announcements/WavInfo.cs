using System.Buffers.Binary;

namespace EdgeMask.Alarm.Announcements;

/// <summary>The facts of a PCM WAV file's header: format, where the samples are, and how long it plays.</summary>
public sealed record WavInfo(int Channels, int SampleRate, int BitsPerSample, long DataOffset, long DataLength)
{
    public TimeSpan Duration => TimeSpan.FromSeconds((double)DataLength / (SampleRate * Channels * (BitsPerSample / 8)));

    /// <summary>Reads the RIFF header; throws <see cref="InvalidDataException"/> naming the file when it is not a PCM WAV.</summary>
    public static WavInfo Read(string path)
    {
        using var stream = File.OpenRead(path);
        Span<byte> header = stackalloc byte[12];
        if (stream.ReadAtLeast(header, 12, throwOnEndOfStream: false) < 12
            || !header[..4].SequenceEqual("RIFF"u8) || !header[8..12].SequenceEqual("WAVE"u8))
        {
            throw new InvalidDataException($"{path} is not a RIFF/WAVE file");
        }
        int channels = 0, rate = 0, bits = 0;
        Span<byte> chunk = stackalloc byte[8];
        Span<byte> fmt = stackalloc byte[16];
        while (stream.ReadAtLeast(chunk, 8, throwOnEndOfStream: false) == 8)
        {
            uint size = BinaryPrimitives.ReadUInt32LittleEndian(chunk[4..]);
            long bodyStart = stream.Position;
            if (chunk[..4].SequenceEqual("fmt "u8))
            {
                stream.ReadExactly(fmt);
                ushort format = BinaryPrimitives.ReadUInt16LittleEndian(fmt);
                // 1 = integer PCM, 0xFFFE = WAVE_FORMAT_EXTENSIBLE (aplay and sox both write it for >2 channels).
                if (format is not 1 and not 0xFFFE)
                    throw new InvalidDataException($"{path} is not PCM (format tag {format})");
                channels = BinaryPrimitives.ReadUInt16LittleEndian(fmt[2..]);
                rate = BinaryPrimitives.ReadInt32LittleEndian(fmt[4..]);
                bits = BinaryPrimitives.ReadUInt16LittleEndian(fmt[14..]);
            }
            else if (chunk[..4].SequenceEqual("data"u8))
            {
                if (channels == 0 || rate == 0 || bits == 0)
                    throw new InvalidDataException($"{path} has its data chunk before the fmt chunk");
                // Streaming writers leave the size at 0 or 0xFFFFFFFF; the samples then run to the end of the file.
                long available = stream.Length - bodyStart;
                long length = size == 0 || size > available ? available : size;
                return new WavInfo(channels, rate, bits, bodyStart, length);
            }
            stream.Position = bodyStart + size + (size & 1);
        }
        throw new InvalidDataException($"{path} has no data chunk");
    }
}
