using EdgeMask.Inference.Runtime;
using EdgeMask.Tests.Shared;

namespace EdgeMask.Inference.Tests.Runtime;

/// <summary>
/// A TensorRT engine loaded from the cache is told from one built by what the provider wrote into the cache folder
/// (it writes <c>.engine</c> and <c>.profile</c> files when it builds, nothing when it loads). Files stand in for the provider here.
/// </summary>
public sealed class TensorRtEngineCacheTests : IDisposable
{
    private readonly string _dir = TestPaths.NewTempDirectory();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Compare_EngineFileUnchanged_Loaded()
    {
        File.WriteAllBytes(Path.Combine(_dir, "TensorrtExecutionProvider_TRTKernel_graph_main_123_0_0_sm87.engine"), [1, 2, 3]);
        var before = TensorRtEngineCache.Take(_dir);

        Assert.Equal(TensorRtEngineCacheOutcome.Loaded, TensorRtEngineCache.Compare(before, TensorRtEngineCache.Take(_dir)));
    }

    [Fact]
    public void Compare_EngineFileAppearedOrRewritten_Built()
    {
        string engine = Path.Combine(_dir, "TensorrtExecutionProvider_TRTKernel_graph_main_123_0_0_sm87.engine");
        var empty = TensorRtEngineCache.Take(_dir);
        File.WriteAllBytes(engine, [1, 2, 3]);
        Assert.Equal(TensorRtEngineCacheOutcome.Built, TensorRtEngineCache.Compare(empty, TensorRtEngineCache.Take(_dir)));

        var cached = TensorRtEngineCache.Take(_dir);
        // A profile that no longer matches the .profile file: the provider rebuilds and rewrites the engine.
        File.WriteAllBytes(engine, [1, 2, 3, 4]);
        Assert.Equal(TensorRtEngineCacheOutcome.Built, TensorRtEngineCache.Compare(cached, TensorRtEngineCache.Take(_dir)));
    }

    [Fact]
    public void Take_MissingFolderOrOtherFiles_NoEngines()
    {
        Assert.Empty(TensorRtEngineCache.Take(Path.Combine(_dir, "absent")).Engines);
        File.WriteAllText(Path.Combine(_dir, "frame-sizes.json"), "[]");
        File.WriteAllText(Path.Combine(_dir, "x.profile"), "");
        Assert.Empty(TensorRtEngineCache.Take(_dir).Engines);
    }
}
