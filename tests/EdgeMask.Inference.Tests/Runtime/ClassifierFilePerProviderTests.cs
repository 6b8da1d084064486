using EdgeMask.Inference.Models;
using EdgeMask.Inference.Runtime;
using EdgeMask.Tests.Shared;

namespace EdgeMask.Inference.Tests.Runtime;

/// <summary>
/// The classifier has a file per execution provider (issue 17): the int8 quantization for the CPU, the float file for
/// TensorRT and CUDA. The session factory picks, per provider it tries, the file made for it; here (no GPU) the GPU attempts
/// fail and the CPU runs the int8 file — the GPU choice itself is held at the file level.
/// </summary>
public class ClassifierFilePerProviderTests
{
    private static string Models => Path.Combine(TestPaths.RepoRoot, "models");
    private static string Int8 => Path.Combine(Models, "mask_classifier_int8.onnx");
    private static string Float => Path.Combine(Models, "mask_classifier.onnx");

    [Theory]
    [InlineData(ExecutionProviderKind.TensorRT)]
    [InlineData(ExecutionProviderKind.Cuda)]
    public void ForProvider_Int8ClassifierOnAGpuProvider_IsTheFloatFile(ExecutionProviderKind provider)
    {
        Assert.Equal(Float, ModelStore.ForProvider(Int8, provider));
    }

    [Fact]
    public void ForProvider_Cpu_OpensTheFileItIsGivenEvenTheFloatOne()
    {
        Assert.Equal(Int8, ModelStore.ForProvider(Int8, ExecutionProviderKind.Cpu));
        // classifier.modelFile / --classifier naming the float file is honoured on the CPU.
        Assert.Equal(Float, ModelStore.ForProvider(Float, ExecutionProviderKind.Cpu));
    }

    [Theory]
    [InlineData(ExecutionProviderKind.TensorRT)]
    [InlineData(ExecutionProviderKind.Cuda)]
    public void ForProvider_FilesWithoutAProviderList_AreOpenedAsGiven(ExecutionProviderKind provider)
    {
        Assert.Equal(Float, ModelStore.ForProvider(Float, provider));
        Assert.Equal(TestPaths.DetectorModel, ModelStore.ForProvider(TestPaths.DetectorModel, provider));
    }

    [Fact]
    public void ForProvider_GpuFileMissingBesideTheInt8File_IsRefusedNamingIt()
    {
        string dir = TestPaths.NewTempDirectory();
        File.Copy(Int8, Path.Combine(dir, "mask_classifier_int8.onnx"));
        File.Copy(Path.Combine(Models, "manifest.json"), Path.Combine(dir, "manifest.json"));

        var e = Assert.Throws<ModelNotFoundException>(() => ModelStore.ForProvider(Path.Combine(dir, "mask_classifier_int8.onnx"), ExecutionProviderKind.TensorRT));

        Assert.Contains(Path.Combine(dir, "mask_classifier.onnx"), e.Message);
    }

    [Fact]
    public void Create_AutoWithoutGpu_TriesTheGpuProvidersThenRunsTheInt8FileOnTheCpu()
    {
        using var session = OnnxSessionFactory.Create(Int8, new ExecutionProviderOptions { Preference = ExecutionProviderKind.Auto, IntraOpThreads = 1 }, new ExecutionProviderFallbackTests.RecordingLogger());

        Assert.Equal(ExecutionProviderKind.Cpu, session.ActiveProvider);
        Assert.Equal(Int8, session.ModelPath);
        // The GPU providers were offered the float file (what they would have run), and the log says so.
        Assert.Contains(session.Attempts, a => a.Provider == ExecutionProviderKind.TensorRT && !a.Succeeded && a.Model == "mask_classifier.onnx");
        Assert.Contains(session.Attempts, a => a.Provider == ExecutionProviderKind.Cuda && !a.Succeeded && a.Model == "mask_classifier.onnx");
        Assert.Equal("mask_classifier_int8.onnx", session.Report().Model);
    }
}
