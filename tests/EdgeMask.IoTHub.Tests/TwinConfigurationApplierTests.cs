using System.Text.Json;
using System.Text.Json.Nodes;
using EdgeMask.IoTHub.Tests.Infrastructure;
using EdgeMask.IoTHub.Twin;
using Microsoft.Extensions.Time.Testing;

namespace EdgeMask.IoTHub.Tests;

public class TwinConfigurationApplierTests
{
    private static TwinConfigurationApplier<SampleOptions> NewApplier() =>
        new(SampleOptions.Default, SampleOptions.Validate, new FakeTimeProvider(new DateTimeOffset(2026, 11, 28, 12, 0, 0, TimeSpan.Zero)));

    private static JsonElement Json(string text)
    {
        using var doc = JsonDocument.Parse(text);
        return doc.RootElement.Clone();
    }

    [Fact]
    public void Apply_ValidDocument_SwapsSnapshotAndReportsApplied()
    {
        var applier = NewApplier();
        SampleOptions? raised = null;
        applier.Applied += o => raised = o;

        var result = applier.Apply(Json("""{"detection":{"minFaceScore":0.8},"cameras":{"door":{"url":"rtsp://10.0.0.5/stream"}},"$version":4}"""), 4);

        Assert.True(result.Applied);
        Assert.Equal(0.8, applier.Current.MinFaceScore);
        Assert.Equal("rtsp://10.0.0.5/stream", applier.Current.CameraUrls["door"]);
        Assert.Same(applier.Current, raised);
        var reported = applier.BuildReported()["configuration"]!;
        Assert.Equal("applied", reported["status"]!.GetValue<string>());
        Assert.Equal(4, reported["appliedVersion"]!.GetValue<long>());
        Assert.Null(reported["errors"]);
    }

    [Theory]
    [InlineData("""{"detection":{"minFaceScore":"high"}}""", "detection/minFaceScore")]
    [InlineData("""{"detection":{"cooldownSeconds":1.5}}""", "detection/cooldownSeconds")]
    [InlineData("""{"alarm":{"enabled":"yes"}}""", "alarm/enabled")]
    [InlineData("""{"detection":"fast"}""", "detection")]
    [InlineData("""{"colour":"blue"}""", "colour")]
    [InlineData("""{"detection":{"minFaceScore":0.5,"maxFaceScore":1}}""", "detection/maxFaceScore")]
    [InlineData("""{"detection":{"minFaceScore":1.5}}""", "detection/minFaceScore")]
    [InlineData("""{"detection":{"cooldownSeconds":-1}}""", "detection/cooldownSeconds")]
    [InlineData("""{"inference":{"provider":"opencl"}}""", "inference/provider")]
    [InlineData("""{"cameras":{"door":{"url":"not a uri"}}}""", "cameras/door/url")]
    public void Apply_BadValue_RejectedPerKeyPreviousKept(string desired, string key)
    {
        var applier = NewApplier();
        applier.Apply(Json("""{"detection":{"minFaceScore":0.7}}"""), 2);

        var result = applier.Apply(Json(desired), 3);

        Assert.False(result.Applied);
        Assert.Contains(key, result.Errors.Keys);
        Assert.Equal(0.7, applier.Current.MinFaceScore);
        var configuration = applier.BuildReported()["configuration"]!;
        Assert.Equal("rejected", configuration["status"]!.GetValue<string>());
        Assert.Equal(2, configuration["appliedVersion"]!.GetValue<long>());
        Assert.Equal(3, configuration["desiredVersion"]!.GetValue<long>());
        Assert.NotNull(configuration["errors"]![TwinConfigurationApplier<SampleOptions>.TwinKey(key)]);
    }

