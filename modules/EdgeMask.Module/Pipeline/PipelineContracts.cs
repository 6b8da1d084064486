using EdgeMask.Core.Events;

namespace EdgeMask.Module.Pipeline;

/// <summary>
/// Where a camera's events, statistics and snapshot JPEGs go (publisher, alarm, console, tests). Events and JPEGs come
/// from the camera's event output (its stage worker, or the camera thread), statistics from the camera thread, each
/// in order: return quickly, never block.
/// </summary>
public interface IPipelineSink
{
    void OnEvent(MaskEvent maskEvent);
    void OnStats(CameraStats stats);

    /// <summary>A stored snapshot's JPEG for the snapshot topic (<paramref name="snapshotId"/> is what the events name). Do not modify the bytes.</summary>
    void OnSnapshot(string camera, string snapshotId, byte[] jpeg) { }
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

    public void OnSnapshot(string camera, string snapshotId, byte[] jpeg)
    {
        foreach (var s in sinks)
        {
            try { s.OnSnapshot(camera, snapshotId, jpeg); }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                Microsoft.Extensions.Logging.LoggerExtensions.LogError(logger, ex, "Snapshot sink {Sink} failed for snapshot {SnapshotId}", s.GetType().Name, snapshotId);
            }
        }
    }
}
