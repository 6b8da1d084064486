using EdgeMask.Inference.Detection;
using EdgeMask.Inference.Models;
using EdgeMask.Inference.Runtime;
using EdgeMask.Tests.Shared;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMask.Inference.Tests.Detection;

/// <summary>The real RetinaFace model from ../shared/models through real ONNX Runtime (CPU), shared by a test class.</summary>
public sealed class DetectorFixture : IDisposable
{
    public ModelStore Store { get; } = new(TestPaths.SharedModels, ModelManifest.Embedded);
    public RetinaFaceDetector Native { get; }

    public DetectorFixture()
    {
        Native = Open(new DetectorOptions());
    }

    public RetinaFaceDetector Open(DetectorOptions options) =>
        RetinaFaceDetector.Open(Store, options, new ExecutionProviderOptions { Preference = ExecutionProviderKind.Cpu }, NullLogger.Instance);

    public void Dispose() => Native.Dispose();
}
