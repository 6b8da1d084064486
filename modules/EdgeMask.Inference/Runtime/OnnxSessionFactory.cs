using EdgeMask.Inference.Models;
using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;

namespace EdgeMask.Inference.Runtime;

/// <summary>An <see cref="InferenceSession"/> with the provider it actually runs on. Owns the session.</summary>
public sealed class OnnxModelSession : IDisposable
{
    private readonly string? _engineCache;
    private readonly TensorRtEngineCache.Snapshot? _cacheBefore;
    private InferenceWarmUp? _warmUp;
    // 0: not known; otherwise 1 + (int)TensorRtEngineCacheOutcome (Volatile takes no nullable enum).
    private int _cacheOutcome;

    public InferenceSession Session { get; }
    public string ModelPath { get; }
    public ExecutionProviderKind ActiveProvider { get; }
    public IReadOnlyList<ProviderAttempt> Attempts { get; }
    /// <summary>The TensorRT optimization profile the session was created with (null: none asked for).</summary>
    public TensorRtProfile? Profile { get; }

    internal OnnxModelSession(InferenceSession session, string modelPath, ExecutionProviderKind active, IReadOnlyList<ProviderAttempt> attempts,
        TensorRtProfile? profile = null, string? engineCache = null, TensorRtEngineCache.Snapshot? cacheBefore = null)
    {
        Session = session;
        ModelPath = modelPath;
        ActiveProvider = active;
        Attempts = attempts;
        Profile = profile;
        _engineCache = engineCache;
        _cacheBefore = cacheBefore;
    }

    /// <summary>
    /// Records a warm-up run (see <c>RetinaFaceDetector.WarmUp</c>, <c>MaskClassifier.WarmUp</c>) for <see cref="Report"/>,
    /// and, under TensorRT, whether the engine came from the engine cache or was built: the provider builds (or loads)
    /// the engine at session creation or at the first run, so the cache folder is compared once the warm-up ran.
    /// Warm one session up before creating the next when they share the cache folder.
    /// </summary>
    public void RecordWarmUp(InferenceWarmUp warmUp)
    {
        if (ActiveProvider == ExecutionProviderKind.TensorRT && _cacheBefore is { } before && _engineCache is not null)
            Volatile.Write(ref _cacheOutcome, 1 + (int)TensorRtEngineCache.Compare(before, TensorRtEngineCache.Take(_engineCache)));
        Volatile.Write(ref _warmUp, warmUp);
    }

    /// <summary>Under TensorRT after the warm-up: whether the engine was loaded from the cache or built (null: not known yet, or not TensorRT).</summary>
    public TensorRtEngineCacheOutcome? EngineCacheOutcome =>
        Volatile.Read(ref _cacheOutcome) is var v and > 0 ? (TensorRtEngineCacheOutcome)(v - 1) : null;

    /// <summary>What was built for this model, for health and the module twin's reported properties.</summary>
    public InferenceEngineReport Report()
    {
        bool trt = ActiveProvider == ExecutionProviderKind.TensorRT;
        return new InferenceEngineReport
        {
            Model = Path.GetFileName(ModelPath),
            Provider = ExecutionProviderOptions.ToName(ActiveProvider),
            TensorRtProfile = trt ? Profile?.ToString() : null,
            TensorRtShapes = trt ? Profile?.ProviderOptions() : null,
            EngineCacheDirectory = trt ? _engineCache : null,
            EngineCache = trt ? EngineCacheOutcome switch
            {
                TensorRtEngineCacheOutcome.Loaded => "loaded",
                TensorRtEngineCacheOutcome.Built => "built",
                _ => null,
            } : null,
            SkippedProviders = [.. Attempts.Where(a => !a.Succeeded).Select(a => $"{ExecutionProviderOptions.ToName(a.Provider)}: {a.Reason}")],
            WarmUp = Volatile.Read(ref _warmUp),
        };
    }

    public void Dispose() => Session.Dispose();
}

/// <summary>A warm-up run at start-up: the input shapes run once (which builds any TensorRT engine not in the cache) and how long it took.</summary>
public sealed record InferenceWarmUp(IReadOnlyList<string> Shapes, double Milliseconds);

/// <summary>
/// One model's inference engine as built: provider, the TensorRT profile and engine cache when TensorRT runs, the
/// providers skipped and why, and the start-up warm-up. A plain record of strings and numbers, so a health endpoint
/// or the module twin's reported properties can serialize it as it is.
/// </summary>
public sealed record InferenceEngineReport
{
    public required string Model { get; init; }
    public required string Provider { get; init; }
    /// <summary>The optimization profile of the TensorRT engine, readable (null when TensorRT does not run).</summary>
    public string? TensorRtProfile { get; init; }
    /// <summary>The profile exactly as handed to the provider (<c>trt_profile_min_shapes</c> …).</summary>
    public IReadOnlyDictionary<string, string>? TensorRtShapes { get; init; }
    public string? EngineCacheDirectory { get; init; }
    /// <summary>TensorRT: <c>loaded</c> (the engine came from the cache) or <c>built</c> (at start-up); null before the warm-up or off TensorRT.</summary>
    public string? EngineCache { get; init; }
    public IReadOnlyList<string> SkippedProviders { get; init; } = [];
    public InferenceWarmUp? WarmUp { get; init; }
}

