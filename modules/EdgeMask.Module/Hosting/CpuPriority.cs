using System.Globalization;
using System.Runtime.InteropServices;

namespace EdgeMask.Module.Hosting;

/// <summary>
/// Lowers the CPU priority of the calling thread only, so work that can wait (snapshot encoding) yields the cores to
/// work that cannot (inference on a live camera). On Linux this is the thread's nice value: Linux keeps it per thread
/// (<c>setpriority(PRIO_PROCESS, tid, …)</c>), raising it needs no privilege, and the scheduler then gives a nice-10
/// thread about a tenth of the CPU of a nice-0 thread it competes with, and all of the CPU nobody else wants.
/// </summary>
/// <remarks>
/// A nice value cannot be lowered again without <c>CAP_SYS_NICE</c>, and every thread created by a lowered thread
/// inherits it (clone copies it). So only a thread that runs nothing but the background work itself may be lowered: a
/// thread-pool thread, or one that wakes async code (which may grow the pool from that thread), must never be. That is
/// why <see cref="Pipeline.LowPriorityThread"/> owns its thread and hands results back through a blocking wait.
/// Elsewhere (Windows, macOS) the managed <see cref="Thread.Priority"/> is used.
/// </remarks>
public static partial class CpuPriority
{
    private const int PRIO_PROCESS = 0;

    [LibraryImport("libc", EntryPoint = "setpriority", SetLastError = true)]
    private static partial int SetPriority(int which, int who, int priority);

    [LibraryImport("libc", EntryPoint = "gettid")]
    private static partial int GetTid();

    /// <summary>The kernel's id of the calling thread (Linux), else null.</summary>
    public static int? CurrentThreadId()
    {
        if (!OperatingSystem.IsLinux()) return null;
        try
        {
            return GetTid();
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }
    }

    /// <summary>
    /// Raises the calling thread's nice value by <paramref name="steps"/> (1–19; at most to 19, the lowest priority)
    /// on Linux, or sets <see cref="ThreadPriority.BelowNormal"/> elsewhere. Relative, so a module started under
    /// <c>nice</c> keeps the same distance between its cameras and this thread. Returns false (and changes nothing)
    /// when the platform refuses.
    /// </summary>
    public static bool TryLowerCurrentThread(int steps, out string? error)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(steps, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(steps, 19);
        error = null;
        if (!OperatingSystem.IsLinux())
        {
            try
            {
                Thread.CurrentThread.Priority = ThreadPriority.BelowNormal;
                return true;
            }
            catch (Exception ex) when (ex is ThreadStateException or PlatformNotSupportedException)
            {
                error = ex.Message;
                return false;
            }
        }
        try
        {
            int tid = GetTid();
            int target = Math.Min(19, (NiceOf(tid) ?? 0) + steps);
            if (SetPriority(PRIO_PROCESS, tid, target) == 0) return true;
            error = Marshal.GetLastPInvokeErrorMessage();
            return false;
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            error = ex.Message;
            return false;
        }
    }

    /// <summary>The nice value of thread <paramref name="threadId"/> of this process, from <c>/proc</c> (Linux); null when unknown.</summary>
    public static int? NiceOf(int threadId)
    {
        try
        {
            string stat = File.ReadAllText($"/proc/self/task/{threadId.ToString(CultureInfo.InvariantCulture)}/stat");
            // The command name (field 2) is in parentheses and may hold spaces; the fields after it are plain.
            string[] rest = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            // rest[0] is field 3 (state), so field 19 (nice) is rest[16].
            return int.Parse(rest[16], NumberStyles.Integer, CultureInfo.InvariantCulture);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return null;
        }
    }
}
