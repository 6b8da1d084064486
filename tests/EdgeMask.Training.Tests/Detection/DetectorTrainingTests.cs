using EdgeMask.Core.Detection;
using EdgeMask.Inference.Models;
using EdgeMask.Training.Detection;
using EdgeMask.Training.Onnx;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.ML.OnnxRuntime;
using OpenCvSharp;
using TorchSharp;
using static TorchSharp.torch;

namespace EdgeMask.Training.Tests.Detection;

public sealed class DetectorTrainingTests
{
    [Fact]
    public void TrainingSteps_FewVocPhotos_LowerTheLossAndOnnxRuntimeAgreesWithTheTunedNetwork()
    {
        torch.set_num_threads(2);
        torch.manual_seed(1);
        const int size = 256;
        var entry = ModelManifest.Embedded.GetByRole("detector");
        var config = entry.GetPriorBoxConfig();
        var onnx = OnnxGraphFile.Load(SharedFiles.StockDetector);
        using var net = new RetinaFaceNet();
        net.LoadFrom(onnx);
        using var photos = VocPhotoSet.Load(SharedFiles.Voc853, "train", NullLogger.Instance, limit: 3);

        // One fixed batch (the same crops every step), so a falling loss means the steps fit it.
        var priors = PriorBoxes.Generate(config, size, size);
        int p = priors.Length / 4, batch = photos.Photos.Count;
        var input = new float[batch * 3 * size * size];
        var labels = new long[batch * p];
        var loc = new float[batch * p * 4];
        var lm = new float[batch * p * 10];
        var mask = new float[batch * p];
        var aug = new AugmentOptions { Size = size, MinScale = 0.8f, MaxScale = 1.2f };
        var rng = new Random(4);
        using var canvas = new Mat();
        for (int i = 0; i < batch; i++)
        {
            var faces = DetectionAugmenter.Apply(photos.Photos[i].Image, photos.Photos[i].Faces, aug, DetectionAugmenter.PadColor(entry.Input.Mean), rng, canvas);
            DetectorTrainer.WritePlanar(canvas, entry.Input.Mean, input.AsSpan(i * 3 * size * size, 3 * size * size));
            AnchorMatcher.Match(priors, size, size, faces, new MatchingThresholds(), config.CenterVariance, config.SizeVariance,
                labels.AsSpan(i * p, p), loc.AsSpan(i * p * 4, p * 4), lm.AsSpan(i * p * 10, p * 10), mask.AsSpan(i * p, p));
        }
        var loss = new MultiBoxLoss(2f, 1f);
        using var optimizer = optim.AdamW(net.parameters(), 1e-4, weight_decay: 1e-4);
        var losses = new List<float>();
        net.train();
        for (int step = 0; step < 4; step++)
        {
            using var scope = NewDisposeScope();
            optimizer.zero_grad();
            using var outputs = net.forward(torch.tensor(input, [batch, 3, size, size]));
            var parts = loss.Compute(outputs, torch.tensor(labels, [batch, p]), torch.tensor(loc, [batch, p, 4]), torch.tensor(lm, [batch, p, 10]), torch.tensor(mask, [batch, p]));
            losses.Add(parts.Total.item<float>());
            parts.Total.backward();
            optimizer.step();
        }
        float after;
        using (no_grad())
        using (var scope = NewDisposeScope())
        {
            using var outputs = net.forward(torch.tensor(input, [batch, 3, size, size]));
            after = loss.Compute(outputs, torch.tensor(labels, [batch, p]), torch.tensor(loc, [batch, p, 4]), torch.tensor(lm, [batch, p, 10]), torch.tensor(mask, [batch, p])).Total.item<float>();
        }

        Assert.True(after < losses[0] * 0.97f, $"loss {losses[0]:0.000} → {string.Join(" → ", losses.Skip(1).Select(l => l.ToString("0.000")))} → {after:0.000}");
        var (photo, h, w) = RetinaFaceNetTests.Photo("maksssksksss100");
        RetinaFaceNetTests.AssertAgree(net, onnx.WithInitializers(net.ToInitializers(onnx)), photo, h, w);
    }

    /// <summary>A few steps on small crops of voc853, written under <paramref name="root"/>.</summary>
    private static DetectorTrainingOptions SmallRun(string root) => new()
    {
        VocFolder = SharedFiles.Voc853,
        StartDetector = SharedFiles.StockDetector,
        OutputPath = Path.Combine(root, "out", "tuned.onnx"),
        CardPath = Path.Combine(root, "out", "tuned.md"),
        WorkDirectory = Path.Combine(root, "work"),
        ImageSize = 224,
        BatchSize = 2,
        EpochSize = 4,
        DevScales = [1f],
        Threads = 2,
        Seed = 5,
        CommandLine = "edgemask-train detector (test)",
    };

