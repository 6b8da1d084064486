using EdgeMask.Inference.Detection;
using EdgeMask.Inference.Models;
using EdgeMask.Inference.Runtime;
using EdgeMask.Tests.Shared;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMask.Inference.Tests.Models;

public class ModelStoreTests
{
    private static readonly ExecutionProviderOptions Cpu = new() { Preference = ExecutionProviderKind.Cpu };

    [Fact]
    public void Embedded_ManifestMatchesRepositoryFile()
    {
        var onDisk = ModelManifest.Load(Path.Combine(TestPaths.RepoRoot, "models", "manifest.json"));
        Assert.Equal(onDisk.Models.Select(m => (m.Name, m.Sha256)), ModelManifest.Embedded.Models.Select(m => (m.Name, m.Sha256)));
    }

    [Fact]
    public void Embedded_DetectorSha256MatchesSharedMirror()
    {
        var entry = ModelManifest.Embedded.GetByRole("detector");
        Assert.Equal(entry.Sha256, ModelStore.Sha256Of(Path.Combine(TestPaths.SharedModels, entry.File)));
        Assert.Equal(16800, entry.GetPriorBoxConfig().PriorCount(640, 640));
    }

    [Fact]
    public void Open_MissingModel_NamesFileAndInstallCommand()
    {
        var store = new ModelStore(TestPaths.NewTempDirectory(), ModelManifest.Embedded);
        var ex = Assert.Throws<ModelNotFoundException>(() => RetinaFaceDetector.Open(store, new DetectorOptions(), Cpu, NullLogger.Instance));
        Assert.Contains("retinaface_mnet025.onnx", ex.Message);
        Assert.Contains("models/install.sh", ex.Message);
    }

    [Fact]
    public void Open_AlteredModel_RefusedWithChecksumMessage()
    {
        var dir = TestPaths.NewTempDirectory();
        var bytes = File.ReadAllBytes(TestPaths.DetectorModel);
        bytes[bytes.Length / 2] ^= 0xFF;
        File.WriteAllBytes(Path.Combine(dir, "retinaface_mnet025.onnx"), bytes);
        var ex = Assert.Throws<ModelChecksumException>(() => RetinaFaceDetector.Open(new ModelStore(dir, ModelManifest.Embedded), new DetectorOptions(), Cpu, NullLogger.Instance));
        Assert.Contains("retinaface_mnet025.onnx", ex.Message);
        Assert.Contains("sha256", ex.Message);
        Assert.Contains("models/install.sh", ex.Message);
    }

    [Fact]
    public void Open_TruncatedOnnxGivenAsDetector_ModelLoadErrorNamesFile()
    {
        var dir = TestPaths.NewTempDirectory();
        var truncated = Path.Combine(dir, "truncated.onnx");
        var bytes = File.ReadAllBytes(TestPaths.DetectorModel);
        File.WriteAllBytes(truncated, bytes[..(bytes.Length / 3)]);
        var store = new ModelStore(TestPaths.SharedModels, ModelManifest.Embedded);
        var ex = Assert.Throws<ModelLoadException>(() => RetinaFaceDetector.Open(store, new DetectorOptions(), Cpu, NullLogger.Instance, truncated));
        Assert.Contains(truncated, ex.Message);
    }

    [Fact]
    public void Open_TruncatedOnnxInModelsFolder_RefusedBeforeLoading()
    {
        var dir = TestPaths.NewTempDirectory();
        var bytes = File.ReadAllBytes(TestPaths.DetectorModel);
        File.WriteAllBytes(Path.Combine(dir, "retinaface_mnet025.onnx"), bytes[..1000]);
        Assert.Throws<ModelChecksumException>(() => RetinaFaceDetector.Open(new ModelStore(dir, ModelManifest.Embedded), new DetectorOptions(), Cpu, NullLogger.Instance));
    }

    [Fact]
    public void Parse_ManifestWithPathInFileName_Refused()
    {
        var ex = Assert.Throws<ModelManifestException>(() => ModelManifest.Parse(
            """{"schema":"edgemask.models/1","models":[{"name":"x","role":"detector","file":"../x.onnx","sha256":"0000000000000000000000000000000000000000000000000000000000000000","input":{"name":"input"}}]}""", "test"));
        Assert.Contains("plain file name", ex.Message);
    }
}
