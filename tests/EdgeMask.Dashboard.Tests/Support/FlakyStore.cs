using EdgeMask.Core.Events;
using EdgeMask.Dashboard.Storage;
using Microsoft.Data.Sqlite;

namespace EdgeMask.Dashboard.Tests.Support;

/// <summary>
/// A real store whose first <paramref name="failures"/> batch writes fail the way a database outage does (a
/// <see cref="System.Data.Common.DbException"/> from the driver), to show that ingest retries and loses nothing.
/// </summary>
internal sealed class FlakyStore(IDashboardStore inner, int failures) : IDashboardStore
{
    private int _failuresLeft = failures;
    private int _failed;

    public int FailedWrites => Volatile.Read(ref _failed);

    public StoreProviderInfo Info => inner.Info;

    public Task<StoreBatchResult> AddBatchAsync(StoreBatch batch, DateTimeOffset receivedAt, CancellationToken cancellationToken) =>
        Interlocked.Decrement(ref _failuresLeft) >= 0
            ? Fail()
            : inner.AddBatchAsync(batch, receivedAt, cancellationToken);

    private Task<StoreBatchResult> Fail()
    {
        Interlocked.Increment(ref _failed);
        throw new SqliteException("database is locked (injected outage)", 5);
    }

    public Task<bool> AddEventAsync(MaskEvent maskEvent, DateTimeOffset receivedAt, CancellationToken cancellationToken) => inner.AddEventAsync(maskEvent, receivedAt, cancellationToken);
    public Task<bool> AddStatsAsync(CameraStats stats, DateTimeOffset receivedAt, CancellationToken cancellationToken) => inner.AddStatsAsync(stats, receivedAt, cancellationToken);
    public Task UpsertDeviceStatusAsync(DeviceStatus status, DateTimeOffset receivedAt, CancellationToken cancellationToken) => inner.UpsertDeviceStatusAsync(status, receivedAt, cancellationToken);
    public Task<bool> AddSnapshotAsync(SnapshotRecord snapshot, CancellationToken cancellationToken) => inner.AddSnapshotAsync(snapshot, cancellationToken);
    public Task<SnapshotRecord?> GetSnapshotAsync(string id, CancellationToken cancellationToken) => inner.GetSnapshotAsync(id, cancellationToken);
    public Task<EventPage> QueryEventsAsync(EventQuery query, CancellationToken cancellationToken) => inner.QueryEventsAsync(query, cancellationToken);
    public Task<IReadOnlyList<ComplianceBucket>> QueryComplianceAsync(ComplianceQuery query, CancellationToken cancellationToken) => inner.QueryComplianceAsync(query, cancellationToken);
    public Task<IReadOnlyList<CameraTotals>> QueryCameraTotalsAsync(string? device, string? camera, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken) =>
        inner.QueryCameraTotalsAsync(device, camera, from, to, cancellationToken);
    public Task<IReadOnlyList<LabelCount>> QueryLabelCountsAsync(string? device, string? camera, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken) => inner.QueryLabelCountsAsync(device, camera, from, to, cancellationToken);
    public Task<IReadOnlyList<string>> GetLabelsAsync(CancellationToken cancellationToken) => inner.GetLabelsAsync(cancellationToken);
    public Task<IReadOnlyList<DeviceRow>> GetDevicesAsync(CancellationToken cancellationToken) => inner.GetDevicesAsync(cancellationToken);
    public Task<IReadOnlyList<CameraRow>> GetCamerasAsync(CancellationToken cancellationToken) => inner.GetCamerasAsync(cancellationToken);
    public Task<StoreCounts> CountAsync(CancellationToken cancellationToken) => inner.CountAsync(cancellationToken);
    public Task<RetentionResult> ApplyRetentionAsync(RetentionPolicy policy, CancellationToken cancellationToken) => inner.ApplyRetentionAsync(policy, cancellationToken);
    public Task<IReadOnlyList<int>> SchemaVersionsAsync(CancellationToken cancellationToken) => inner.SchemaVersionsAsync(cancellationToken);
    public Task<IReadOnlyList<PartitionOwnership>> ListOwnershipAsync(EventHubKey hub, CancellationToken cancellationToken) => inner.ListOwnershipAsync(hub, cancellationToken);
    public Task<IReadOnlyList<PartitionOwnership>> ClaimOwnershipAsync(IReadOnlyList<PartitionOwnership> desired, DateTimeOffset now, CancellationToken cancellationToken) => inner.ClaimOwnershipAsync(desired, now, cancellationToken);
    public Task<PartitionCheckpoint?> GetCheckpointAsync(EventHubKey hub, string partitionId, CancellationToken cancellationToken) => inner.GetCheckpointAsync(hub, partitionId, cancellationToken);
    public Task SetCheckpointAsync(PartitionCheckpoint checkpoint, CancellationToken cancellationToken) => inner.SetCheckpointAsync(checkpoint, cancellationToken);
    public void Dispose() => inner.Dispose();
}
