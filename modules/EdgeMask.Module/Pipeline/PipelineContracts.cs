using EdgeMask.Core.Detection;
using EdgeMask.Core.Events;
using EdgeMask.Core.Policy;
using OpenCvSharp;

namespace EdgeMask.Module.Pipeline;

/// <summary>Where a camera pipeline's events and statistics go (publisher, alarm, console, tests). Called on the pipeline thread: return quickly.</summary>
public interface IPipelineSink
{
    void OnEvent(MaskEvent maskEvent);
    void OnStats(CameraStats stats);
}

/// <summary>Takes the snapshot a <see cref="SnapshotRequest"/> asks for, from the current frame. Must not throw into the pipeline.</summary>
public interface IViolationSnapshotter
{
    /// <param name="frame">The current frame (8-bit BGR; do not keep or modify it).</param>
    /// <param name="request">Which episode and which face.</param>
    /// <param name="faces">Every face detected in the frame (for blurring the others).</param>
    EventSnapshot Take(string camera, Mat frame, in SnapshotRequest request, ReadOnlySpan<FaceDetection> faces);
}

/// <summary>Fans out to several sinks; one failing sink does not starve the others.</summary>
public sealed class CompositeSink(IReadOnlyList<IPipelineSink> sinks, Microsoft.Extensions.Logging.ILogger logger) : IPipelineSink
{
    public void OnEvent(MaskEvent maskEvent)
    {
        foreach (var s in sinks)
        {
            try { s.OnEvent(maskEvent); }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                Microsoft.Extensions.Logging.LoggerExtensions.LogError(logger, ex, "Event sink {Sink} failed for event {EventId}", s.GetType().Name, maskEvent.Id);
            }
        }
    }

    public void OnStats(CameraStats stats)
    {
        foreach (var s in sinks)
        {
            try { s.OnStats(stats); }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                Microsoft.Extensions.Logging.LoggerExtensions.LogError(logger, ex, "Stats sink {Sink} failed for camera {Camera}", s.GetType().Name, stats.Camera);
            }
        }
    }
}
