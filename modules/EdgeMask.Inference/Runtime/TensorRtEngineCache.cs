namespace EdgeMask.Inference.Runtime;

/// <summary>Where a session's TensorRT engine came from.</summary>
public enum TensorRtEngineCacheOutcome
{
    /// <summary>Deserialized from the engine cache: no build (a restart, or the same profile as before).</summary>
    Loaded,
    /// <summary>Built at start-up (nothing cached, or the cached engine's <c>.profile</c> did not match the profile asked for).</summary>
    Built,
}

/// <summary>
/// Tells a cache hit from a build by what the provider wrote. ONNX Runtime's TensorRT provider says neither in its
/// API; what it does is documented: with <c>trt_engine_cache_enable</c> it keeps one <c>.engine</c> file (and a
/// <c>.profile</c> file with the shape ranges it was built for) per TensorRT subgraph in <c>trt_engine_cache_path</c>,
/// compares the explicit profile with the <c>.profile</c> file and rebuilds — rewriting both — when they differ. So an
/// engine file that appeared or changed while a session was created and warmed up means a build; none means the
/// engine was loaded from the cache.
/// </summary>
public static class TensorRtEngineCache
{
    /// <summary>The engine files of a cache folder (name → length and last write), at one moment.</summary>
    public sealed record Snapshot(IReadOnlyDictionary<string, (long Length, DateTime LastWriteUtc)> Engines);

    public static Snapshot Take(string directory)
    {
        var engines = new Dictionary<string, (long, DateTime)>(StringComparer.Ordinal);
        if (Directory.Exists(directory))
        {
            foreach (var file in new DirectoryInfo(directory).EnumerateFiles("*.engine"))
                engines[file.Name] = (file.Length, file.LastWriteTimeUtc);
        }
        return new Snapshot(engines);
    }

    /// <summary><see cref="TensorRtEngineCacheOutcome.Built"/> when an engine file appeared or changed between the two snapshots.</summary>
    public static TensorRtEngineCacheOutcome Compare(Snapshot before, Snapshot after) =>
        after.Engines.Any(e => !before.Engines.TryGetValue(e.Key, out var old) || old != e.Value)
            ? TensorRtEngineCacheOutcome.Built
            : TensorRtEngineCacheOutcome.Loaded;
}