    [Fact]
    public void Apply_HundredKilobyteBlobBesideOtherErrors_EveryBadKeyReportedPreviousKept()
    {
        var applier = NewApplier();
        applier.Apply(Json("""{"detection":{"minFaceScore":0.7}}"""), 1);
        var blob = new string('A', 100 * 1024);
        var desired = Json("{\"cameras\":{\"door\":{\"url\":\"" + blob + "\"}},\"detection\":{\"minFaceScore\":\"high\"},\"colour\":1}");

        var result = applier.Apply(desired, 9);

        Assert.False(result.Applied);
        Assert.Contains("string of 102400 bytes", result.Errors["cameras/door/url"]);
        Assert.Contains("detection/minFaceScore", result.Errors.Keys);
        Assert.Contains("colour", result.Errors.Keys);
        Assert.Contains("32768", result.Errors[""]); // the whole document is also over the 32 KB twin limit
        Assert.Equal(0.7, applier.Current.MinFaceScore);
        Assert.True(applier.BuildReported().ToJsonString().Length < 4096); // the blob is never echoed back
    }

    [Fact]
    public void Apply_TooDeep_Rejected()
    {
        var deep = "{\"a\":" + string.Concat(Enumerable.Repeat("{\"b\":", 12)) + "1" + new string('}', 13);

        var result = NewApplier().Apply(Json(deep), 1);

        Assert.False(result.Applied);
        Assert.Contains(result.Errors.Keys, k => k.StartsWith("a/b/b", StringComparison.Ordinal));
    }

    [Fact]
    public void Apply_NotAnObject_RejectedWithDocumentError()
    {
        var result = NewApplier().Apply(Json("[1,2]"), 1);

        Assert.False(result.Applied);
        Assert.Contains("", result.Errors.Keys);
    }

    [Fact]
    public void Apply_ValidatorThrows_RejectedNotCrashed()
    {
        var applier = new TwinConfigurationApplier<SampleOptions>(SampleOptions.Default, _ => throw new FormatException("bad date"));

        var result = applier.Apply(Json("{}"), 1);

        Assert.False(result.Applied);
        Assert.Contains("bad date", result.Errors[""]);
    }

    [Fact]
    public void BuildReported_SomeErrorsFixed_ClearsStaleKeysWithNull()
    {
        var applier = NewApplier();
        applier.Apply(Json("""{"detection":{"minFaceScore":"x"},"colour":1}"""), 2);
        var first = applier.BuildReported()["configuration"]!["errors"]!.AsObject();
        Assert.Equal(2, first.Count);

        applier.Apply(Json("""{"detection":{"minFaceScore":0.9},"alarm":{"enabled":3}}"""), 3);
        var second = applier.BuildReported()["configuration"]!["errors"]!.AsObject();

        // A twin PATCH merges objects: only explicit nulls remove the previously reported keys.
        Assert.NotNull(second["alarm/enabled"]);
        Assert.Contains("detection/minFaceScore", second.Select(p => p.Key));
        Assert.Null(second["detection/minFaceScore"]);
        Assert.Null(second["colour"]);
    }

    [Fact]
    public void BuildReported_AllErrorsFixed_DeletesErrorsMember()
    {
        var applier = NewApplier();
        applier.Apply(Json("""{"colour":1}"""), 2);
        _ = applier.BuildReported();

        applier.Apply(Json("{}"), 3);
        var configuration = applier.BuildReported()["configuration"]!.AsObject();

        Assert.True(configuration.ContainsKey("errors"));
        Assert.Null(configuration["errors"]);
    }

    [Fact]
    public void BuildReported_StatusSections_AddedAndKeysMadeTwinSafe()
    {
        var applier = NewApplier();
        applier.Apply(Json("""{"cameras":{"door.1":{"url":7}}}"""), 5);

        var reported = applier.BuildReported(new Dictionary<string, JsonNode?>
        {
            ["executionProvider"] = "cpu",
            ["models"] = new JsonObject { ["retinaface"] = new JsonObject { ["sha256"] = "abc" } },
        });

        Assert.Equal("cpu", reported["executionProvider"]!.GetValue<string>());
        Assert.NotNull(reported["models"]!["retinaface"]);
        var errorKeys = reported["configuration"]!["errors"]!.AsObject().Select(p => p.Key).ToArray();
        Assert.Contains("cameras/door_1/url", errorKeys);
        Assert.All(errorKeys, k => Assert.False(k.Contains('.') || k.Contains('$') || k.Contains(' ')));
    }
}