    [Fact]
    public void Run_TwoSteps_WritesAnOnnxThatLoadsDiffersFromStockAndAModelCard()
    {
        string root = Path.Combine(Path.GetTempPath(), $"edgemask-detector-{Guid.NewGuid():N}");
        try
        {
            var options = SmallRun(root) with { Epochs = 3, MaxSteps = 2, DevLimit = 3 };

            var result = new DetectorTrainer(options, NullLogger.Instance, TimeProvider.System).Run();

            Assert.Equal(2, result.StepLosses.Count);
            Assert.All(result.StepLosses, l => Assert.True(float.IsFinite(l) && l > 0));
            byte[] written = File.ReadAllBytes(options.OutputPath);
            byte[] stock = File.ReadAllBytes(SharedFiles.StockDetector);
            Assert.Equal(stock.Length, written.Length);
            Assert.NotEqual(stock, written);
            using (var session = new InferenceSession(written))
            {
                Assert.Equal(["loc", "conf", "landmarks"], session.OutputMetadata.Keys.ToArray());
            }
            var tuned = OnnxGraphFile.Load(options.OutputPath);
            using var net = new RetinaFaceNet();
            net.LoadFrom(tuned);
            var (photo, h, w) = RetinaFaceNetTests.Photo("maksssksksss0");
            RetinaFaceNetTests.AssertAgree(net, written, photo, h, w);
            var figures = Assert.Single(result.Final);
            Assert.Equal(171, figures.Images);
            string card = File.ReadAllText(options.CardPath!);
            Assert.Contains(result.Sha256, card);
            Assert.Contains("edgemask-train detector (test)", card);
            Assert.True(File.Exists(Path.Combine(options.WorkDirectory, "state.json")));
        }
        finally
        {
            if (Directory.Exists(root)) Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public void Run_EmaAndPseudoLabels_ShipsTheAverageKeepsTheLastStepForResumeAndRecordsBothInTheCard()
    {
        string root = Path.Combine(Path.GetTempPath(), $"edgemask-detector-{Guid.NewGuid():N}");
        try
        {
            var options = SmallRun(root) with { Epochs = 1, DevLimit = 2, EmaDecay = 0.9, PseudoLabelScore = 0.8f, PseudoLabelSizings = [1f] };

            var result = new DetectorTrainer(options, NullLogger.Instance, TimeProvider.System).Run();

            byte[] shipped = File.ReadAllBytes(options.OutputPath);
            byte[] raw = File.ReadAllBytes(Path.Combine(options.WorkDirectory, "last-raw.onnx"));
            byte[] stock = File.ReadAllBytes(SharedFiles.StockDetector);
            // The average lies between the start and the last step: different from both.
            Assert.NotEqual(raw, shipped);
            Assert.NotEqual(stock, shipped);
            Assert.Equal(File.ReadAllBytes(Path.Combine(options.WorkDirectory, "last.onnx")), shipped);
            Assert.True(result.PseudoFaces > 0, "the stock model finds unannotated faces in the 512 training photos");
            string card = File.ReadAllText(options.CardPath!);
            Assert.Contains("moving average of the trained weights (decay 0.9)", card);
            Assert.Contains($"{result.PseudoFaces} faces beside the {result.TrainFaces} annotated", card);
        }
        finally
        {
            if (Directory.Exists(root)) Directory.Delete(root, recursive: true);
        }
    }

    [Theory]
    [InlineData(-0.1)]
    [InlineData(1.0)]
    public void Validate_EmaOutsideZeroOne_ThrowsNamingTheOption(double decay)
    {
        var options = new DetectorTrainingOptions { VocFolder = "v", StartDetector = "d", OutputPath = "o.onnx", WorkDirectory = "w", EmaDecay = decay };
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => options.Validate());
        Assert.Contains("--ema", e.Message);
    }

    [Fact]
    public void Validate_BadImageSize_ThrowsNamingTheOption()
    {
        var options = new DetectorTrainingOptions { VocFolder = "v", StartDetector = "d", OutputPath = "o.onnx", WorkDirectory = "w", ImageSize = 300 };
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => options.Validate());
        Assert.Contains("--image-size", e.Message);
    }
}
