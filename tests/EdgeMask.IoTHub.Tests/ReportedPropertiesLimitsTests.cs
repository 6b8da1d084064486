using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using EdgeMask.IoTHub.Mqtt;
using EdgeMask.IoTHub.Tests.Infrastructure;
using EdgeMask.IoTHub.Twin;

namespace EdgeMask.IoTHub.Tests;

/// <summary>
/// edgeHub validates every reported-properties PATCH and answers one that breaks a rule with 400, storing none of it
/// (Azure/iotedge ReportedPropertiesValidator). The double refuses what edgeHub refuses (<see cref="EdgeHubReportedProperties"/>),
/// and the module's patches — whatever its status sections hold — are bent to pass it (<see cref="ReportedPropertiesConformer"/>).
/// </summary>
public sealed class ReportedPropertiesLimitsTests : IAsyncLifetime
{
    private const string Hub = "contoso-hub.azure-devices.net";
    private const string Device = "Jetson-01";
    private const string Module = "edgemask";

    private static readonly byte[] ModuleKey = RandomNumberGenerator.GetBytes(32);
    private FakeIoTHub _hub = null!;

    public async Task InitializeAsync() =>
        _hub = await FakeIoTHub.StartAsync(Hub, Device, Module, ModuleKey, TestCertificates.Shared.ServerCertificate, new JsonObject());

    public async Task DisposeAsync() => await _hub.DisposeAsync();

    private IoTHubMqttClient NewClient() => IoTHubMqttClient.FromConnectionString(
        $"HostName={Hub};DeviceId={Device};ModuleId={Module};SharedAccessKey={Convert.ToBase64String(ModuleKey)};GatewayHostName=localhost",
        TestCertificates.Shared.TrustBundle, new IoTHubClientOptions { Port = _hub.Port });

    private static JsonObject Nested(int levels)
    {
        var root = new JsonObject();
        var at = root;
        for (var i = 1; i <= levels; i++)
        {
            var child = new JsonObject();
            at[$"level{i}"] = child;
            at = child;
        }

        at["leaf"] = 1;
        return root;
    }

    /// <summary>One patch per rule of edgeHub's validator, each just past its limit, and the reason edgeHub gives.</summary>
    private static readonly Dictionary<string, (Func<string> Json, string Reason)> Refused = new()
    {
        ["name with a dot"] = (() => """{"door.1":1}""", "invalid character '.'"),
        ["name with a dollar"] = (() => """{"$x":1}""", "invalid character '$'"),
        ["name with a hash"] = (() => """{"a#b":1}""", "invalid character '#'"),
        ["name with a tab"] = (() => "{\"a\\tb\":1}", "invalid character"),
        ["name with a no-break space"] = (() => "{\"a\u00a0b\":1}", "invalid character"),
        ["name over 1 KB"] = (() => $$"""{"{{new string('n', 1025)}}":1}""", "exceeds maximum length of 1024"),
        ["string of 4097 bytes"] = (() => $$"""{"error":"{{new string('e', 4097)}}"}""", "exceeds maximum length of 4096"),
        ["integer past 2^52"] = (() => """{"frames":4503599627370496}""", "out of bound value"),
        ["integer past Int64"] = (() => """{"frames":123456789012345678901234}""", "out of bound value"),
        ["eleven nested objects"] = (() => Nested(11).ToJsonString(), "Nested depth of twin property exceeds 10"),
        ["null in an array"] = (() => """{"sizes":["960x540",null]}""", "Arrays cannot contain 'null'"),
        ["null member of an object in an array"] = (() => """{"engines":[{"model":"a.onnx","cache":null}]}""", "null inside an array"),
        ["patch over 32 KB"] = (() => "{" + string.Join(",", Enumerable.Range(0, 10).Select(i => $"\"s{i}\":\"{new string('x', 4000)}\"")) + "}", "exceeds maximum 32768"),
    };

    public static TheoryData<string> RefusedCases => new(Refused.Keys);

