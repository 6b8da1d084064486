using System.Runtime.CompilerServices;
using EdgeMask.Core.Detection;
using EdgeMask.Core.Events;
using EdgeMask.Core.Geometry;
using EdgeMask.Core.Policy;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OpenCvSharp;
using LogLevel = Microsoft.Extensions.Logging.LogLevel;

namespace EdgeMask.Module.Snapshots;

/// <summary>
/// The snapshot step of one camera: for each <see cref="SnapshotRequest"/> of the violation policy it renders the
/// frame of the request, stores it in the shared <see cref="SnapshotStore"/> and returns the result, which the caller
/// hands on to the events of the episode (<see cref="SnapshotResult.ToEventSnapshot"/>).
/// </summary>
/// <remarks>
/// Which frame is worth a snapshot is the policy's call (a start, or a view better by its
/// <c>SnapshotImprovementRatio</c>); this class only adds <see cref="SnapshotOptions.MinIntervalPerEpisode"/> so a
/// fast-improving view does not write one file per frame. Never throws for rendering or storage failures: the result
/// says <see cref="SnapshotStatus.Failed"/>, the episode keeps its previous snapshot, and the events flow.
/// Not thread-safe (one per camera, used by its event stage's worker, like the renderer it owns).
/// </remarks>
public sealed partial class CameraSnapshotter : IDisposable
{
    private readonly SnapshotStore _store;
    private readonly SnapshotRenderer _renderer;
    private readonly ILogger _logger;
    private readonly ConditionalWeakTable<ViolationEpisode, StrongBox<DateTimeOffset>> _lastTaken = new();

    /// <param name="store">Shared by all cameras; not owned.</param>
    public CameraSnapshotter(SnapshotStore store, string device, string camera, ILogger<CameraSnapshotter>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentException.ThrowIfNullOrWhiteSpace(device);
        ArgumentException.ThrowIfNullOrWhiteSpace(camera);
        _store = store;
        _renderer = new SnapshotRenderer(store.Options);
        _logger = logger ?? (ILogger)NullLogger.Instance;
        Camera = camera;
        Topic = Topics.Snapshot(device, camera);
    }

    public string Camera { get; }

    /// <summary>The store snapshots go to (not owned).</summary>
    public SnapshotStore Store => _store;

    /// <summary>The MQTT topic the pipeline publishes <see cref="SnapshotResult.PublishJpeg"/> on.</summary>
    public string Topic { get; }

    /// <summary>
    /// Takes the snapshot <paramref name="request"/> asks for from <paramref name="frame"/> (the frame the policy
    /// evaluated, or a copy of it; 8-bit BGR; read only). <paramref name="faces"/> are all faces detected in that
    /// frame, for the privacy blur. The episode itself is not touched: the caller keeps the result for its events.
    /// </summary>
    public SnapshotResult Take(Mat frame, in SnapshotRequest request, ReadOnlySpan<FaceDetection> faces)
    {
        ArgumentNullException.ThrowIfNull(frame);
        ArgumentNullException.ThrowIfNull(request.Episode);
        if (!_store.Options.Enabled) return SnapshotResult.Disabled;

        ViolationEpisode episode = request.Episode;
        DateTimeOffset at = request.Observation.Timestamp;
        StrongBox<DateTimeOffset>? last = _lastTaken.TryGetValue(episode, out var box) ? box : null;
        if (!request.IsStart && last is not null && at - last.Value < _store.Options.MinIntervalPerEpisode)
            return SnapshotResult.Throttled;

        RenderedSnapshot rendered;
        try
        {
            string label = request.Observation.Classification is { } c ? $"{c.LabelText} {c.Probability:0.00}" : "no_mask";
            rendered = _renderer.Render(frame, request.Observation.Box, faces, label);
        }
        catch (Exception ex) when (ex is OpenCVException or InvalidOperationException or ArgumentException)
        {
            LogRenderFailed(_logger, ex, Camera, episode.Id);
            return SnapshotResult.Failure(Camera, "rendering failed: " + ex.Message);
        }

        SnapshotResult result = _store.Save(Camera, rendered);
        if (result.Available)
        {
            if (last is null) _lastTaken.Add(episode, new StrongBox<DateTimeOffset>(at));
            else last.Value = at;
        }
        return result;
    }

    public void Dispose() => _renderer.Dispose();

    [LoggerMessage(Level = LogLevel.Warning, Message = "Snapshot of camera {Camera} for episode {EpisodeId} could not be rendered; the event goes out without it")]
    private static partial void LogRenderFailed(ILogger logger, Exception exception, string camera, string episodeId);
}
