using System.Runtime.InteropServices;

namespace EdgeMask.Module.Hosting;

/// <summary>
/// Tunes glibc's malloc for a process that runs for months with native decoders (FFmpeg in OpenCV), ONNX Runtime and
/// OpenCV images allocated on one thread and freed on another (a frame copied on the camera thread, encoded and freed
/// on the snapshot stage's). With glibc's defaults such a process's resident memory grows for hours although nothing
/// leaks: measured with <c>bench soak</c> on the looping sample, RSS rose 2 MB a minute outside the managed heap
/// (+11.8 % from the 5th to the 25th minute), with snapshots on or off; with these settings the native part stayed
/// flat. The causes are glibc's: up to 8 arenas per core that each keep their freed pieces, and a threshold for
/// <c>mmap</c> that rises after large blocks are freed, so later 1–2 MB image buffers land in the arenas instead of
/// being returned to the system.
/// </summary>
/// <remarks>
/// Called first thing in <c>Main</c>. Environment variables win: when any <c>MALLOC_*</c> is set, nothing is changed
/// (glibc has already read them). A C library without <c>mallopt</c> (musl) is left alone.
/// </remarks>
public static partial class NativeAllocator
{
    // glibc's malloc.h
    private const int M_TRIM_THRESHOLD = -1, M_MMAP_THRESHOLD = -3, M_ARENA_MAX = -8;

    /// <summary>Blocks of this size and above are mmapped (and returned to the system when freed), and free memory
    /// above it at the top of the heap is trimmed: a fixed value also turns off glibc's dynamic threshold.</summary>
    public const int Threshold = 128 * 1024;

    /// <summary>Arenas for the whole process (glibc's default is 8 per core).</summary>
    public const int Arenas = 2;

    [LibraryImport("libc", EntryPoint = "mallopt")]
    private static partial int MallOpt(int parameter, int value);

    /// <summary>Applies the settings; false when nothing was changed (not Linux glibc, or MALLOC_* set in the environment).</summary>
    public static bool Configure()
    {
        if (!OperatingSystem.IsLinux()) return false;
        foreach (var name in Environment.GetEnvironmentVariables().Keys)
            if (name is string s && s.StartsWith("MALLOC_", StringComparison.Ordinal)) return false;
        try
        {
            // mallopt returns 1 on success.
            return MallOpt(M_ARENA_MAX, Arenas) == 1 & MallOpt(M_MMAP_THRESHOLD, Threshold) == 1 & MallOpt(M_TRIM_THRESHOLD, Threshold) == 1;
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }
}
