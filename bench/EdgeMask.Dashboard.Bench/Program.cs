// Ingest rate of the dashboard: contract events from 8 cameras through IngestPipeline.IngestBatchAsync (parse, check,
// one transaction per batch) into the store named by the connection string, as the MQTT and Event Hubs ingests do.
// usage: EdgeMask.Dashboard.Bench "<connection string>" [events=20000] [batch sizes=1,100,500]
using System.Diagnostics;
using System.Globalization;
using EdgeMask.Core.Events;
using EdgeMask.Dashboard.Ingest;
using EdgeMask.Dashboard.Live;
using EdgeMask.Dashboard.Options;
using EdgeMask.Dashboard.Storage;
using Microsoft.Extensions.Logging.Abstractions;

if (args.Length < 1)
{
    Console.Error.WriteLine("usage: EdgeMask.Dashboard.Bench \"Host=…;Database=…\" | \"Data Source=file.db\" [events] [batchSizes]");
    return 2;
}
var connectionString = args[0];
var total = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 20_000;
var batchSizes = (args.Length > 2 ? args[2] : "1,100,500").Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();

var storeOptions = new StoreOptions { ConnectionString = connectionString };
using var store = DashboardStoreFactory.Open(storeOptions);
var snapshots = new SnapshotFileStore(Path.Combine(Path.GetTempPath(), "edgemask-bench-snapshots"));
var pipeline = new IngestPipeline(store, snapshots, new LiveFeed(), storeOptions, TimeProvider.System, NullLogger<IngestPipeline>.Instance);
Console.WriteLine($"store: {store.Info.Provider} {store.Info.Description}; {total} events per run, 8 cameras; cores {Environment.ProcessorCount}");

var run = Guid.NewGuid().ToString("N")[..8];
foreach (var batchSize in batchSizes)
{
    var messages = Enumerable.Range(0, total).Select(i =>
    {
        var camera = $"cam{i % 8}";
        var at = DateTimeOffset.UtcNow.AddMilliseconds(i);
        var e = new MaskEvent
        {
            Id = $"bench-{run}-{batchSize}-{i}", Type = EventTypes.ViolationStart, Sequence = 0, Device = "bench", Camera = camera, TrackId = i,
            StartedAt = at, At = at, Frame = new EventFrame(960, 540),
            Face = new EventFace([10, 10, 50, 60], [0.01f, 0.02f, 0.05f, 0.1f], [[20, 30], [40, 30], [30, 40], [22, 50], [38, 50]], 0.98f),
            // Contract version 2 as a device sends it: every class probability (stored in their own columns).
            Mask = new EventMask("no_mask", 0.95f, 8, 6) { Probabilities = new EventProbabilities(0.02f, 0.95f, 0.03f) }, Snapshot = EventSnapshot.None,
        };
        return new IngestMessage(IngestKind.Event, "bench", camera, EventJsonContext.Serialize(e), IngestMessage.NoProperties, "bench");
    }).ToList();
    var clock = Stopwatch.StartNew();
    foreach (var chunk in messages.Chunk(batchSize))
    {
        await pipeline.IngestBatchAsync(chunk, CancellationToken.None);
    }
    clock.Stop();
    Console.WriteLine($"batch {batchSize,4}: {total} events in {clock.Elapsed.TotalSeconds:0.00} s = {total / clock.Elapsed.TotalSeconds:0} events/s");
}
Console.WriteLine($"stored: {pipeline.Counters.Stored}, duplicates {pipeline.Counters.Duplicates}, malformed {pipeline.Counters.Malformed}");
return 0;
