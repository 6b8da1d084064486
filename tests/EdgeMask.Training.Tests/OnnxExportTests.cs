using EdgeMask.Inference.Classification;
using EdgeMask.Training.Model;
using EdgeMask.Training.Onnx;
using EdgeMask.Training.Training;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace EdgeMask.Training.Tests;

public sealed class OnnxExportTests
{
    [Theory]
    [InlineData(StemKind.Conv3x3)]
    [InlineData(StemKind.ImageNet)]
    public void Export_ModelWithTrainedBatchNormStatistics_OnnxRuntimeAgreesWithTorchSharp(StemKind stem)
    {
        torch.manual_seed(5);
        var config = new ResNetConfig(32, 16, [16, 32], [1, 2], stem);
        using var model = new SmallResNet(config);
        // A few training-mode passes move the BatchNorm running statistics away from 0/1, so folding is exercised.
        model.train();
        using (no_grad())
        {
            for (int i = 0; i < 30; i++) model.forward(torch.randn(16, 3, 32, 32) * 2 + 0.5).Dispose();
        }
        model.eval();
        var contract = new ClassifierTrainer(Options(config), NullLogger.Instance, TimeProvider.System).Contract;
        byte[] onnx = SmallResNetExporter.Export(model, contract);

        var x = torch.randn(6, 3, 32, 32);
        float[] expected;
        using (no_grad())
            expected = nn.functional.softmax(model.forward(x), 1).contiguous().data<float>().ToArray();

        using var session = new InferenceSession(onnx);
        Assert.Empty(session.InputMetadata.Keys.Except(["input"]));
        using var input = OrtValue.CreateTensorValueFromMemory(x.contiguous().data<float>().ToArray(), [6, 3, 32, 32]);
        using var outputs = session.Run(new RunOptions(), ["input"], [input], ["probabilities"]);
        float[] actual = outputs[0].GetTensorDataAsSpan<float>().ToArray();

        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) < 1e-3, $"output {i}: TorchSharp {expected[i]} vs ONNX Runtime {actual[i]}");
        Assert.Equal(contract.ToJson(), MaskClassifier.ReadContract(session).ToJson());
    }

    [Fact]
    public void Export_Graph_HasNoBatchNormalizationNodes()
    {
        var config = new ResNetConfig(32, 16, [16], [1]);
        using var model = new SmallResNet(config);
        model.eval();
        var contract = new ClassifierTrainer(Options(config), NullLogger.Instance, TimeProvider.System).Contract;
        byte[] onnx = SmallResNetExporter.Export(model, contract);
        // Op types are stored as plain strings in the protobuf, so their absence is visible in the bytes.
        string text = System.Text.Encoding.ASCII.GetString(onnx);
        Assert.DoesNotContain("BatchNormalization", text);
        Assert.Contains("Conv", text);
        Assert.Contains("Add", text);
    }

    [Fact]
    public void Export_HalfPrecisionWeights_HalfTheSizeAndOnnxRuntimeAgreesWithTheFloatExport()
    {
        torch.manual_seed(9);
        var config = new ResNetConfig(32, 16, [16, 32], [1, 1]);
        using var model = new SmallResNet(config);
        model.eval();
        var contract = new ClassifierTrainer(Options(config), NullLogger.Instance, TimeProvider.System).Contract;
        byte[] full = SmallResNetExporter.Export(model, contract);
        byte[] half = SmallResNetExporter.Export(model, contract, halfPrecisionWeights: true);
        Assert.InRange(half.Length, full.Length * 0.45, full.Length * 0.6);

        var x = torch.randn(4, 3, 32, 32).contiguous().data<float>().ToArray();
        float[] Run(byte[] onnx)
        {
            using var session = new InferenceSession(onnx);
            using var input = OrtValue.CreateTensorValueFromMemory(x, [4, 3, 32, 32]);
            using var outputs = session.Run(new RunOptions(), ["input"], [input], ["probabilities"]);
            return outputs[0].GetTensorDataAsSpan<float>().ToArray();
        }
        float[] expected = Run(full), actual = Run(half);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) < 2e-3, $"output {i}: float32 weights {expected[i]} vs float16 weights {actual[i]}");
        // The run-time classifier opens it like any other (same input/output contract).
        string path = Path.Combine(Path.GetTempPath(), $"half-{Guid.NewGuid():N}.onnx");
        File.WriteAllBytes(path, half);
        try
        {
            using var classifier = MaskClassifier.Open(path);
            Assert.Equal(32, classifier.Contract.InputSize);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Export_ThreeOrTwoClasses_RunTimeClassifierReadsEveryColumnByItsLabel(bool threeClasses)
    {
        torch.manual_seed(11);
        var config = new ResNetConfig(32, 16, [16], [1]);
        var incorrect = threeClasses ? IncorrectTraining.Label : IncorrectTraining.NoMask;
        var options = Options(config) with { Incorrect = incorrect };
        using var model = new SmallResNet(config, options.Classes);
        model.eval();
        var contract = new ClassifierTrainer(options, NullLogger.Instance, TimeProvider.System).Contract;
        string path = Path.Combine(Path.GetTempPath(), $"classes-{Guid.NewGuid():N}.onnx");
        File.WriteAllBytes(path, SmallResNetExporter.Export(model, contract));
        try
        {
            using var classifier = MaskClassifier.Open(path);
            Assert.Equal(threeClasses, classifier.Contract.HasIncorrect);
            using var session = new InferenceSession(path);
            Assert.Equal(threeClasses ? 3 : 2, session.OutputMetadata["probabilities"].Dimensions[1]);

            using var crop = new OpenCvSharp.Mat(32, 32, OpenCvSharp.MatType.CV_8UC3, new OpenCvSharp.Scalar(90, 140, 200));
            var c = classifier.ClassifyCrop(crop);
            Assert.Equal(1f, c.MaskProbability + c.NoMaskProbability + c.IncorrectProbability, 3);
            if (incorrect == IncorrectTraining.NoMask) Assert.Equal(0f, c.IncorrectProbability);
            else Assert.True(c.IncorrectProbability > 0f);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Export_ContractWithOtherClassesThanTheModel_Refused()
    {
        var config = new ResNetConfig(32, 16, [16], [1]);
        using var model = new SmallResNet(config, SmallResNet.TwoClasses);
        var contract = new ClassifierTrainer(Options(config), NullLogger.Instance, TimeProvider.System).Contract;
        Assert.Contains("classes", Assert.Throws<ArgumentException>(() => SmallResNetExporter.Export(model, contract)).Message);
    }

    internal static TrainingOptions Options(ResNetConfig config) => new()
    {
        OutputPath = "unused.onnx",
        WorkDirectory = Path.GetTempPath(),
        CropFolders = ["unused"],
        Model = config,
    };
}
