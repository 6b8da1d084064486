using EdgeMask.Dashboard.Options;
using EdgeMask.Dashboard.Storage;

namespace EdgeMask.Dashboard.Retention;

/// <summary>Deletes what is older than <see cref="RetentionOptions.MaxAge"/> or beyond the size limits: rows first, then their snapshot files.</summary>
public sealed partial class RetentionWorker(
    IDashboardStore store,
    SnapshotFileStore snapshots,
    RetentionOptions options,
    TimeProvider timeProvider,
    ILogger<RetentionWorker> logger)
{
    public async Task<RetentionResult> RunOnceAsync(CancellationToken cancellationToken)
    {
        var policy = new RetentionPolicy(timeProvider.GetUtcNow() - options.MaxAge, options.MaxRows, options.MaxSnapshotBytes);
        var result = await store.ApplyRetentionAsync(policy, cancellationToken);
        var filesDeleted = 0;
        foreach (var file in result.SnapshotFilesDeleted)
        {
            if (snapshots.Delete(file))
            {
                filesDeleted++;
            }
        }
        if (result.EventsDeleted > 0 || result.StatsDeleted > 0 || filesDeleted > 0)
        {
            LogDeleted(result.EventsDeleted, result.StatsDeleted, filesDeleted, policy.Cutoff);
        }
        return result;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Retention deleted {Events} events, {Stats} stats rows and {Snapshots} snapshots (cut-off {Cutoff})")]
    private partial void LogDeleted(long events, long stats, int snapshots, DateTimeOffset cutoff);
}

/// <summary>Runs the retention at start and then every <see cref="RetentionOptions.Interval"/>.</summary>
public sealed partial class RetentionService(
    RetentionWorker worker,
    RetentionOptions options,
    TimeProvider timeProvider,
    ILogger<RetentionService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Interval, timeProvider);
        do
        {
            try
            {
                await worker.RunOnceAsync(stoppingToken);
            }
            catch (System.Data.Common.DbException ex)
            {
                LogFailed(ex.Message);
            }
            catch (IOException ex)
            {
                LogFailed(ex.Message);
            }
        }
        while (await WaitAsync(timer, stoppingToken));
    }

    private static async Task<bool> WaitAsync(PeriodicTimer timer, CancellationToken stoppingToken)
    {
        try
        {
            return await timer.WaitForNextTickAsync(stoppingToken);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Retention failed, retrying at the next interval: {Problem}")]
    private partial void LogFailed(string problem);
}