/// <summary>An input shape the session's TensorRT profile does not cover: running it would build a new engine mid-stream.</summary>
public sealed class TensorRtProfileMismatchException(string model, IReadOnlyList<long> shape, TensorRtProfile profile)
    : Exception($"Model {Path.GetFileName(model)} was built for TensorRT profile [{profile}], which does not cover input {TensorRtShapeRange.Format(shape)}. " +
                "Add this camera's frame size (cameras.<id>.width/height or sources.width/height) to the configuration so the profile includes it, " +
                "or resize the source to a configured size.")
{
    public IReadOnlyList<long> Shape { get; } = shape;
}

/// <summary>
/// Creates sessions on the best available execution provider. Each candidate is tried for real (append the provider,
/// create the session) because nothing cheaper is reliable: the GPU package lists TensorRT and CUDA in
/// <c>GetAvailableProviders()</c> even on machines without a GPU, and the CPU package throws
/// <see cref="EntryPointNotFoundException"/> when a GPU provider is appended.
/// </summary>
public static class OnnxSessionFactory
{
    /// <param name="modelPath">The ONNX file.</param>
    /// <param name="options">Provider preference and settings.</param>
    /// <param name="logger">Where provider choices are logged.</param>
    /// <param name="profile">
    /// The input shapes the model will see (<see cref="TensorRtProfile.ForDetector"/>, <see cref="TensorRtProfile.ForClassifier"/>):
    /// with TensorRT the engine is built for exactly this range, at creation, instead of again for every new shape while running.
    /// </param>
    public static OnnxModelSession Create(string modelPath, ExecutionProviderOptions options, ILogger logger, TensorRtProfile? profile = null)
    {
        var attempts = new List<ProviderAttempt>();
        string requested = modelPath;
        foreach (var provider in options.Candidates())
        {
            SessionOptions? sessionOptions = null;
            // A CPU-only file of the manifest (the int8 classifier) is never handed to a GPU provider: it opens its role's file for that provider.
            modelPath = ModelStore.ForProvider(requested, provider);
            try
            {
                sessionOptions = CreateSessionOptions(provider, options, profile);
                // Taken before the provider may build (and write) an engine; compared after the warm-up.
                var cacheBefore = provider == ExecutionProviderKind.TensorRT ? TensorRtEngineCache.Take(options.TensorRtCacheDirectory) : null;
                var session = new InferenceSession(modelPath, sessionOptions);
                attempts.Add(new ProviderAttempt(provider, true, null));
                // Falling back is news when a GPU provider was asked for by name; under "auto" it is the normal path on a CPU machine.
                var level = options.Preference is ExecutionProviderKind.Auto ? LogLevel.Information : LogLevel.Warning;
                foreach (var skipped in attempts.Where(a => !a.Succeeded))
                    logger.Log(level, "Execution provider {Provider} skipped for {Model}: {Reason}", ExecutionProviderOptions.ToName(skipped.Provider), skipped.Model ?? Path.GetFileName(modelPath), skipped.Reason);
                logger.LogInformation("Model {Model} runs on execution provider {Provider}", Path.GetFileName(modelPath), ExecutionProviderOptions.ToName(provider));
                if (provider == ExecutionProviderKind.TensorRT && profile is not null)
                    logger.LogInformation("TensorRT engine for {Model} built for profile {Profile} (cache {Cache})", Path.GetFileName(modelPath), profile.ToString(), options.TensorRtCacheDirectory);
                return new OnnxModelSession(session, modelPath, provider, attempts, profile, options.TensorRtCacheDirectory, cacheBefore);
            }
            catch (Exception ex) when (provider != ExecutionProviderKind.Cpu && IsProviderUnavailable(ex))
            {
                string reason = Describe(ex);
                attempts.Add(new ProviderAttempt(provider, false, reason) { Model = Path.GetFileName(modelPath) });
                if (options.Strict) throw new ExecutionProviderUnavailableException(provider, reason);
            }
            catch (OnnxRuntimeException ex)
            {
                throw new ModelLoadException(modelPath, FirstLine(ex.Message), ex);
            }
            finally
            {
                // The session copies what it needs from its options at creation.
                sessionOptions?.Dispose();
            }
        }
        // Only reachable when every candidate was a GPU provider (strict mode throws earlier, so this is defensive).
        throw new ExecutionProviderUnavailableException(options.Preference, string.Join("; ", attempts.Select(a => a.Reason)));
    }

