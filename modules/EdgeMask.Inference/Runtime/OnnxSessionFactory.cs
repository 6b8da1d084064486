using EdgeMask.Inference.Models;
using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;

namespace EdgeMask.Inference.Runtime;

/// <summary>An <see cref="InferenceSession"/> with the provider it actually runs on. Owns the session.</summary>
public sealed class OnnxModelSession : IDisposable
{
    public InferenceSession Session { get; }
    public string ModelPath { get; }
    public ExecutionProviderKind ActiveProvider { get; }
    public IReadOnlyList<ProviderAttempt> Attempts { get; }

    internal OnnxModelSession(InferenceSession session, string modelPath, ExecutionProviderKind active, IReadOnlyList<ProviderAttempt> attempts)
    {
        Session = session;
        ModelPath = modelPath;
        ActiveProvider = active;
        Attempts = attempts;
    }

    public void Dispose() => Session.Dispose();
}

/// <summary>
/// Creates sessions on the best available execution provider. Each candidate is tried for real (append the provider,
/// create the session) because nothing cheaper is reliable: the GPU package lists TensorRT and CUDA in
/// <c>GetAvailableProviders()</c> even on machines without a GPU, and the CPU package throws
/// <see cref="EntryPointNotFoundException"/> when a GPU provider is appended.
/// </summary>
public static class OnnxSessionFactory
{
    public static OnnxModelSession Create(string modelPath, ExecutionProviderOptions options, ILogger logger)
    {
        var attempts = new List<ProviderAttempt>();
        foreach (var provider in options.Candidates())
        {
            SessionOptions? sessionOptions = null;
            try
            {
                sessionOptions = CreateSessionOptions(provider, options);
                var session = new InferenceSession(modelPath, sessionOptions);
                attempts.Add(new ProviderAttempt(provider, true, null));
                // Falling back is news when a GPU provider was asked for by name; under "auto" it is the normal path on a CPU machine.
                var level = options.Preference is ExecutionProviderKind.Auto ? LogLevel.Information : LogLevel.Warning;
                foreach (var skipped in attempts.Where(a => !a.Succeeded))
                    logger.Log(level, "Execution provider {Provider} skipped for {Model}: {Reason}", ExecutionProviderOptions.ToName(skipped.Provider), Path.GetFileName(modelPath), skipped.Reason);
                logger.LogInformation("Model {Model} runs on execution provider {Provider}", Path.GetFileName(modelPath), ExecutionProviderOptions.ToName(provider));
                return new OnnxModelSession(session, modelPath, provider, attempts);
            }
            catch (Exception ex) when (provider != ExecutionProviderKind.Cpu && IsProviderUnavailable(ex))
            {
                string reason = Describe(ex);
                attempts.Add(new ProviderAttempt(provider, false, reason));
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

    private static SessionOptions CreateSessionOptions(ExecutionProviderKind provider, ExecutionProviderOptions options)
    {
        var so = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        try
        {
            so.IntraOpNumThreads = ResolveThreads(options.IntraOpThreads);
            ApplyCpuSettings(so, options.IntraOpSpinning);
            switch (provider)
            {
                case ExecutionProviderKind.TensorRT:
                    AppendTensorRt(so, options);
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
    internal static int ResolveThreads(int configured) => configured > 0 ? configured : Environment.ProcessorCount;

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

    private static void AppendTensorRt(SessionOptions so, ExecutionProviderOptions options)
    {
        Directory.CreateDirectory(options.TensorRtCacheDirectory);
        using var trt = new OrtTensorRTProviderOptions();
        // Option names as documented for the TensorRT execution provider (provider options V2).
        trt.UpdateOptions(new Dictionary<string, string>
        {
            ["device_id"] = options.DeviceId.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["trt_fp16_enable"] = options.TensorRtFp16 ? "1" : "0",
            ["trt_engine_cache_enable"] = "1",
            ["trt_engine_cache_path"] = options.TensorRtCacheDirectory,
            ["trt_timing_cache_enable"] = "1",
            ["trt_timing_cache_path"] = options.TensorRtCacheDirectory,
            ["trt_max_workspace_size"] = options.TensorRtMaxWorkspaceBytes.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
        so.AppendExecutionProvider_Tensorrt(trt);
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
