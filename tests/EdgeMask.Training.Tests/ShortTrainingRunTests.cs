using EdgeMask.Training.Model;
using EdgeMask.Training.Training;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.ML.OnnxRuntime;
using TorchSharp;
using static TorchSharp.torch;

namespace EdgeMask.Training.Tests;

public sealed class ShortTrainingRunTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]   // --stem imagenet --init-from resnet18: the path the shipped model was trained on
    public void Run_FewStepsOnFewDozenImages_LowersLossAndExportsOnnxThatAgreesWithTorchSharp(bool fromResNet18)
    {
        string root = SyntheticFaces.TempDir("short");
        try
        {
            string data = SyntheticFaces.CropFolder(Path.Combine(root, "crops"), perClass: 20, seed: 3);
            var config = fromResNet18
                ? new ResNetConfig(32, 64, [64, 128], [1, 1], StemKind.ImageNet)
                : new ResNetConfig(32, 16, [16, 32], [1, 1]);
            var options = new TrainingOptions
            {
                CropFolders = [data],
                OutputPath = Path.Combine(root, "out", "m.onnx"),
                CardPath = Path.Combine(root, "out", "m.md"),
                WorkDirectory = Path.Combine(root, "work"),
                Model = config,
                BatchSize = 16,
                Epochs = 12,
                LearningRate = fromResNet18 ? 1e-3 : 3e-3,
                InitFrom = fromResNet18 ? PretrainedResNet18.DefaultPath() : null,
                Augment = false,
                Threads = 1,
                Seed = 1,
            };
            var result = new ClassifierTrainer(options, NullLogger.Instance, TimeProvider.System).Run();

            var losses = result.StepLosses;
            Assert.True(losses.Count >= 20, $"only {losses.Count} steps ran");
            double first = losses.Take(3).Average(), last = losses.TakeLast(3).Average();
            Assert.True(last < first * 0.8, $"loss went from {first:0.000} to {last:0.000}");
            Assert.True(File.Exists(options.CardPath));
            Assert.Contains(result.Sha256, File.ReadAllText(options.CardPath));
            if (fromResNet18)
            {
                Assert.Contains(PretrainedResNet18.PackageId, File.ReadAllText(options.CardPath));
                // stem + stage 1's block + stage 2's block with its projection: all ResNet-18-shaped.
                Assert.Contains("initialised 6 layers", File.ReadAllText(Path.Combine(options.WorkDirectory, "train.log")));
            }

            // The exported file loads in ONNX Runtime and computes what the TorchSharp model computes.
            using var model = new SmallResNet(config);
            model.load(Path.Combine(options.WorkDirectory, "best.pt"));
            model.eval();
            torch.manual_seed(2);
            var x = torch.randn(4, 3, 32, 32);
            float[] expected;
            using (no_grad())
                expected = nn.functional.softmax(model.forward(x), 1).contiguous().data<float>().ToArray();
            using var session = new InferenceSession(result.OnnxPath);
            using var input = OrtValue.CreateTensorValueFromMemory(x.contiguous().data<float>().ToArray(), [4, 3, 32, 32]);
            using var runOptions = new RunOptions();
            using var outputs = session.Run(runOptions, ["input"], [input], ["probabilities"]);
            var actual = outputs[0].GetTensorDataAsSpan<float>().ToArray();
            for (int i = 0; i < expected.Length; i++)
                Assert.True(Math.Abs(expected[i] - actual[i]) < 1e-3, $"output {i}: TorchSharp {expected[i]} vs ONNX Runtime {actual[i]}");
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public void Run_KeepEpochsThenExportAnEarlierEpoch_CardNamesBothEpochs()
    {
        string root = SyntheticFaces.TempDir("export-epoch");
        try
        {
            string data = SyntheticFaces.CropFolder(Path.Combine(root, "crops"), perClass: 8, seed: 5);
            var options = new TrainingOptions
            {
                CropFolders = [data],
                OutputPath = Path.Combine(root, "out", "m.onnx"),
                CardPath = Path.Combine(root, "out", "m.md"),
                WorkDirectory = Path.Combine(root, "work"),
                Model = new ResNetConfig(32, 16, [16], [1]),
                BatchSize = 8,
                Epochs = 2,
                EpochSize = 16,
                Augment = false,
                Threads = 1,
                KeepEpochs = true,
            };
            new ClassifierTrainer(options, NullLogger.Instance, TimeProvider.System).Run();
            Assert.True(File.Exists(Path.Combine(options.WorkDirectory, "epoch-1.pt")));
            Assert.True(File.Exists(Path.Combine(options.WorkDirectory, "epoch-2.pt")));

            var again = new ClassifierTrainer(options with { Resume = true, ExportEpoch = 1, KeepEpochs = false }, NullLogger.Instance, TimeProvider.System).Run();

            Assert.Equal(1, again.BestEpoch);
            Assert.Contains("| exported epoch | 1 of 2 run", File.ReadAllText(options.CardPath));
            var missing = options with { Resume = true, ExportEpoch = 7 };
            Assert.Contains("--keep-epochs", Assert.Throws<ArgumentException>(() => new ClassifierTrainer(missing, NullLogger.Instance, TimeProvider.System).Run()).Message);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public void Run_StartFromAnEarlierRunsCheckpoint_BeginsAtItsLossAndTheCardSaysSo()
    {
        string root = SyntheticFaces.TempDir("start-from");
        try
        {
            string data = SyntheticFaces.CropFolder(Path.Combine(root, "crops"), perClass: 12, seed: 6);
            var first = new TrainingOptions
            {
                CropFolders = [data],
                OutputPath = Path.Combine(root, "out", "first.onnx"),
                WorkDirectory = Path.Combine(root, "work1"),
                Model = new ResNetConfig(32, 16, [16], [1]),
                BatchSize = 8,
                Epochs = 12,
                EpochSize = 24,
                EmaDecay = 0,
                Augment = false,
                Threads = 1,
            };
            var trained = new ClassifierTrainer(first, NullLogger.Instance, TimeProvider.System).Run();
            var second = first with
            {
                OutputPath = Path.Combine(root, "out", "second.onnx"),
                CardPath = Path.Combine(root, "out", "second.md"),
                WorkDirectory = Path.Combine(root, "work2"),
                StartFrom = Path.Combine(first.WorkDirectory, "best.pt"),
                LearningRate = 1e-6,
                MaxSteps = 1,
            };

            var tuned = new ClassifierTrainer(second, NullLogger.Instance, TimeProvider.System).Run();

            // Same seed, so the same first batch: only the starting weights differ from the first run's first step.
            Assert.True(tuned.StepLosses[0] < trained.StepLosses[0] * 0.8, $"first loss {tuned.StepLosses[0]:0.000}, fresh start {trained.StepLosses[0]:0.000}");
            string card = File.ReadAllText(second.CardPath);
            Assert.Contains("Fine-tuned", card);
            Assert.Contains(second.StartFrom, card);
            var both = second with { InitFrom = PretrainedResNet18.DefaultPath() };
            Assert.Contains("--start-from", Assert.Throws<ArgumentException>(() => both.Validate()).Message);
            var missing = second with { StartFrom = Path.Combine(root, "nope.pt") };
            Assert.Contains("nope.pt", Assert.Throws<ArgumentException>(() => missing.Validate()).Message);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }
}
