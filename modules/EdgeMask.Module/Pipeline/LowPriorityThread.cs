using System.Runtime.ExceptionServices;
using EdgeMask.Module.Hosting;

namespace EdgeMask.Module.Pipeline;

/// <summary>
/// A dedicated thread at a lower CPU priority than the cameras' (<see cref="CpuPriority"/>) that runs one job at a time
/// for a caller who waits for it: CPU work that can wait (JPEG encoding of snapshots) then takes only the CPU that
/// inference leaves, instead of half of a 2-core device in a crowd.
/// </summary>
/// <remarks>
/// A job must be plain CPU and file work (OpenCV, disk): it must not wake async code, start tasks or open sessions,
/// since any thread created from this one (a thread-pool thread grown from here, an ONNX Runtime pool) would inherit
/// its priority for good. The hand-over is therefore two semaphores waited on synchronously: releasing a semaphore
/// with no async waiter never touches the thread pool. One inheritance is beyond our reach: .NET starts some helper
/// threads on demand from whichever thread allocates at that moment (the background GC thread, the tiered JIT worker;
/// both exit when idle), so they may be born here and run at the lower priority until they exit — a background
/// collection or a tier-up then takes longer under load, never a frame. When the platform refuses the lower priority, jobs still run
/// here, at normal priority (<see cref="PriorityLowered"/> says which). Owns its thread; <see cref="Dispose"/> ends it
/// after the job in progress.
/// </remarks>
public sealed class LowPriorityThread : IDisposable
{
    /// <summary>How many nice steps below the process the thread runs on Linux: 10 gives it about a tenth of a core that inference wants.</summary>
    public const int DefaultNiceness = 10;

    private readonly SemaphoreSlim _jobReady = new(0, 1);
    private readonly SemaphoreSlim _jobDone = new(0, 1);
    private readonly ManualResetEventSlim _started = new(false);
    private readonly Lock _callers = new();
    private readonly Thread _thread;
    private readonly int _niceness;
    private Action? _job;
    private ExceptionDispatchInfo? _failure;
    private volatile bool _stopping;
    private bool _disposed;

    public LowPriorityThread(string name, int niceness = DefaultNiceness)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentOutOfRangeException.ThrowIfLessThan(niceness, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(niceness, 19);
        _niceness = niceness;
        _thread = new Thread(Loop) { IsBackground = true, Name = name };
        _thread.Start();
        _started.Wait();
    }

    /// <summary>Whether the thread runs at the lower priority (false: the platform refused, see <see cref="PriorityError"/>).</summary>
    public bool PriorityLowered { get; private set; }

    /// <summary>Why the priority could not be lowered, or null.</summary>
    public string? PriorityError { get; private set; }

    /// <summary>Whether the thread still runs (false once disposed).</summary>
    public bool IsRunning => _thread.IsAlive;

    /// <summary>The kernel's id of the thread (Linux), for health reports and tests.</summary>
    public int? OsThreadId { get; private set; }

    /// <summary>Runs <paramref name="job"/> on the thread and returns when it is done; its exception is rethrown here.</summary>
    /// <exception cref="ObjectDisposedException">The thread was disposed.</exception>
    public void Run(Action job)
    {
        ArgumentNullException.ThrowIfNull(job);
        lock (_callers)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _job = job;
            _jobReady.Release();
            _jobDone.Wait();
            _job = null;
            var failure = _failure;
            _failure = null;
            failure?.Throw();
        }
    }

    private void Loop()
    {
        OsThreadId = CpuPriority.CurrentThreadId();
        PriorityLowered = CpuPriority.TryLowerCurrentThread(_niceness, out string? error);
        PriorityError = error;
        _started.Set();
        while (true)
        {
            _jobReady.Wait();
            if (_stopping) return;
            try
            {
                _job!();
            }
            catch (Exception ex)
            {
                _failure = ExceptionDispatchInfo.Capture(ex);
            }
            _jobDone.Release();
        }
    }

    public void Dispose()
    {
        lock (_callers)
        {
            if (_disposed) return;
            _disposed = true;
            _stopping = true;
            _jobReady.Release();
        }
        _thread.Join();
        _jobReady.Dispose();
        _jobDone.Dispose();
        _started.Dispose();
    }
}
