using System.Text.Json;
using System.Text.Json.Nodes;
using EdgeMask.Core.Events;
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
    [InlineData("stats")]
    [InlineData("status")]
    public void Schema_EveryDeclaredTopLevelProperty_IsWrittenByAFullyPopulatedRecord(string kind)
    {
        var (file, json) = kind switch
        {
            "event" => (ContractSchemas.EventSchemaFile, EventJsonContext.Serialize(TestData.Event("cam1", 1, EventTypes.ViolationEnd))),
            "stats" => (ContractSchemas.StatsSchemaFile, EventJsonContext.Serialize(TestData.Stats("cam1"))),
            _ => (ContractSchemas.StatusSchemaFile, EventJsonContext.Serialize(TestData.Status("online"))),
        };
        var declared = JsonNode.Parse(ContractSchemas.GetSchemaText(file))!["properties"]!.AsObject().Select(p => p.Key).Order().ToArray();
        var written = JsonNode.Parse(json)!.AsObject().Select(p => p.Key).Order().ToArray();
        Assert.Equal(declared, written);
    }

    [Fact]
    public void Schemas_RepositoryFiles_AreTheEmbeddedOnes()
    {
        foreach (var file in new[] { ContractSchemas.EventSchemaFile, ContractSchemas.StatsSchemaFile, ContractSchemas.StatusSchemaFile })
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
        { "four landmarks", o => o["face"]!["landmarks"]!.AsArray().RemoveAt(0) },
        { "box of three", o => o["face"]!["box"]!.AsArray().RemoveAt(0) },
        { "snapshot available without id", o => o["snapshot"]!.AsObject().Remove("id") },
        { "start with sequence 2", o => o["sequence"] = 2 },
        { "start with endedAt", o => o["endedAt"] = "2026-11-28T12:00:05+00:00" },
        { "end without endedAt", o => { o["type"] = "violation.end"; o["sequence"] = 3; } },
        { "wrong schema version", o => o["schema"] = "edgemask.event/2" },
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
