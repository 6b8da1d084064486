using EdgeMask.IoTHub.Authentication;
using EdgeMask.IoTHub.Mqtt;

namespace EdgeMask.IoTHub.Tests;

public class TopicTests
{
    private static readonly IoTHubIdentity Module = new("hub.azure-devices.net", "jetson", "edgemask", "edge-box");

    [Fact]
    public void Telemetry_OutputAndProperties_EncodedAsTheSdkWritesThemWithClosingSlash()
    {
        var topic = IoTHubTopics.Telemetry(Module, "events", "application/json", "utf-8", null,
            [new("type", "violation.start"), new("camera", "door 1/a&b=c"), new("schema", "edgemask.event/1")]);

        // MqttIotHubAdapter.PopulateMessagePropertiesFromMessage: prefix + UrlEncodedDictionarySerializer.Serialize(bag) + "/".
        Assert.Equal(
            "devices/jetson/modules/edgemask/messages/events/%24.on=events&%24.ct=application%2Fjson&%24.ce=utf-8&type=violation.start&camera=door%201%2Fa%26b%3Dc&schema=edgemask.event%2F1/",
            topic);
    }

    [Fact]
    public void Telemetry_DeviceIdentity_UsesDeviceTopic()
    {
        var topic = IoTHubTopics.Telemetry(new IoTHubIdentity("h", "dev", null, null), null, null, null, "m-1", null);

        Assert.Equal("devices/dev/messages/events/%24.mid=m-1/", topic);
    }

    [Fact]
    public void Telemetry_NoProperties_BarePrefixWithoutSecondSlash()
    {
        var topic = IoTHubTopics.Telemetry(Module, null, null, null, null, null);

        Assert.Equal("devices/jetson/modules/edgemask/messages/events/", topic);
    }

    [Theory]
    [InlineData("door/1")]
    [InlineData("a&b=c/d")]
    [InlineData("ünïcode / ?#")]
    public void Telemetry_AnyPropertyValue_BagIsOneTopicSegmentThatRoundTrips(string camera)
    {
        var topic = IoTHubTopics.Telemetry(Module, "events", null, null, null, [new("camera", camera)]);

        // edgeHub's {params} is one segment ([^/]*) followed by the closing '/'.
        var bag = topic["devices/jetson/modules/edgemask/messages/events/".Length..^1];
        Assert.DoesNotContain('/', bag);
        Assert.EndsWith("/", topic);
        Assert.Equal(camera, IoTHubTopics.ParsePropertyBag(bag)["camera"]);
    }

    [Fact]
    public void Telemetry_ReservedApplicationPropertyName_IsRejected()
    {
        Assert.Throws<TelemetryRejectedException>(() =>
            IoTHubTopics.Telemetry(Module, "events", null, null, null, [new("$.to", "x")]));
    }

    [Fact]
    public void ParsePropertyBag_RoundTripsEncodedValuesAndNullProperties()
    {
        var bag = IoTHubTopics.ParsePropertyBag("?prop1&prop2=&prop3=a%20string&camera=door%201%2Fa%26b");

        Assert.Null(bag["prop1"]);
        Assert.Equal("", bag["prop2"]);
        Assert.Equal("a string", bag["prop3"]);
        Assert.Equal("door 1/a&b", bag["camera"]);
    }

    [Theory]
    [InlineData("$iothub/twin/res/204/?$rid=1&$version=6", 204, "1", 6L)]
    [InlineData("$iothub/twin/res/200/?$rid=abc", 200, "abc", null)]
    [InlineData("$iothub/twin/res/429/?$rid=7", 429, "7", null)]
    public void TryParseTwinResponse_DocumentedTopics_Parsed(string topic, int status, string rid, long? version)
    {
        Assert.True(IoTHubTopics.TryParseTwinResponse(topic, out var s, out var r, out var v));
        Assert.Equal(status, s);
        Assert.Equal(rid, r);
        Assert.Equal(version, v);
    }

    [Theory]
    [InlineData("$iothub/twin/res/abc/?$rid=1")]
    [InlineData("$iothub/twin/res/200/")]
    [InlineData("$iothub/twin/res/200/?$version=3")]
    [InlineData("devices/x/messages/events/")]
    public void TryParseTwinResponse_Malformed_ReturnsFalse(string topic)
    {
        Assert.False(IoTHubTopics.TryParseTwinResponse(topic, out _, out _, out _));
    }

    [Fact]
    public void TryParseMethodRequest_DocumentedTopic_YieldsNameAndRid()
    {
        Assert.True(IoTHubTopics.TryParseMethodRequest("$iothub/methods/POST/getStatus/?$rid=1f", out var name, out var rid));
        Assert.Equal("getStatus", name);
        Assert.Equal("1f", rid);
        Assert.Equal("$iothub/methods/res/200/?$rid=1f", IoTHubTopics.MethodResponse(200, rid));
    }

    [Fact]
    public void TryParseDesiredPatch_DocumentedTopic_YieldsVersion()
    {
        Assert.True(IoTHubTopics.TryParseDesiredPatch("$iothub/twin/PATCH/properties/desired/?$version=8", out var version));
        Assert.Equal(8, version);
    }
}
