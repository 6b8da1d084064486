using EdgeMask.Inference.Detection;
using EdgeMask.Inference.Models;
using EdgeMask.Inference.Runtime;
using EdgeMask.Tests.Shared;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMask.Inference.Tests.Detection;

/// <summary>
/// The stock RetinaFace from ../shared/models (the weights PyTorch's reference detections were made with) through real
/// ONNX Runtime (CPU), shared by a test class. Chosen by name: the manifest's default detector is the fine-tuned one.
/// </summary>
public sealed class DetectorFixture : IDisposable
{
    public ModelStore Store { get; } = new(TestPaths.SharedModels, ModelManifest.Embedded);
    public RetinaFaceDetector Native { get; }

    public DetectorFixture()
    {
        // No border whatever the default: the reference detections were made on the bare photo.
        Native = Open(new DetectorOptions { Sizing = new EdgeMask.Core.Detection.InputSizing { BorderPad = 0 } });
    }

    public RetinaFaceDetector Open(DetectorOptions options) =>
        RetinaFaceDetector.Open(Store, options, new ExecutionProviderOptions { Preference = ExecutionProviderKind.Cpu }, NullLogger.Instance,
            Store.GetVerifiedPath(Store.Manifest.Get(StockName)));

    public const string StockName = "retinaface_mnet025";

    public void Dispose() => Native.Dispose();
}
