using System.Text.Json;
using System.Text.Json.Nodes;
using EdgeMask.Core.Events;
using EdgeMask.Core.Policy;
using EdgeMask.Messaging.Schemas;
using EdgeMask.Messaging.Tests.Support;
using Xunit.Abstractions;

namespace EdgeMask.Messaging.Tests;

/// <summary>The published JSON Schemas match exactly what EventJsonContext serializes.</summary>
public sealed class SchemaTests(ITestOutputHelper output)
{
    private void AssertValid(SchemaValidationResult r, byte[] json)
    {
        if (!r.IsValid) output.WriteLine(System.Text.Encoding.UTF8.GetString(json));
        Assert.True(r.IsValid, r.ToString());
    }

    [Theory]
    [InlineData(EventTypes.ViolationStart)]
    [InlineData(EventTypes.ViolationUpdate)]
    [InlineData(EventTypes.ViolationEnd)]
    [InlineData(EventTypes.IncorrectStart)]
    [InlineData(EventTypes.IncorrectUpdate)]
    [InlineData(EventTypes.IncorrectEnd)]
    public void ValidateEvent_SerializedMaskEvent_IsValid(string type)
    {
        var json = EventJsonContext.Serialize(TestData.Event("cam1", 3, type));
        AssertValid(ContractSchemas.ValidateEvent(json), json);
        AssertValid(ContractSchemas.ValidateAny(json), json);
    }

    [Fact]
    public void ValidateEvent_NoSnapshotAndNullsOmitted_IsValid()
    {
        var e = TestData.Event("cam-2.b_x", 1) with { Snapshot = EventSnapshot.None };
        var json = EventJsonContext.Serialize(e);
        Assert.DoesNotContain("\"endedAt\"", System.Text.Encoding.UTF8.GetString(json), StringComparison.Ordinal);
        AssertValid(ContractSchemas.ValidateEvent(json), json);
    }

    /// <summary>
    /// A consumer written for version 1 — its schema and a reader that knows only mask / no_mask — gets a badly worn mask's
    /// violation, from a device told to publish version 1, as what it is to that consumer: a no_mask violation.
    /// </summary>
    [Theory]
    [InlineData(EventTypes.ViolationStart, IncorrectMaskCounting.Violation)]
    [InlineData(EventTypes.ViolationUpdate, IncorrectMaskCounting.Violation)]
    [InlineData(EventTypes.ViolationEnd, IncorrectMaskCounting.Violation)]
    [InlineData(EventTypes.IncorrectStart, IncorrectMaskCounting.Separate)]
    [InlineData(EventTypes.IncorrectUpdate, IncorrectMaskCounting.Separate)]
    [InlineData(EventTypes.IncorrectEnd, IncorrectMaskCounting.Separate)]
    public void ValidateEventV1_BadlyWornMaskViolationPublishedAsVersion1_ValidAndANoMaskViolation(string type, IncorrectMaskCounting counting)
    {
        var v2 = TestData.Event("cam1", 4, type) with
        {
            Mask = new EventMask("incorrect", 0.81f, 8, 6) { Probabilities = new EventProbabilities(0.07f, 0.12f, 0.81f) },
        };
        AssertValid(ContractSchemas.ValidateEvent(EventJsonContext.Serialize(v2)), EventJsonContext.Serialize(v2));
        // What a version 1 consumer does with the current document: its schema refuses it (a new version, not a silent change).
        Assert.False(ContractSchemas.ValidateEventV1(EventJsonContext.Serialize(v2)).IsValid);

        var json = EventJsonContext.Serialize(v2.ForVersion(1, counting));

        AssertValid(ContractSchemas.ValidateEventV1(json), json);
        AssertValid(ContractSchemas.ValidateAny(json), json);
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        Assert.Equal("edgemask.event/1", root.GetProperty("schema").GetString());
        Assert.StartsWith("violation.", root.GetProperty("type").GetString());
        Assert.Equal("no_mask", root.GetProperty("mask").GetProperty("label").GetString());
        Assert.Equal(0.93, root.GetProperty("mask").GetProperty("probability").GetDouble(), 5);
    }

