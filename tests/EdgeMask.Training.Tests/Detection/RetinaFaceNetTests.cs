using EdgeMask.Inference.Imaging;
using EdgeMask.Inference.Models;
using EdgeMask.Training.Detection;
using EdgeMask.Training.Onnx;
using Microsoft.ML.OnnxRuntime;
using OpenCvSharp;
using TorchSharp;
using static TorchSharp.torch;

namespace EdgeMask.Training.Tests.Detection;

public sealed class RetinaFaceNetTests
{
    [Fact]
    public void LoadFrom_StockOnnx_ReproducesOnnxRuntimeOutputsOnAPhoto()
    {
        var onnx = OnnxGraphFile.Load(SharedFiles.StockDetector);
        using var net = new RetinaFaceNet();
        net.LoadFrom(onnx);
        var (input, h, w) = Photo("maksssksksss0");

        AssertAgree(net, File.ReadAllBytes(SharedFiles.StockDetector), input, h, w);
    }

    [Fact]
    public void WithInitializers_ChangedWeights_OnnxRuntimeRunsTheChangedNetworkAndAgreesWithTorchSharp()
    {
        var onnx = OnnxGraphFile.Load(SharedFiles.StockDetector);
        using var net = new RetinaFaceNet();
        net.LoadFrom(onnx);
        torch.manual_seed(3);
        using (no_grad())
        {
            foreach (var c in net.Convolutions) c.conv.bias!.add_(torch.randn(c.conv.bias.shape) * 0.05);
        }
        net.eval();
        byte[] tuned = onnx.WithInitializers(net.ToInitializers(onnx));
        Assert.Equal(new FileInfo(SharedFiles.StockDetector).Length, tuned.Length);
        Assert.NotEqual(File.ReadAllBytes(SharedFiles.StockDetector), tuned);
        var (input, h, w) = Photo("maksssksksss5");

        AssertAgree(net, tuned, input, h, w);
    }

    [Fact]
    public void Parse_StockOnnx_Has56ConvolutionsWithBiasAndNoBatchNorm()
    {
        var onnx = OnnxGraphFile.Load(SharedFiles.StockDetector);
        var convs = onnx.Nodes.Where(n => n.OpType == "Conv").ToList();
        Assert.Equal(56, convs.Count);
        Assert.All(convs, c => Assert.Equal(3, c.Inputs.Count));
        Assert.DoesNotContain(onnx.Nodes, n => n.OpType == "BatchNormalization");
        Assert.Equal([8, 3, 3, 3], onnx.Initializer(convs[0].Inputs[1]).Dims);
    }

    [Fact]
    public void Load_NotAnOnnxFile_ThrowsOnnxGraphExceptionNamingTheFile()
    {
        string path = Path.Combine(Path.GetTempPath(), $"not-onnx-{Guid.NewGuid():N}.onnx");
        File.WriteAllText(path, "this is not a protobuf file at all, just text");
        try
        {
            var e = Assert.Throws<OnnxGraphException>(() => OnnxGraphFile.Load(path));
            Assert.Contains(path, e.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }

    internal static (float[] Input, int H, int W) Photo(string stem)
    {
        using var image = ImageLoader.LoadBgr(Path.Combine(SharedFiles.Voc853, "images", stem + ".jpg"));
        var mean = ModelManifest.Embedded.GetByRole("detector").Input.Mean;
        var input = new float[3 * image.Rows * image.Cols];
        DetectorTrainer.WritePlanar(image, mean, input);
        return (input, image.Rows, image.Cols);
    }

    internal static void AssertAgree(RetinaFaceNet net, byte[] onnxBytes, float[] input, int h, int w)
    {
        net.eval();
        float[] loc, conf, lm;
        using (no_grad())
        {
            using var outputs = net.forward(torch.tensor(input, [1, 3, h, w]));
            loc = outputs.Loc.contiguous().data<float>().ToArray();
            conf = nn.functional.softmax(outputs.Logits, -1).contiguous().data<float>().ToArray();
            lm = outputs.Landmarks.contiguous().data<float>().ToArray();
        }
        using var session = new InferenceSession(onnxBytes);
        using var value = OrtValue.CreateTensorValueFromMemory(input, [1, 3, h, w]);
        using var results = session.Run(new RunOptions(), ["input"], [value], ["loc", "conf", "landmarks"]);
        Compare("loc", loc, results[0].GetTensorDataAsSpan<float>().ToArray());
        Compare("conf", conf, results[1].GetTensorDataAsSpan<float>().ToArray());
        Compare("landmarks", lm, results[2].GetTensorDataAsSpan<float>().ToArray());
    }

    private static void Compare(string name, float[] torchValues, float[] ort)
    {
        Assert.Equal(ort.Length, torchValues.Length);
        float worst = 0;
        int at = 0;
        for (int i = 0; i < ort.Length; i++)
        {
            float d = Math.Abs(ort[i] - torchValues[i]);
            if (d > worst) { worst = d; at = i; }
        }
        Assert.True(worst < 1e-3f, $"{name}: max |TorchSharp − ONNX Runtime| = {worst} at {at} ({torchValues[at]} vs {ort[at]})");
    }
}
