using EdgeMask.Tests.Shared;
using EdgeMask.Training.Model;
using EdgeMask.Training.Onnx;
using EdgeMask.Training.Training;
using Microsoft.ML.OnnxRuntime;
using TorchSharp;
using static TorchSharp.torch;

namespace EdgeMask.Training.Tests;

/// <summary>
/// The ImageNet ResNet-18 of Microsoft.ML.DnnImageFeaturizer.ResNet18 as the classifier's starting point. The package
/// is fetched by restoring the training project (assets excluded), so the file is in NuGet's packages folder here.
/// </summary>
public sealed class PretrainedResNet18Tests
{
    private static string ResNet18File
    {
        get
        {
            string path = PretrainedResNet18.DefaultPath();
            Assert.True(File.Exists(path), $"{path} is missing: restoring modules/EdgeMask.Training fetches it.");
            return path;
        }
    }

    [Fact]
    public void LoadInto_FullShape_TorchSharpReproducesOnnxRuntimeFeatures()
    {
        // Loaded without the input adaptation, our network must compute exactly what the file computes.
        torch.manual_seed(3);
        using var model = new SmallResNet(PretrainedResNet18.Shape);
        var report = PretrainedResNet18.LoadInto(model, ResNet18File);
        Assert.Equal(22, report.LoadedLayers);
        Assert.Equal(0, report.RandomLayers);
        model.eval();

        var x = torch.randn(2, 3, 224, 224) * 60;              // about the spread of mean-subtracted 0–255 pixels
        float[] expected;
        using (no_grad())
            expected = model.Features(x).contiguous().data<float>().ToArray();

        using var session = new InferenceSession(ResNet18File);
        string inputName = session.InputMetadata.Keys.Single(), outputName = session.OutputMetadata.Keys.Single();
        float[] pixels = x.contiguous().data<float>().ToArray();
        float[] actual = new float[expected.Length];
        for (int n = 0; n < 2; n++)
        {
            // The CNTK export has a fixed batch of 1.
            using var input = OrtValue.CreateTensorValueFromMemory(pixels.AsSpan(n * 3 * 224 * 224, 3 * 224 * 224).ToArray(), [1, 3, 224, 224]);
            using var outputs = session.Run(new RunOptions(), [inputName], [input], [outputName]);
            outputs[0].GetTensorDataAsSpan<float>().CopyTo(actual.AsSpan(n * 512, 512));
        }
        float scale = expected.Max(Math.Abs);
        Assert.True(scale > 0.1f, "the features are not all zero");
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-3f * Math.Max(1f, scale), $"feature {i}: TorchSharp {expected[i]} vs ONNX Runtime {actual[i]}");
    }

    [Fact]
    public void LoadInto_WithInputAdaptation_StemSeesOurNormalisedRgbAsResNetSeesItsBgrInput()
    {
        // Reference: the stem as in the file, fed BGR pixels minus the mean image's channel averages. Ours: the adapted
        // stem fed the classifier's normalised RGB. Away from the zero-padded border (3 px of a 7×7 kernel, 2 output
        // pixels at stride 2) the two must agree.
        using var raw = new SmallResNet(new ResNetConfig(64, 64, [64], [1], StemKind.ImageNet));
        using var adapted = new SmallResNet(new ResNetConfig(64, 64, [64], [1], StemKind.ImageNet));
        PretrainedResNet18.LoadInto(raw, ResNet18File);
        PretrainedResNet18.LoadInto(adapted, ResNet18File, ClassifierTrainer.Mean, ClassifierTrainer.Std);
        raw.eval();
        adapted.eval();

        torch.manual_seed(4);
        var rgb = torch.randint(0, 256, [1, 3, 64, 64]).to(float32);
        var meanRgb = tensor(ClassifierTrainer.Mean.ToArray()).reshape(1, 3, 1, 1);
        var stdRgb = tensor(ClassifierTrainer.Std.ToArray()).reshape(1, 3, 1, 1);
        var ours = (rgb - meanRgb) / stdRgb;
        var theirs = (rgb - tensor(PretrainedResNet18.MeanImageAverageRgb.ToArray()).reshape(1, 3, 1, 1)).flip(1);

        using (no_grad())
        {
            var expected = raw.stem.forward(theirs)[.., .., 2..^2, 2..^2];
            var actual = adapted.stem.forward(ours)[.., .., 2..^2, 2..^2];
            double worst = (expected - actual).abs().max().item<float>();
            double spread = expected.abs().max().item<float>();
            Assert.True(spread > 1, "the stem output is not trivial");
            Assert.True(worst < 1e-3 * spread, $"largest difference {worst} (output scale {spread})");
        }
    }

    [Fact]
    public void LoadInto_NarrowerAndExtraLayers_LoadsWhatMatchesAndReportsTheRest()
    {
        // Stage 2 narrower than ResNet-18's 128 (random), stage 1 with a third block ResNet-18 does not have (random).
        using var model = new SmallResNet(new ResNetConfig(64, 64, [64, 96], [3, 1], StemKind.ImageNet));
        var stemBefore = model.stem.conv.weight!.clone();
        var report = PretrainedResNet18.LoadInto(model, ResNet18File);
        Assert.Equal(1 + 4, report.LoadedLayers);             // stem + two blocks of stage 1
        Assert.Equal(2 + 3, report.RandomLayers);             // stage 1's third block + stage 2's block with projection
        Assert.False(model.stem.conv.weight!.allclose(stemBefore));
    }

    [Fact]
    public void LoadInto_NotResNet18_ClearErrorNamingTheFile()
    {
        using var model = new SmallResNet(new ResNetConfig(64, 64, [64], [1], StemKind.ImageNet));
        var e = Assert.Throws<OnnxGraphException>(() => PretrainedResNet18.LoadInto(model, TestPaths.DetectorModel));
        Assert.Contains(TestPaths.DetectorModel, e.Message);
        Assert.Contains("not the ResNet-18", e.Message);

        string missing = Path.Combine(Path.GetTempPath(), $"no-such-resnet-{Guid.NewGuid():N}.onnx");
        var gone = Assert.Throws<OnnxGraphException>(() => PretrainedResNet18.LoadInto(model, missing));
        Assert.Contains(missing, gone.Message);
    }

    [Fact]
    public void LoadInto_ThreeByThreeStem_Refused()
    {
        using var model = new SmallResNet(new ResNetConfig(64, 64, [64], [1]));
        Assert.Throws<ArgumentException>(() => PretrainedResNet18.LoadInto(model, ResNet18File));
    }

    [Fact]
    public void Options_InitFromWithoutTheImageNetStemOrItsWidth_RejectedBeforeAnyDataIsRead()
    {
        var plain = OnnxExportTests.Options(new ResNetConfig(64, 64, [64], [1])) with { InitFrom = "x.onnx" };
        Assert.Contains("--stem imagenet", Assert.Throws<ArgumentException>(() => plain.Validate()).Message);
        var narrow = OnnxExportTests.Options(new ResNetConfig(64, 32, [64], [1], StemKind.ImageNet)) with { InitFrom = "x.onnx" };
        Assert.Contains("--stem-width 64", Assert.Throws<ArgumentException>(() => narrow.Validate()).Message);
    }
}