    [Theory]
    [MemberData(nameof(RefusedCases))]
    public async Task Double_PatchEdgeHubRefuses_Answered400AndRecorded(string what)
    {
        var (json, reason) = Refused[what];
        await using var client = NewClient();
        await client.StartAsync();
        await client.WaitUntilConnectedAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));
        var before = _hub.ReportedSnapshot.ToJsonString();

        var e = await Assert.ThrowsAsync<TwinOperationException>(() =>
            client.UpdateReportedPropertiesAsync(JsonNode.Parse(json())!.AsObject(), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30)));

        Assert.Equal(400, e.Status);
        Assert.False(e.IsTransient, what); // a refused patch is refused again: retrying it cannot help
        Assert.Contains(_hub.Violations, v => v.Contains(reason, StringComparison.Ordinal));
        Assert.Equal(before, _hub.ReportedSnapshot.ToJsonString()); // nothing of it stored
    }

    [Fact]
    public async Task Double_PatchAtEveryLimit_Stored()
    {
        await using var client = NewClient();
        await client.StartAsync();
        await client.WaitUntilConnectedAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));
        var patch = Nested(10);
        patch["error"] = new string('é', 2048); // 4096 bytes
        patch[new string('n', 1024)] = true;
        patch["frames"] = 4503599627370495;
        patch["negative"] = -4503599627370496;
        patch["sizes"] = new JsonArray("960x540", new JsonObject { ["camera"] = "door", ["size"] = "1280x720" });
        patch["deleted"] = null;
        patch["ratio"] = 0.25;

        await client.UpdateReportedPropertiesAsync(patch, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Empty(_hub.Violations);
        Assert.Equal(new string('é', 2048), _hub.ReportedSnapshot["error"]!.GetValue<string>());
    }

    /// <summary>Status sections as they happen on a device: a camera's error of many KB, odd names, a null in a list …</summary>
    private static Dictionary<string, JsonNode?> AwkwardSections() => new()
    {
        ["runtime"] = new JsonObject
        {
            ["error"] = "ONNX Runtime: " + string.Concat(Enumerable.Repeat("TensorRT EP failed to build the engine. ", 300)),
            ["engines"] = new JsonArray(new JsonObject { ["model"] = "retinaface_mnet025_masked.onnx", ["cache"] = null }, null),
            ["frames"] = 9007199254740993L,
        },
        ["cameras"] = new JsonObject
        {
            ["door 1"] = new JsonObject { ["lastError"] = new string('ü', 3000) + "😷" + new string('x', 100) },
            ["door#1"] = new JsonObject { ["health"] = "ok" },
            ["door_1"] = new JsonObject { ["health"] = "reconnecting" },
        },
        ["deep"] = Nested(12),
    };

    [Fact]
    public void BuildReported_AwkwardStatusSections_PatchEdgeHubStores()
    {
        var applier = new TwinConfigurationApplier<string>("initial", _ => TwinValidationResult<string>.Valid("x"));

        var patch = applier.BuildReported(AwkwardSections());

        Assert.Null(EdgeHubReportedProperties.Refusal(patch));
        var runtime = patch["runtime"]!.AsObject();
        var error = runtime["error"]!.GetValue<string>();
        Assert.True(Encoding.UTF8.GetByteCount(error) <= 4096);
        Assert.StartsWith("ONNX Runtime: TensorRT EP failed", error, StringComparison.Ordinal);
        Assert.EndsWith("…", error, StringComparison.Ordinal);
        var engines = runtime["engines"]!.AsArray();
        Assert.Single(engines);
        Assert.False(engines[0]!.AsObject().ContainsKey("cache")); // a null inside an array deletes nothing: left out
        Assert.Equal(JsonValueKind.String, runtime["frames"]!.GetValueKind());
        Assert.Equal("9007199254740993", runtime["frames"]!.GetValue<string>()); // exact, as text

        // Every camera keeps its own entry: names made safe, and those that then collide told apart.
        var cameras = patch["cameras"]!.AsObject();
        Assert.Equal(["door_1_2", "door_1_3", "door_1"], cameras.Select(c => c.Key)); // in their order; the safe name kept
        Assert.Equal("reconnecting", cameras["door_1"]!["health"]!.GetValue<string>());
        Assert.Equal("ok", cameras["door_1_3"]!["health"]!.GetValue<string>());
        var lastError = cameras["door_1_2"]!["lastError"]!.GetValue<string>();
        Assert.True(Encoding.UTF8.GetByteCount(lastError) <= 4096);
        Assert.DoesNotContain('\uFFFD', Encoding.UTF8.GetString(Encoding.UTF8.GetBytes(lastError))); // no half character at the cut

        var deep = patch["deep"]!;
        for (var i = 1; i < 10; i++) deep = deep[$"level{i}"]!;
        Assert.Equal(JsonValueKind.String, deep["level10"]!.GetValueKind());
        Assert.Contains("nested deeper than the twin limit of 10", deep["level10"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public void BuildReported_SectionsOver32KB_LargestOmittedConfigurationKept()
    {
        var applier = new TwinConfigurationApplier<string>("initial", _ => TwinValidationResult<string>.Valid("x"));
        var sections = new Dictionary<string, JsonNode?>
        {
            ["cameras"] = new JsonObject(Enumerable.Range(0, 40).Select(i => KeyValuePair.Create<string, JsonNode?>($"cam{i}",
                new JsonObject { ["health"] = "reconnecting", ["lastError"] = $"cam{i}: " + new string('e', 900) }))),
            ["executionProvider"] = "cpu",
        };

        var patch = applier.BuildReported(sections);

        Assert.Null(EdgeHubReportedProperties.Refusal(patch));
        Assert.Contains("limited to 32 KB", patch["cameras"]!["omitted"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal("cpu", patch["executionProvider"]!.GetValue<string>());
        Assert.Equal("default", patch["configuration"]!["status"]!.GetValue<string>());
    }

    [Fact]
    public void BuildReported_DesiredDocumentWithSevenHundredBadKeys_ErrorsListedWithinBudgetAllCounted()
    {
        // What a mistyped template pasted into the portal can give: every key refused, each with its own message.
        var desired = new JsonObject();
        for (var i = 0; i < 700; i++) desired[$"camera{i:000}Settings"] = new JsonObject { ["sourceUrl"] = $"rtsp://10.0.0.{i % 250}/stream" };
        var applier = new TwinConfigurationApplier<string>("initial", doc => !doc.EnumerateObject().Any()
            ? TwinValidationResult<string>.Valid("fixed")
            : TwinValidationResult<string>.Invalid(doc.EnumerateObject().ToDictionary(p => p.Name + "/sourceUrl",
                p => $"unknown key '{p.Name}/sourceUrl': cameras are configured under 'cameras', e.g. cameras/door/source.")));
        using var json = JsonDocument.Parse(desired.ToJsonString());
        var result = applier.Apply(json.RootElement, version: 7);
        Assert.False(result.Applied);
        int count = result.Errors.Count; // the 700 keys (and the document itself, over the 32 KB a desired document may be)
        Assert.True(count >= 700);

        var patch = applier.BuildReported(new Dictionary<string, JsonNode?> { ["executionProvider"] = "cpu" });

        Assert.Null(EdgeHubReportedProperties.Refusal(patch));
        var configuration = patch["configuration"]!.AsObject();
        Assert.Equal(count, configuration["errorCount"]!.GetValue<int>());
        int listed = configuration["errors"]!.AsObject().Count;
        Assert.InRange(listed, 100, count - 1);
        Assert.Equal(count - listed, configuration["errorsNotShown"]!.GetValue<int>());
        Assert.True(ReportedPropertiesConformer.DocumentBytes(configuration["errors"]!) <= TwinConfigurationApplier<string>.ReportedErrorBudgetBytes + 64);
        Assert.Equal("cpu", patch["executionProvider"]!.GetValue<string>()); // the rest of the report still fits

        // Fixed: the list and the count of those left out are deleted from the twin (null members).
        using var good = JsonDocument.Parse("{}");
        Assert.True(applier.Apply(good.RootElement, version: 8).Applied);
        var next = applier.BuildReported(); // the same applier: it remembers what it reported before
        Assert.True(next["configuration"]!.AsObject().ContainsKey("errorsNotShown"));
        Assert.Null(next["configuration"]!["errorsNotShown"]);
        Assert.Null(next["configuration"]!["errors"]);
    }

    [Fact]
    public async Task ReportedThroughClient_AwkwardSections_StoredByTheHub()
    {
        await using var client = NewClient();
        await client.StartAsync();
        await client.WaitUntilConnectedAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));
        var applier = new TwinConfigurationApplier<string>("initial", _ => TwinValidationResult<string>.Valid("x"));

        await client.UpdateReportedPropertiesAsync(applier.BuildReported(AwkwardSections()), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Empty(_hub.Violations);
        var reported = _hub.ReportedSnapshot;
        Assert.Equal("reconnecting", reported["cameras"]!["door_1"]!["health"]!.GetValue<string>());
        Assert.EndsWith("…", reported["runtime"]!["error"]!.GetValue<string>(), StringComparison.Ordinal);
    }
}