    [Fact]
    public void ValidateStatsV1_StatsPublishedAsVersion1_Valid()
    {
        var json = EventJsonContext.Serialize(TestData.Stats("cam1").ForVersion(1));
        AssertValid(ContractSchemas.ValidateStatsV1(json), json);
        AssertValid(ContractSchemas.ValidateAny(json), json);
        Assert.False(ContractSchemas.ValidateStatsV1(EventJsonContext.Serialize(TestData.Stats("cam1"))).IsValid);
    }

    [Fact]
    public void ValidateEvent_TwoClassClassifierWithoutIncorrectProbability_IsValid()
    {
        var e = TestData.Event("cam1", 1) with { Mask = new EventMask("no_mask", 0.9f, 8, 5) { Probabilities = new EventProbabilities(0.1f, 0.9f, null) } };
        var json = EventJsonContext.Serialize(e);
        AssertValid(ContractSchemas.ValidateEvent(json), json);
    }

    [Fact]
    public void ValidateStats_SerializedCameraStats_FullAndMinimal_AreValid()
    {
        var full = EventJsonContext.Serialize(TestData.Stats("cam1"));
        AssertValid(ContractSchemas.ValidateStats(full), full);
        var minimal = EventJsonContext.Serialize(TestData.Stats("cam1") with { ComplianceRate = null, CameraHealth = null, ExecutionProvider = null, OutboxDepth = null });
        AssertValid(ContractSchemas.ValidateStats(minimal), minimal);
    }

    [Fact]
    public void ValidateStatus_SerializedDeviceStatus_FullAndMinimal_AreValid()
    {
        var full = EventJsonContext.Serialize(TestData.Status("online"));
        AssertValid(ContractSchemas.ValidateStatus(full), full);
        var minimal = EventJsonContext.Serialize(new DeviceStatus { Device = "dev1", State = "offline", At = DateTimeOffset.UtcNow });
        AssertValid(ContractSchemas.ValidateStatus(minimal), minimal);
    }

    /// <summary>Every property a schema declares is one the record really writes (a renamed or removed member fails here;
    /// an added member fails the validity tests through additionalProperties: false).</summary>
    [Theory]
    [InlineData("event")]
    [InlineData("event/1")]
    [InlineData("stats")]
    [InlineData("stats/1")]
    [InlineData("status")]
    public void Schema_EveryDeclaredTopLevelProperty_IsWrittenByAFullyPopulatedRecord(string kind)
    {
        var (file, json) = kind switch
        {
            "event" => (ContractSchemas.EventSchemaFile, EventJsonContext.Serialize(TestData.Event("cam1", 1, EventTypes.ViolationEnd))),
            "event/1" => (ContractSchemas.EventSchemaV1File, EventJsonContext.Serialize(TestData.Event("cam1", 1, EventTypes.ViolationEnd).ToVersion1(IncorrectMaskCounting.Violation))),
            "stats" => (ContractSchemas.StatsSchemaFile, EventJsonContext.Serialize(TestData.Stats("cam1"))),
            "stats/1" => (ContractSchemas.StatsSchemaV1File, EventJsonContext.Serialize(TestData.Stats("cam1").ToVersion1())),
            _ => (ContractSchemas.StatusSchemaFile, EventJsonContext.Serialize(TestData.Status("online"))),
        };
        var declared = JsonNode.Parse(ContractSchemas.GetSchemaText(file))!["properties"]!.AsObject().Select(p => p.Key).Order().ToArray();
        var written = JsonNode.Parse(json)!.AsObject().Select(p => p.Key).Order().ToArray();
        Assert.Equal(declared, written);
    }