    private static SessionOptions CreateSessionOptions(ExecutionProviderKind provider, ExecutionProviderOptions options, TensorRtProfile? profile)
    {
        var so = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        try
        {
            so.IntraOpNumThreads = ResolveThreads(options.IntraOpThreads);
            ApplyCpuSettings(so, options.IntraOpSpinning);
            switch (provider)
            {
                case ExecutionProviderKind.TensorRT:
                    AppendTensorRt(so, options, profile);
                    // Nodes TensorRT cannot take run on CUDA rather than falling to the CPU.
                    AppendCuda(so, options);
                    break;
                case ExecutionProviderKind.Cuda:
                    AppendCuda(so, options);
                    break;
            }
            return so;
        }
        catch
        {
            so.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Threads per session: the configured count, or one per CPU this process may use. ONNX Runtime's own default
    /// counts physical cores: it ignores a container's CPU limit (oversubscribing a capped module), and on the
    /// 2-vCPU development machine it ran RetinaFace at 640×480 in 12.9 ms against 9.9 ms with 2 threads.
    /// <see cref="Environment.ProcessorCount"/> honours the container's limit.
    /// </summary>
    public static int ResolveThreads(int configured) => configured > 0 ? configured : Environment.ProcessorCount;

    /// <summary>
    /// CPU-side settings every EdgeMask session shares. Denormal floats are flushed to zero: the tiny activations
    /// deep in a network cost the CPU many cycles each and change no detection (the reference tests hold to
    /// ±0.01); measured about 3 % faster for RetinaFace at 640×480.
    /// </summary>
    internal static void ApplyCpuSettings(SessionOptions so, bool spinning)
    {
        so.AddSessionConfigEntry("session.set_denormal_as_zero", "1");
        so.AddSessionConfigEntry("session.intra_op.allow_spinning", spinning ? "1" : "0");
    }

    private static void AppendTensorRt(SessionOptions so, ExecutionProviderOptions options, TensorRtProfile? profile)
    {
        Directory.CreateDirectory(options.TensorRtCacheDirectory);
        using var trt = new OrtTensorRTProviderOptions();
        trt.UpdateOptions(TensorRtProviderOptions(options, profile));
        so.AppendExecutionProvider_Tensorrt(trt);
    }

    /// <summary>
    /// The TensorRT provider options (V2 names as documented for ONNX Runtime's TensorRT execution provider): device,
    /// FP16, engine and timing cache, workspace, and the explicit optimization profile when one is given.
    /// </summary>
    public static Dictionary<string, string> TensorRtProviderOptions(ExecutionProviderOptions options, TensorRtProfile? profile)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["device_id"] = options.DeviceId.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["trt_fp16_enable"] = options.TensorRtFp16 ? "1" : "0",
            ["trt_engine_cache_enable"] = "1",
            ["trt_engine_cache_path"] = options.TensorRtCacheDirectory,
            ["trt_timing_cache_enable"] = "1",
            ["trt_timing_cache_path"] = options.TensorRtCacheDirectory,
            ["trt_max_workspace_size"] = options.TensorRtMaxWorkspaceBytes.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        if (profile is not null)
            foreach (var (key, value) in profile.ProviderOptions()) result[key] = value;
        return result;
    }

    private static void AppendCuda(SessionOptions so, ExecutionProviderOptions options)
    {
        using var cuda = new OrtCUDAProviderOptions();
        cuda.UpdateOptions(new Dictionary<string, string>
        {
            ["device_id"] = options.DeviceId.ToString(System.Globalization.CultureInfo.InvariantCulture),
            // Exhaustive search once per input shape pays off for a camera's fixed frame size.
            ["cudnn_conv_algo_search"] = "EXHAUSTIVE",
        });
        so.AppendExecutionProvider_CUDA(cuda);
    }

    /// <summary>The ways a GPU provider shows it is absent: CPU-only native library, or GPU libraries that fail to load.</summary>
    internal static bool IsProviderUnavailable(Exception ex) =>
        ex is EntryPointNotFoundException or DllNotFoundException or OnnxRuntimeException or TypeInitializationException
            or BadImageFormatException;

    private static string Describe(Exception ex) => ex switch
    {
        EntryPointNotFoundException => "this build carries the CPU-only ONNX Runtime (build with -p:OnnxRuntimeFlavor=Gpu, or use the Jetson image)",
        DllNotFoundException => $"a native library is missing ({FirstLine(ex.Message)})",
        _ => FirstLine(ex.Message),
    };

    private static string FirstLine(string message)
    {
        int nl = message.IndexOf('\n');
        return (nl < 0 ? message : message[..nl]).Trim();
    }
}
