using EdgeMask.Core.Policy;
using EdgeMask.Module.Configuration;
using EdgeMask.Module.Pipeline;
using EdgeMask.Tests.Shared;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMask.Module.Tests.Pipeline;

/// <summary>A camera pipeline over the checkout's real models on the CPU, at the default configuration, for tests that feed it frames.</summary>
internal sealed class RealModelPipeline : IDisposable
{
    private readonly InferenceModels _models;

    /// <param name="violation">The policy (null: the default configuration's).</param>
    public RealModelPipeline(string camera, IPipelineSink sink, ViolationPolicyOptions? violation = null, ILogger? logger = null,
        CameraMetrics? metrics = null)
    {
        var options = new EdgeMaskOptions
        {
            Inference = new InferenceSettings { ModelsDirectory = Path.Combine(TestPaths.RepoRoot, "models"), ExecutionProvider = "cpu" },
        };
        _models = InferenceModels.Open(options.Inference, options.Classifier, NullLogger.Instance);
        var settings = new CameraPipelineSettings
        {
            Device = "test",
            Camera = camera,
            Detector = options.Detector.ToDetectorOptions(),
            Tracking = options.Tracking,
            Violation = violation ?? options.Violation,
            ClassifySmallFaces = options.Classifier.ClassifySmallFaces,
            ClassifySettledEveryNthFrame = options.Classifier.SettledEveryNthFrame,
        };
        try
        {
            Pipeline = new CameraPipeline(settings, new FixedModelSource(_models), new DirectEventOutput("test", camera, sink), sink,
                TimeProvider.System, logger ?? NullLogger.Instance, metrics);
        }
        catch
        {
            _models.Dispose();
            throw;
        }
    }

    public CameraPipeline Pipeline { get; }

    public void Dispose()
    {
        Pipeline.Dispose();
        _models.Dispose();
    }
}

/// <summary>What <c>/metrics</c> shows, read from the process's Prometheus registry.</summary>
internal static class PrometheusText
{
    /// <summary>The value of <paramref name="name"/> for <paramref name="camera"/>, as exported.</summary>
    public static string Metric(string name, string camera)
    {
        using var stream = new MemoryStream();
        Prometheus.Metrics.DefaultRegistry.CollectAndExportAsTextAsync(stream).GetAwaiter().GetResult();
        string prefix = $"{name}{{camera=\"{camera}\"}} ";
        return System.Text.Encoding.UTF8.GetString(stream.ToArray()).Split('\n').Single(l => l.StartsWith(prefix, StringComparison.Ordinal))[prefix.Length..];
    }
}
