using System.Text.Json;
using EdgeMask.Core.Events;
using EdgeMask.Dashboard.Ingest;
using EdgeMask.Dashboard.Storage;
using EdgeMask.Dashboard.Tests.Support;
using static EdgeMask.Dashboard.Tests.Support.Samples;

namespace EdgeMask.Dashboard.Tests;

/// <summary>
/// The third label (issue 17) in the store: version 2 documents of a real device run keep their class probabilities and
/// faces by label, badly worn masks counted separately are counted apart from violations, version 1 documents are
/// stored unsplit, and labels are data.
/// </summary>
public abstract partial class StoreContractTests
{
    [Fact]
    public async Task IngestBatchAsync_RecordedVersion2Run_KeepsProbabilitiesSplitAndIncorrectEpisodesApart()
    {
        var run = await IngestRecordedAsync(RecordedRun.Version2);
        // What the recording holds (Fixtures/README.md), so the assertions below cannot pass on an empty or other run.
        Assert.Equal((RecordedRun.V2ViolationStarts, RecordedRun.V2IncorrectStarts),
            (run.CountEvents(EventTypes.ViolationStart), run.CountEvents(EventTypes.IncorrectStart)));
        Assert.Equal((RecordedRun.V2Events, RecordedRun.V2Stats), (run.Events.Count(), run.Stats.Count()));
        Assert.True(run.SumFaces("incorrect") > 0);

        var (first, last) = run.TimeRange();
        var totals = Assert.Single(await Store.QueryCameraTotalsAsync(null, null, first, last.AddSeconds(1), default));
        Assert.Equal(("station", "platform"), (totals.Device, totals.Camera));
        Assert.Equal((RecordedRun.V2ViolationStarts, RecordedRun.V2IncorrectStarts), ((int)totals.Violations, (int)totals.IncorrectEpisodes));
        Assert.Equal((run.SumStats("facesSeen"), run.SumStats("facesUnmasked")), (totals.FacesSeen, totals.FacesUnmasked));
        Assert.Equal(new FaceSplit(run.SumFaces("mask"), run.SumFaces("no_mask"), run.SumFaces("incorrect"), 0), totals.Faces);
        // The device's rate: 1 − unmasked / classified faces (unmasked as the device's policy counts it), not over every
        // face seen — the device leaves small and untracked faces unclassified.
        long classified = run.SumFaces("mask") + run.SumFaces("no_mask") + run.SumFaces("incorrect");
        Assert.Equal(1.0 - (double)run.SumStats("facesUnmasked") / classified, totals.ComplianceRate!.Value, 12);

        var buckets = await Store.QueryComplianceAsync(new ComplianceQuery("station", "platform", first, last.AddSeconds(1), BucketSize.Minute), default);
        Assert.Equal(totals.Faces, buckets.Aggregate(FaceSplit.Zero, (sum, b) => sum.Add(b.Faces)));
        Assert.Equal((RecordedRun.V2ViolationStarts, RecordedRun.V2IncorrectStarts),
            ((int)buckets.Sum(b => b.Violations), (int)buckets.Sum(b => b.IncorrectEpisodes)));

        // Every stored event has the probabilities its document gave.
        var page = await Store.QueryEventsAsync(new EventQuery(Limit: 500), default);
        Assert.Equal(run.Events.Count(), page.Items.Count);
        var byKey = page.Items.ToDictionary(e => e.Key);
        foreach (var document in run.Events)
        {
            var key = $"{document.GetProperty("id").GetString()}:{document.GetProperty("type").GetString()}:{document.GetProperty("sequence").GetInt32()}";
            var expected = document.GetProperty("mask").GetProperty("probabilities");
            var stored = byKey[key].Probabilities;
            Assert.NotNull(stored);
            // Exactly the decimal the document wrote, not the float's binary expansion.
            Assert.Equal(expected.GetProperty("mask").GetDouble(), stored.Mask);
            Assert.Equal(expected.GetProperty("no_mask").GetDouble(), stored.NoMask);
            Assert.Equal(expected.GetProperty("incorrect").GetDouble(), stored.Incorrect);
        }

        // Episodes per label, each kind apart, as the documents say.
        var expectedCounts = run.Events
            .Where(e => EventTypes.IsStart(e.GetProperty("type").GetString()!))
            .GroupBy(e => e.GetProperty("mask").GetProperty("label").GetString()!)
            .OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => new LabelCount(g.Key, g.Count(e => e.GetProperty("type").GetString() == EventTypes.ViolationStart),
                g.Count(e => e.GetProperty("type").GetString() == EventTypes.IncorrectStart)));
        Assert.Equal(expectedCounts, await Store.QueryLabelCountsAsync("station", "platform", first, last.AddSeconds(1), default));
    }

    [Fact]
    public async Task IngestBatchAsync_RecordedVersion1Run_StoredUnsplitWithoutProbabilities()
    {
        var run = await IngestRecordedAsync(RecordedRun.Version1);
        Assert.Equal((RecordedRun.V1ViolationStarts, 0), (run.CountEvents(EventTypes.ViolationStart), run.CountEvents(EventTypes.IncorrectStart)));
        Assert.Equal((RecordedRun.V1Events, RecordedRun.V1Stats), (run.Events.Count(), run.Stats.Count()));

        var (first, last) = run.TimeRange();
        var totals = Assert.Single(await Store.QueryCameraTotalsAsync(null, null, first, last.AddSeconds(1), default));
        Assert.Equal((RecordedRun.V1ViolationStarts, 0), ((int)totals.Violations, (int)totals.IncorrectEpisodes));
        // A version 1 device reports no split: all its faces are "unsplit", none is guessed into a label.
        Assert.Equal(new FaceSplit(0, 0, 0, run.SumStats("facesSeen")), totals.Faces);
        Assert.Equal(1.0 - (double)run.SumStats("facesUnmasked") / run.SumStats("facesSeen"), totals.ComplianceRate);
        var page = await Store.QueryEventsAsync(new EventQuery(Limit: 500), default);
        Assert.Equal(RecordedRun.V1Events, page.Total);
        Assert.All(page.Items, e => Assert.Null(e.Probabilities));
        Assert.All(page.Items, e => Assert.Equal("no_mask", e.Label));
    }

    [Fact]
    public async Task IngestBatchAsync_RecordedRunsFromIoTHubsEndpoint_KindOfBothVersionsTakenFromTheSchema()
    {
        // As IoT Hub delivers the module's telemetry when no edgemask-kind property says what it is: the kind comes from
        // the JSON schema, which differs between the versions.
        var messages = new List<IngestMessage>();
        long sequence = 0;
        foreach (var file in new[] { RecordedRun.Version2, RecordedRun.Version1 })
        {
            foreach (var (topic, payload) in RecordedRun.Load(file).Messages.Where(m => !m.Topic.EndsWith("/status", StringComparison.Ordinal)))
            {
                var data = Azure.Messaging.EventHubs.EventHubsModelFactory.EventData(new BinaryData(payload),
                    new Dictionary<string, object> { [EventHubsMessageMapper.CameraProperty] = "platform" },
                    new Dictionary<string, object> { [EventHubsMessageMapper.DeviceIdSystemProperty] = "station" },
                    null, ++sequence, sequence.ToString(System.Globalization.CultureInfo.InvariantCulture), T0);
                var message = EventHubsMessageMapper.Map(data, "0");
                Assert.Equal(topic.EndsWith("/stats", StringComparison.Ordinal) ? IngestKind.Stats : IngestKind.Event, message.Kind);
                messages.Add(message);
            }
        }
        Assert.All(await Pipeline().IngestBatchAsync(messages, default), o => Assert.Equal(IngestOutcome.Stored, o));
        var counts = await Store.CountAsync(default);
        Assert.Equal((RecordedRun.V2Events + RecordedRun.V1Events, RecordedRun.V2Stats + RecordedRun.V1Stats), ((int)counts.Events, (int)counts.Stats));
    }

    private async Task<RecordedRun> IngestRecordedAsync(string file)
    {
        var run = RecordedRun.Load(file);
        var outcomes = await Pipeline().IngestBatchAsync(run.ToIngestMessages(), default);
        Assert.All(outcomes, o => Assert.Equal(IngestOutcome.Stored, o));
        return run;
    }

    [Fact]
    public async Task QueryComplianceAsync_Version1AndVersion2StatsInOneBucket_SplitsVersion2RateOverClassifiedFaces()
    {
        var pipeline = Pipeline();
        var v1 = Stats("dev1", "cam1", T0, seen: 10, unmasked: 4) with { Schema = CameraStats.SchemaNameV1 };
        // 25 faces seen, 20 of them classified (the rest too small to judge).
        var v2 = Stats("dev1", "cam1", T0.AddSeconds(10), seen: 25, unmasked: 5, byLabel: new LabelCounts(15, 3, 2));
        Assert.Equal([IngestOutcome.Stored, IngestOutcome.Stored], await pipeline.IngestBatchAsync([StatsMessage(v1), StatsMessage(v2)], default));
        await pipeline.IngestAsync(EventMessage(Event("v", EventTypes.ViolationStart, 0, "dev1", "cam1", T0.AddSeconds(5))), default);
        await pipeline.IngestAsync(EventMessage(AsVersion1(Event("v1", EventTypes.ViolationStart, 0, "dev1", "cam1", T0.AddSeconds(6)))), default);
        await pipeline.IngestAsync(EventMessage(IncorrectEvent("i", EventTypes.IncorrectStart, 0, "dev1", "cam1", T0.AddSeconds(7))), default);
        // Updates and ends are not episodes.
        await pipeline.IngestAsync(EventMessage(IncorrectEvent("i", EventTypes.IncorrectEnd, 1, "dev1", "cam1", T0.AddSeconds(9), T0.AddSeconds(7))), default);

        var bucket = Assert.Single(await Store.QueryComplianceAsync(new ComplianceQuery(null, "cam1", T0, T0.AddMinutes(1), BucketSize.Minute), default));
        Assert.Equal((35L, 9L, 2L, 1L), (bucket.FacesSeen, bucket.FacesUnmasked, bucket.Violations, bucket.IncorrectEpisodes));
        Assert.Equal(new FaceSplit(Mask: 15, NoMask: 3, Incorrect: 2, Unsplit: 10), bucket.Faces);
        // Over the classified faces (20 labelled + 10 of version 1): 1 − 9 / 30, as the devices count it.
        Assert.Equal(0.7, bucket.ComplianceRate!.Value, 12);
    }

    [Fact]
    public async Task QueryEventsAsync_LabelAndIncorrectTypeFilters_ReturnExactlyTheMatchingEvents()
    {
        var pipeline = Pipeline();
        MaskEvent[] events =
        [
            Event("n1", EventTypes.ViolationStart, 0, "dev1", "cam1", T0),
            IncorrectEvent("i1", EventTypes.IncorrectStart, 0, "dev1", "cam1", T0.AddSeconds(1)),
            IncorrectEvent("i1", EventTypes.IncorrectUpdate, 1, "dev1", "cam1", T0.AddSeconds(6), T0.AddSeconds(1)),
            IncorrectEvent("i1", EventTypes.IncorrectEnd, 2, "dev1", "cam1", T0.AddSeconds(9), T0.AddSeconds(1)),
            // With incorrectCounts: violation a badly worn mask is a violation whose label says incorrect.
            IncorrectEvent("v2", EventTypes.ViolationStart, 0, "dev1", "cam1", T0.AddSeconds(2)),
            AsVersion1(Event("old", EventTypes.ViolationStart, 0, "dev1", "cam1", T0.AddSeconds(3))),
        ];
        await pipeline.IngestBatchAsync([.. events.Select(EventMessage)], default);

        var incorrectLabel = await Store.QueryEventsAsync(new EventQuery(Label: "incorrect"), default);
        Assert.Equal(["i1:incorrect.end:2", "i1:incorrect.update:1", "v2:violation.start:0", "i1:incorrect.start:0"], incorrectLabel.Items.Select(e => e.Key));
        var incorrectStarts = await Store.QueryEventsAsync(new EventQuery(Type: EventTypes.IncorrectStart), default);
        Assert.Equal("i1:incorrect.start:0", Assert.Single(incorrectStarts.Items).Key);
        Assert.True(incorrectStarts.Items[0].IsIncorrectMask);
        var noMask = await Store.QueryEventsAsync(new EventQuery(Label: "no_mask"), default);
        Assert.Equal(["old", "n1"], noMask.Items.Select(e => e.Id));
        Assert.Equal(["incorrect", "no_mask"], await Store.GetLabelsAsync(default));
    }

    [Fact]
    public async Task IngestAsync_LabelOutsideTheContract_StoredCountedAndLoggedOnce()
    {
        var pipeline = Pipeline();
        // A newer classifier's label: refusing it would lose the violation.
        var first = Event("fs-1", EventTypes.ViolationStart, 0, "dev1", "cam1", T0) with { Mask = new EventMask("face_shield", 0.9f, 8, 6) };
        var second = Event("fs-2", EventTypes.ViolationStart, 0, "dev1", "cam1", T0.AddSeconds(30)) with { Mask = new EventMask("face_shield", 0.8f, 8, 7) };
        Assert.Equal(IngestOutcome.Stored, await pipeline.IngestAsync(EventMessage(first), default));
        Assert.Equal(IngestOutcome.Stored, await pipeline.IngestAsync(EventMessage(second), default));
        Assert.Equal(IngestOutcome.Stored, await pipeline.IngestAsync(EventMessage(Event("n", EventTypes.ViolationStart, 0, "dev1", "cam1", T0)), default));

        Assert.Equal(2, (await Store.QueryEventsAsync(new EventQuery(Label: "face_shield"), default)).Total);
        Assert.Contains(new LabelCount("face_shield", 2, 0), await Store.QueryLabelCountsAsync(null, null, T0, T0.AddHours(1), default));
        var warning = Assert.Single(_log.Entries, e => e.Level == LogLevel.Warning);
        Assert.Contains("face_shield", warning.Message, StringComparison.Ordinal);
        Assert.Contains("dev1/cam1", warning.Message, StringComparison.Ordinal);
    }

    public static TheoryData<string, string> InconsistentVersion2Documents => new()
    {
        { "probabilities", "mask.probabilities has a value that is not in 0..1" },
        { "split-sum", "facesByLabel adds up to more than facesSeen" },
        { "split-negative", "facesByLabel has a negative count" },
    };

    [Theory]
    [MemberData(nameof(InconsistentVersion2Documents))]
    public async Task IngestAsync_InconsistentVersion2Facts_SkippedAsMalformedNamingTheField(string kind, string problem)
    {
        var message = kind switch
        {
            "probabilities" => EventMessage(IncorrectEvent("bad", EventTypes.IncorrectStart, 0, "dev1", "cam1", T0) is var e
                ? e with { Mask = e.Mask with { Probabilities = new EventProbabilities(0.2f, 1.5f, 0.1f) } } : null!),
            "split-sum" => StatsMessage(Stats("dev1", "cam1", T0, seen: 10, unmasked: 2, byLabel: new LabelCounts(8, 2, 1))),
            _ => StatsMessage(Stats("dev1", "cam1", T0, seen: 10, unmasked: 2, byLabel: new LabelCounts(11, 2, -3))),
        };
        Assert.Equal(IngestOutcome.Malformed, await Pipeline().IngestAsync(message, default));
        Assert.Contains(problem, Assert.Single(_log.Entries).Message, StringComparison.Ordinal);
        Assert.Equal(new StoreCounts(0, 0, 0, 0), await Store.CountAsync(default));
    }
}
