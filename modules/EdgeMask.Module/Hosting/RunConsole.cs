using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace EdgeMask.Module.Hosting;

/// <summary>
/// What <c>edgemask run</c> adds to the device: the live status lines (every 2 s per camera on stderr), and the end of
/// the run — once every camera has ended (files, <c>--max-frames</c>) it waits up to <see cref="RunSettings.DrainTimeout"/>
/// for the destinations to acknowledge what is queued, then stops the host. A stop requested meanwhile (SIGTERM,
/// Ctrl+C) wins: the host's own stop order takes over.
/// </summary>
public sealed class RunConsole(DeviceRuntime runtime, DeviceHostSettings settings, IHostApplicationLifetime lifetime, TimeProvider time,
    ILoggerFactory loggers) : IHostedService
{
    private readonly ILogger _logger = loggers.CreateLogger("edgemask.run");
    private readonly CancellationTokenSource _stop = new();
    private Task _live = Task.CompletedTask;
    private Task _end = Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (settings.Run.LiveView) _live = Task.Run(() => LiveViewAsync(_stop.Token), CancellationToken.None);
        if (settings.Run.StopWhenCamerasEnd) _end = Task.Run(() => StopAtTheEndAsync(_stop.Token), CancellationToken.None);
        return Task.CompletedTask;
    }

    private async Task StopAtTheEndAsync(CancellationToken cancellationToken)
    {
        try
        {
            await runtime.Cameras.AllEnded.WaitAsync(cancellationToken).ConfigureAwait(false);
            if (cancellationToken.IsCancellationRequested) return;
            using var drain = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            drain.CancelAfter(settings.Run.DrainTimeout);
            try
            {
                await runtime.Messaging.WaitUntilDrainedAsync(drain.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                _logger.LogWarning("Not every message was delivered within {Timeout}; {Pending} stay in the outbox for the next start",
                    settings.Run.DrainTimeout, runtime.Messaging.OutboxDepth());
            }
            lifetime.StopApplication();
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopped from outside before the sources ended.
        }
    }

    private async Task LiveViewAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(2), time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                long? depth = runtime.Messaging.OutboxDepth();
                foreach (var c in runtime.Cameras.Cameras)
                {
                    var k = c.Counters;
                    var h = c.Health;
                    settings.Stderr.WriteLine($"[{c.Id}] {h.StateName,-12} {k.Fps,5:0.0} fps  {k.LatencyMs,6:0.0} ms  faces {k.FacesInLastFrame,2}  violations {k.Active} active / {k.ViolationStarts} started  dropped {h.FramesDropped}  frames {k.Frames}"
                        + (depth is null ? "" : $"  outbox {depth}"));
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(_live, _end).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    /// <summary>One line per camera once the run is over: frames, drops, faces, violations, events, restarts.</summary>
    public static void PrintSummary(DeviceRuntime runtime, TextWriter stderr)
    {
        foreach (var c in runtime.Cameras.Cameras)
        {
            var k = c.Counters;
            stderr.WriteLine($"[{c.Id}] done: {k.Frames} frames, {c.Health.FramesDropped} dropped, {k.Faces} faces, {k.ViolationStarts} violations, {k.EventCount} events"
                + (c.Restarts > 0 ? $", {c.Restarts} restarts" : ""));
        }
    }
}
