namespace EdgeMask.Inference.Runtime;

/// <summary>The ONNX Runtime execution providers EdgeMask can run on, best first.</summary>
public enum ExecutionProviderKind
{
    /// <summary>TensorRT first, then CUDA, then CPU: the first that loads wins.</summary>
    Auto,
    TensorRT,
    Cuda,
    Cpu,
}

/// <summary>How sessions choose and configure their execution provider.</summary>
public sealed record ExecutionProviderOptions
{
    public ExecutionProviderKind Preference { get; init; } = ExecutionProviderKind.Auto;
    /// <summary>Fail instead of falling back when the preferred provider cannot load.</summary>
    public bool Strict { get; init; }
    public int DeviceId { get; init; }
    /// <summary>TensorRT: build FP16 engines (Jetson's tensor cores; RetinaFace and the classifier lose nothing visible).</summary>
    public bool TensorRtFp16 { get; init; } = true;
    /// <summary>TensorRT: where built engines and the timing cache are kept, so a restart does not rebuild for minutes.</summary>
    public string TensorRtCacheDirectory { get; init; } = DefaultCacheDirectory();
    public long TensorRtMaxWorkspaceBytes { get; init; } = 1L << 30;
    /// <summary>CPU threads per session; 0: one per CPU the process may use (honours a container's CPU limit).</summary>
    public int IntraOpThreads { get; init; }
    /// <summary>
    /// Let ONNX Runtime's idle worker threads spin between runs. Off by default: EdgeMask runs two models (detector,
    /// classifier) and a video decoder on the same cores, and each session's spinning threads steal the others'
    /// time — end to end on the sample video 49 frames/s with spinning off against 30 with it on (2 cores). On for
    /// one model that owns the CPU: RetinaFace alone at 640×480 takes 8.9 ms spinning, 10.2 ms not.
    /// </summary>
    public bool IntraOpSpinning { get; init; }

    public static ExecutionProviderKind Parse(string text) => text.Trim().ToLowerInvariant() switch
    {
        "auto" => ExecutionProviderKind.Auto,
        "tensorrt" or "trt" => ExecutionProviderKind.TensorRT,
        "cuda" => ExecutionProviderKind.Cuda,
        "cpu" => ExecutionProviderKind.Cpu,
        _ => throw new ArgumentException($"Unknown execution provider '{text}'; use auto, tensorrt, cuda or cpu."),
    };

    public static string ToName(ExecutionProviderKind kind) => kind switch
    {
        ExecutionProviderKind.TensorRT => "tensorrt",
        ExecutionProviderKind.Cuda => "cuda",
        ExecutionProviderKind.Cpu => "cpu",
        _ => "auto",
    };

    /// <summary>The providers to try, in order, for this preference.</summary>
    public IReadOnlyList<ExecutionProviderKind> Candidates() => (Preference, Strict) switch
    {
        (ExecutionProviderKind.Cpu, _) => [ExecutionProviderKind.Cpu],
        (ExecutionProviderKind.TensorRT, true) => [ExecutionProviderKind.TensorRT],
        (ExecutionProviderKind.Cuda, true) => [ExecutionProviderKind.Cuda],
        (ExecutionProviderKind.Cuda, false) => [ExecutionProviderKind.Cuda, ExecutionProviderKind.Cpu],
        _ => [ExecutionProviderKind.TensorRT, ExecutionProviderKind.Cuda, ExecutionProviderKind.Cpu],
    };

    private static string DefaultCacheDirectory()
    {
        var fromEnv = Environment.GetEnvironmentVariable("EDGEMASK_TRT_CACHE");
        return string.IsNullOrWhiteSpace(fromEnv)
            ? Path.Combine(Path.GetTempPath(), "edgemask-trt-cache")
            : fromEnv;
    }
}

/// <summary>One provider tried while creating a session, and why it was not used.</summary>
public sealed record ProviderAttempt(ExecutionProviderKind Provider, bool Succeeded, string? Reason)
{
    /// <summary>The file this provider was given (a role may have one per provider, e.g. the float classifier for GPUs).</summary>
    public string? Model { get; init; }
}

/// <summary>The preferred provider could not load and <see cref="ExecutionProviderOptions.Strict"/> forbids falling back.</summary>
public sealed class ExecutionProviderUnavailableException(ExecutionProviderKind provider, string reason)
    : Exception($"Execution provider '{ExecutionProviderOptions.ToName(provider)}' is not available: {reason}. " +
                "Use --ep auto (or cpu) to fall back, or run where its libraries (CUDA, cuDNN, TensorRT) and a GPU are present.")
{
    public ExecutionProviderKind Provider { get; } = provider;
}