    [Fact]
    public void Schemas_RepositoryFiles_AreTheEmbeddedOnes()
    {
        foreach (var file in ContractSchemas.AllFiles)
        {
            var onDisk = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "schemas", file));
            Assert.Equal(onDisk, ContractSchemas.GetSchemaText(file));
            Assert.Equal("https://json-schema.org/draft/2020-12/schema", JsonNode.Parse(onDisk)!["$schema"]!.GetValue<string>());
        }
    }

    public static TheoryData<string, Action<JsonObject>> BrokenEvents => new()
    {
        { "missing id", o => o.Remove("id") },
        { "unknown member", o => o["colour"] = "red" },
        { "sequence as string", o => o["sequence"] = "0" },
        { "unknown type", o => o["type"] = "violation.maybe" },
        { "bad date-time", o => o["at"] = "yesterday" },
        { "camera with slash", o => o["camera"] = "cam/1" },
        { "probability above 1", o => o["mask"]!["probability"] = 1.5 },
        { "unknown label", o => o["mask"]!["label"] = "half_mask" },
        { "probabilities missing", o => o["mask"]!.AsObject().Remove("probabilities") },
        { "probability of an unknown class", o => o["mask"]!["probabilities"]!["chin"] = 0.1 },
        { "probabilities without no_mask", o => o["mask"]!["probabilities"]!.AsObject().Remove("no_mask") },
        { "incorrect start with sequence 1", o => { o["type"] = "incorrect.start"; o["sequence"] = 1; } },
        { "incorrect end without endedAt", o => { o["type"] = "incorrect.end"; o["sequence"] = 3; } },
        { "four landmarks", o => o["face"]!["landmarks"]!.AsArray().RemoveAt(0) },
        { "box of three", o => o["face"]!["box"]!.AsArray().RemoveAt(0) },
        { "snapshot available without id", o => o["snapshot"]!.AsObject().Remove("id") },
        { "start with sequence 2", o => o["sequence"] = 2 },
        { "start with endedAt", o => o["endedAt"] = "2026-11-28T12:00:05+00:00" },
        { "end without endedAt", o => { o["type"] = "violation.end"; o["sequence"] = 3; } },
        { "wrong schema version", o => o["schema"] = "edgemask.event/1" },
    };

    [Theory]
    [MemberData(nameof(BrokenEvents))]
    public void ValidateEvent_BrokenDocument_FailsWithLocation(string what, Action<JsonObject> breakIt)
    {
        var o = JsonNode.Parse(EventJsonContext.Serialize(TestData.Event("cam1", 1)))!.AsObject();
        breakIt(o);
        var r = ContractSchemas.ValidateEvent(JsonSerializer.SerializeToUtf8Bytes(o));
        output.WriteLine($"{what}: {r}");
        Assert.False(r.IsValid, what);
        Assert.NotEmpty(r.Errors);
    }

    [Theory]
    [InlineData("stats", "complianceRate", "1.2")]
    [InlineData("stats", "droppedFrames", "-1")]
    [InlineData("stats", "cameraHealth", "\"sleepy\"")]
    [InlineData("stats", "facesByLabel", "{\"mask\":1,\"no_mask\":2,\"incorrect\":-2}")]
    [InlineData("stats", "facesByLabel", "{\"mask\":1,\"no_mask\":2}")]
    [InlineData("status", "state", "\"away\"")]
    [InlineData("status", "at", "\"noon\"")]
    public void Validate_BrokenStatsOrStatus_Fails(string kind, string member, string valueJson)
    {
        var o = JsonNode.Parse(kind == "stats" ? EventJsonContext.Serialize(TestData.Stats("cam1")) : EventJsonContext.Serialize(TestData.Status("online")))!.AsObject();
        o[member] = JsonNode.Parse(valueJson);
        var bytes = JsonSerializer.SerializeToUtf8Bytes(o);
        Assert.False((kind == "stats" ? ContractSchemas.ValidateStats(bytes) : ContractSchemas.ValidateStatus(bytes)).IsValid);
        Assert.False(ContractSchemas.ValidateAny(bytes).IsValid);
    }

    [Fact]
    public void ValidateAny_NotJsonOrUnknownSchema_Fails()
    {
        Assert.False(ContractSchemas.ValidateAny("{not json"u8).IsValid);
        Assert.False(ContractSchemas.ValidateAny("{\"schema\":\"other/1\"}"u8).IsValid);
    }
}
