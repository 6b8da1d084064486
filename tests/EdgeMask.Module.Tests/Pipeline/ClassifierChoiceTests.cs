using EdgeMask.Inference.Runtime;
using EdgeMask.Module.Configuration;
using EdgeMask.Module.Pipeline;
using EdgeMask.Tests.Shared;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMask.Module.Tests.Pipeline;

/// <summary>
/// Which classifier file the device opens (issue 17): its int8 quantization where the CPU runs it, the float file where
/// a GPU provider loaded (<c>ModelManifest.ForProvider</c>, held per provider in <c>ModelStoreTests</c>). Without a GPU
/// here, <c>auto</c> takes the real fallback path — TensorRT and CUDA refused by the CPU build of ONNX Runtime — to the CPU.
/// </summary>
public class ClassifierChoiceTests
{
    private static string Models => Path.Combine(TestPaths.RepoRoot, "models");

    [Theory]
    [InlineData("auto")]
    [InlineData("cpu")]
    public void Open_ProviderThatEndsOnTheCpu_OpensTheInt8Classifier(string provider)
    {
        var options = new EdgeMaskOptions { Inference = new InferenceSettings { ModelsDirectory = Models, ExecutionProvider = provider, IntraOpThreads = 1 } };

        using var models = InferenceModels.Open(options.Inference, options.Classifier, NullLogger.Instance);

        Assert.Equal(ExecutionProviderKind.Cpu, models.ActiveProvider);
        Assert.Equal(Path.Combine(Models, "mask_classifier_int8.onnx"), models.ClassifierPath);
        Assert.Equal("mask_classifier_int8.onnx", models.Engines()[1].Model);
        Assert.Equal("cpu", models.Engines()[1].Provider);
    }

    [Fact]
    public void Open_ClassifierFileConfigured_OpensThatFileOnTheCpu()
    {
        string floatFile = Path.Combine(Models, "mask_classifier.onnx");
        var options = new EdgeMaskOptions
        {
            Inference = new InferenceSettings { ModelsDirectory = Models, ExecutionProvider = "auto", IntraOpThreads = 1 },
            Classifier = new ClassifierSettings { ModelFile = floatFile },
        };

        using var models = InferenceModels.Open(options.Inference, options.Classifier, NullLogger.Instance);

        Assert.Equal(floatFile, models.ClassifierPath);
    }
}
