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

    /// <summary>The default detector: the fine-tuned RetinaFace our trainer made, committed in models/ (issue 16).</summary>
    private const string DefaultDetectorFile = "retinaface_mnet025_masked.onnx";

    private static string CommittedDetector => Path.Combine(TestPaths.RepoRoot, "models", DefaultDetectorFile);

    [Fact]
    public void Embedded_DefaultDetectorIsTheCommittedFineTunedFile()
    {
        var entry = ModelManifest.Embedded.GetByRole("detector");

        Assert.Equal("retinaface_mnet025_masked", entry.Name);
        Assert.True(entry.Required);
        Assert.Equal(DefaultDetectorFile, entry.File);
        Assert.Equal(entry.Sha256, ModelStore.Sha256Of(CommittedDetector));
        Assert.Equal(entry.Bytes, new FileInfo(CommittedDetector).Length);
        Assert.True(entry.Bytes <= 5_000_000, "a committed model stays within 5 MB");
        Assert.True(File.Exists(Path.Combine(TestPaths.RepoRoot, "models", "retinaface_mnet025_masked.md")), "the committed model has its model card");
        Assert.Equal(16800, entry.GetPriorBoxConfig().PriorCount(640, 640));
    }

    [Fact]
    public void Embedded_StockDetectorIsAnOptionalModelMatchingTheSharedMirror()
    {
        var stock = ModelManifest.Embedded.Get("retinaface_mnet025");

        Assert.False(stock.Required);
        Assert.Equal("detector", stock.Role);
        Assert.Equal(stock.Sha256, ModelStore.Sha256Of(Path.Combine(TestPaths.SharedModels, stock.File)));
        // Same graph, same contract: the tuned file only carries other weights.
        var tuned = ModelManifest.Embedded.GetByRole("detector");
        Assert.Equal(stock.Input.Mean, tuned.Input.Mean);
        Assert.Equal(stock.GetPriorBoxConfig().PriorCount(540, 960), tuned.GetPriorBoxConfig().PriorCount(540, 960));
    }

    [Fact]
    public void Open_MissingModel_NamesFileAndInstallCommand()
    {
        var store = new ModelStore(TestPaths.NewTempDirectory(), ModelManifest.Embedded);
        var ex = Assert.Throws<ModelNotFoundException>(() => RetinaFaceDetector.Open(store, new DetectorOptions(), Cpu, NullLogger.Instance));
        Assert.Contains(DefaultDetectorFile, ex.Message);
        Assert.Contains("models/install.sh", ex.Message);
    }

    [Fact]
    public void Open_AlteredModel_RefusedWithChecksumMessage()
    {
        var dir = TestPaths.NewTempDirectory();
        var bytes = File.ReadAllBytes(CommittedDetector);
        bytes[bytes.Length / 2] ^= 0xFF;
        File.WriteAllBytes(Path.Combine(dir, DefaultDetectorFile), bytes);
        var ex = Assert.Throws<ModelChecksumException>(() => RetinaFaceDetector.Open(new ModelStore(dir, ModelManifest.Embedded), new DetectorOptions(), Cpu, NullLogger.Instance));
        Assert.Contains(DefaultDetectorFile, ex.Message);
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
        var bytes = File.ReadAllBytes(CommittedDetector);
        File.WriteAllBytes(Path.Combine(dir, DefaultDetectorFile), bytes[..1000]);
        Assert.Throws<ModelChecksumException>(() => RetinaFaceDetector.Open(new ModelStore(dir, ModelManifest.Embedded), new DetectorOptions(), Cpu, NullLogger.Instance));
    }

    [Fact]
    public void Parse_ManifestWithPathInFileName_Refused()
    {
        var ex = Assert.Throws<ModelManifestException>(() => ModelManifest.Parse(
            """{"schema":"edgemask.models/1","models":[{"name":"x","role":"detector","file":"../x.onnx","sha256":"0000000000000000000000000000000000000000000000000000000000000000","input":{"name":"input"}}]}""", "test"));
        Assert.Contains("plain file name", ex.Message);
    }

    [Theory]
    [InlineData(ExecutionProviderKind.Cpu, "mask_classifier_int8")]
    [InlineData(ExecutionProviderKind.TensorRT, "mask_classifier")]
    [InlineData(ExecutionProviderKind.Cuda, "mask_classifier")]
    public void ForProvider_Classifier_Int8OnTheCpuAndTheFloatFileOnGpus(ExecutionProviderKind provider, string expected)
    {
        Assert.Equal(expected, ModelManifest.Embedded.ForProvider("classifier", provider).Name);
    }

    [Fact]
    public void GetByRole_Classifier_IsTheCpuFile()
    {
        // What every caller that does not know the provider (and the CPU, the provider of a machine without GPU) opens.
        Assert.Equal(ModelManifest.Embedded.ForProvider("classifier", ExecutionProviderKind.Cpu), ModelManifest.Embedded.GetByRole("classifier"));
    }

    [Fact]
    public void ForProvider_RoleWithOneFile_IsThatFileForEveryProvider()
    {
        var detector = ModelManifest.Embedded.GetByRole("detector");

        Assert.All(new[] { ExecutionProviderKind.Cpu, ExecutionProviderKind.Cuda, ExecutionProviderKind.TensorRT },
            p => Assert.Equal(detector, ModelManifest.Embedded.ForProvider("detector", p)));
    }

    [Theory]
    [InlineData("mask_classifier")]
    [InlineData("mask_classifier_int8")]
    public void Embedded_ClassifierFiles_AreCommittedWithinFiveMegabytesAndMatchTheirSha256(string name)
    {
        var entry = ModelManifest.Embedded.Get(name);
        string path = Path.Combine(TestPaths.RepoRoot, "models", entry.File);

        Assert.True(entry.Required);
        Assert.Equal(entry.Sha256, ModelStore.Sha256Of(path));
        Assert.Equal(entry.Bytes, new FileInfo(path).Length);
        Assert.True(entry.Bytes <= 5_000_000, "a committed model stays within 5 MB");
        Assert.True(File.Exists(Path.Combine(TestPaths.RepoRoot, "models", "mask_classifier.md")), "the card covers both files");
    }

    [Fact]
    public void Parse_UnknownProvider_RefusedNamingTheModel()
    {
        var ex = Assert.Throws<ModelManifestException>(() => ModelManifest.Parse(
            """{"schema":"edgemask.models/1","models":[{"name":"x","role":"classifier","file":"x.onnx","sha256":"0000000000000000000000000000000000000000000000000000000000000000","providers":["gpu"],"input":{"name":"input"}}]}""", "test"));
        Assert.Contains("'x'", ex.Message);
        Assert.Contains("'gpu'", ex.Message);
    }
}
