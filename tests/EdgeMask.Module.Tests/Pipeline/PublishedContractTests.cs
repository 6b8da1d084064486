using System.Text.Json;
using EdgeMask.Core.Events;
using EdgeMask.Core.Policy;
using EdgeMask.Messaging;
using EdgeMask.Messaging.Outbox;
using EdgeMask.Messaging.Schemas;
using EdgeMask.Module.Pipeline;
using EdgeMask.Tests.Shared;

namespace EdgeMask.Module.Tests.Pipeline;

/// <summary>What the device stores for its consumers (a real SQLite outbox), per <c>contract.version</c>.</summary>
public sealed class PublishedContractTests
{
    private static MaskEvent BadlyWornMask(string type) => new()
    {
        Id = "dev-door-7-1",
        Type = type,
        Sequence = 0,
        Device = "dev",
        Camera = "door",
        TrackId = 7,
        StartedAt = DateTimeOffset.UnixEpoch,
        At = DateTimeOffset.UnixEpoch,
        Frame = new EventFrame(960, 540),
        Face = new EventFace([100, 50, 180, 150], [0.1f, 0.1f, 0.2f, 0.3f], [[1, 1], [2, 2], [3, 3], [4, 4], [5, 5]], 0.95f),
        Mask = new EventMask("incorrect", 0.8f, 8, 6) { Probabilities = new EventProbabilities(0.1f, 0.1f, 0.8f) },
        Snapshot = EventSnapshot.None,
    };

    private static CameraStats Stats() => new()
    {
        Device = "dev", Camera = "door", At = DateTimeOffset.UnixEpoch, IntervalSeconds = 10, FramesPerSecond = 15,
        LatencyMs = new LatencyStats(10, 20, 30), FramesProcessed = 150, DroppedFrames = 0, FacesSeen = 12,
        FacesUnmasked = 5, FacesByLabel = new LabelCounts(7, 2, 3), ComplianceRate = 7.0 / 12, ActiveViolations = 1,
    };

    private static async Task<IReadOnlyList<OutboxMessage>> PublishAsync(int version, IncorrectMaskCounting counting, string type)
    {
        string dir = TestPaths.NewTempDirectory("edgemask-sink");
        using var outbox = new SqliteOutbox(new OutboxOptions { Path = Path.Combine(dir, "outbox.db") });
        await using (var publisher = new EventPublisher(outbox, new EventPublisherOptions { Device = "dev" }))
        {
            publisher.Start();
            var contract = new PublishedContract(version, counting);
            publisher.Enqueue(contract.Project(BadlyWornMask(type)));
            publisher.Enqueue(contract.Project(Stats()));
            await publisher.FlushAsync(CancellationToken.None);
        }
        return outbox.PeekPending("mqtt", 10);
    }

    [Theory]
    [InlineData(EventTypes.ViolationStart, IncorrectMaskCounting.Violation)]
    [InlineData(EventTypes.IncorrectStart, IncorrectMaskCounting.Separate)]
    public async Task Project_ContractVersion1_StoresWhatAVersion1ConsumerAccepts(string type, IncorrectMaskCounting counting)
    {
        var stored = await PublishAsync(1, counting, type);

        var e = Assert.Single(stored, m => m.Kind == OutboxKinds.Event);
        var s = Assert.Single(stored, m => m.Kind == OutboxKinds.Stats);
        Assert.True(ContractSchemas.ValidateEventV1(e.Payload.Span).IsValid, ContractSchemas.ValidateEventV1(e.Payload.Span).ToString());
        Assert.True(ContractSchemas.ValidateStatsV1(s.Payload.Span).IsValid, ContractSchemas.ValidateStatsV1(s.Payload.Span).ToString());
        using var doc = JsonDocument.Parse(e.Payload);
        Assert.Equal(EventTypes.ViolationStart, doc.RootElement.GetProperty("type").GetString());
        Assert.Equal("no_mask", doc.RootElement.GetProperty("mask").GetProperty("label").GetString());
    }

    [Fact]
    public async Task Project_DefaultContract_StoresVersion2AsTheEventSays()
    {
        var stored = await PublishAsync(EventContract.CurrentVersion, IncorrectMaskCounting.Separate, EventTypes.IncorrectStart);

        var e = Assert.Single(stored, m => m.Kind == OutboxKinds.Event);
        Assert.True(ContractSchemas.ValidateEvent(e.Payload.Span).IsValid);
        Assert.True(ContractSchemas.ValidateStats(Assert.Single(stored, m => m.Kind == OutboxKinds.Stats).Payload.Span).IsValid);
        using var doc = JsonDocument.Parse(e.Payload);
        Assert.Equal(EventTypes.IncorrectStart, doc.RootElement.GetProperty("type").GetString());
        Assert.Equal("incorrect", doc.RootElement.GetProperty("mask").GetProperty("label").GetString());
    }
}
