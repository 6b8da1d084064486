using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using EdgeMask.IoTHub.Methods;
using EdgeMask.IoTHub.Tests.Infrastructure;
using EdgeMask.IoTHub.Twin;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMask.IoTHub.Tests;

public class DirectMethodTests
{
    /// <summary>Handlers shaped like the module's: a status getter and a validating partial-config patch.</summary>
    internal static DirectMethodDispatcher CreateDispatcher()
    {
        var dispatcher = new DirectMethodDispatcher(NullLogger.Instance, TimeSpan.FromSeconds(10));
        dispatcher.Register("getStatus", (_, _) => Task.FromResult(MethodResponse.Ok(new JsonObject { ["state"] = "running" })));
        dispatcher.Register("setThresholds", (payload, _) =>
        {
            if (payload.ValueKind != JsonValueKind.Object)
            {
                throw new DirectMethodArgumentException("expected a JSON object with detection settings.");
            }

            var result = SampleOptions.Validate(payload);
            if (!result.IsValid)
            {
                throw new DirectMethodArgumentException("invalid thresholds.", result.Errors);
            }

            return Task.FromResult(MethodResponse.Ok(new JsonObject { ["minFaceScore"] = result.Options!.MinFaceScore }));
        });
        dispatcher.Register("captureSnapshot", (payload, _) =>
        {
            var root = DesiredObject.Root(payload);
            root.AllowOnly("camera");
            var camera = root.String("camera", "", 64);
            if (camera.Length == 0 && !root.HasErrors)
            {
                root.AddError("camera", "required.");
            }

            if (root.HasErrors)
            {
                throw new DirectMethodArgumentException("invalid request.", root.Errors);
            }

            return Task.FromResult(MethodResponse.Ok(new JsonObject { ["camera"] = camera, ["snapshotId"] = "s-1" }));
        });
        return dispatcher;
    }

    [Fact]
    public async Task DispatchAsync_UnknownMethod_Returns404WithKnownNames()
    {
        var response = await CreateDispatcher().DispatchAsync("reboot", "{}"u8.ToArray(), CancellationToken.None);

        Assert.Equal(404, response.Status);
        Assert.Equal("unknownMethod", response.Body!["error"]!.GetValue<string>());
        Assert.Contains("getStatus", response.Body!["message"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("{")]
    [InlineData("{\"a\":}")]
    [InlineData("nul")]
    [InlineData("\u00ff\u00fe")]
    public async Task DispatchAsync_MalformedJson_Returns400(string payload)
    {
        var response = await CreateDispatcher().DispatchAsync("getStatus", Encoding.Latin1.GetBytes(payload), CancellationToken.None);

        Assert.Equal(400, response.Status);
        Assert.Equal("malformedPayload", response.Body!["error"]!.GetValue<string>());
    }

    [Fact]
    public async Task DispatchAsync_EmptyBody_PassedAsJsonNull()
    {
        var dispatcher = new DirectMethodDispatcher(NullLogger.Instance);
        JsonValueKind seen = JsonValueKind.Undefined;
        dispatcher.Register("m", (p, _) =>
        {
            seen = p.ValueKind;
            return Task.FromResult(MethodResponse.Ok());
        });

        var response = await dispatcher.DispatchAsync("m", ReadOnlyMemory<byte>.Empty, CancellationToken.None);

        Assert.Equal(200, response.Status);
        Assert.Equal(JsonValueKind.Null, seen);
    }

    [Fact]
    public async Task DispatchAsync_ValidationErrors_Returns400WithPerKeyDetails()
    {
        var response = await CreateDispatcher().DispatchAsync("setThresholds",
            """{"detection":{"minFaceScore":7,"cooldownSeconds":"x"},"colour":1}"""u8.ToArray(), CancellationToken.None);

        Assert.Equal(400, response.Status);
        var details = response.Body!["details"]!.AsObject();
        Assert.Contains("detection/minFaceScore", details.Select(p => p.Key));
        Assert.Contains("detection/cooldownSeconds", details.Select(p => p.Key));
        Assert.Contains("colour", details.Select(p => p.Key));
    }

    [Fact]
    public async Task DispatchAsync_HandlerThrows_Returns500()
    {
        var dispatcher = new DirectMethodDispatcher(NullLogger.Instance);
        dispatcher.Register("broken", (_, _) => throw new InvalidOperationException("camera pipeline gone"));

        var response = await dispatcher.DispatchAsync("broken", "{}"u8.ToArray(), CancellationToken.None);

        Assert.Equal(500, response.Status);
        Assert.Contains("camera pipeline gone", response.Body!["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task DispatchAsync_HandlerTooSlow_Returns504()
    {
        var dispatcher = new DirectMethodDispatcher(NullLogger.Instance, TimeSpan.FromMilliseconds(100));
        dispatcher.Register("slow", async (_, ct) =>
        {
            await Task.Delay(Timeout.Infinite, ct);
            return MethodResponse.Ok();
        });

        var response = await dispatcher.DispatchAsync("slow", "{}"u8.ToArray(), CancellationToken.None);

        Assert.Equal(504, response.Status);
    }

    [Fact]
    public void Serialize_ResponseOverLimit_Becomes500()
    {
        var big = MethodResponse.Ok(new JsonObject { ["blob"] = new string('x', DirectMethodDispatcher.MaxPayloadBytes) });

        var (status, body) = DirectMethodDispatcher.Serialize(big);

        Assert.Equal(500, status);
        Assert.True(body.Length < 1024);
    }

    [Fact]
    public async Task DispatchAsync_ThousandSeededRandomInputs_OnlyAnswers200_400_404()
    {
        var dispatcher = CreateDispatcher();
        var random = new Random(20261128);
        var statuses = new Dictionary<int, int>();
        for (var i = 0; i < 1000; i++)
        {
            var (name, payload) = RandomCall(random);
            var response = await dispatcher.DispatchAsync(name, payload, CancellationToken.None);
            var (status, body) = DirectMethodDispatcher.Serialize(response);
            using var _ = JsonDocument.Parse(body); // every answer is valid JSON, as the protocol requires
            statuses[status] = statuses.GetValueOrDefault(status) + 1;
            Assert.True(status is 200 or 400 or 404, $"input {i} ({name}, {Convert.ToBase64String(payload)}) answered {status}");
        }

        // The generator must reach every branch, or the fuzz proves little.
        Assert.True(statuses.GetValueOrDefault(200) > 50, $"200s: {statuses.GetValueOrDefault(200)}");
        Assert.True(statuses.GetValueOrDefault(400) > 50, $"400s: {statuses.GetValueOrDefault(400)}");
        Assert.True(statuses.GetValueOrDefault(404) > 50, $"404s: {statuses.GetValueOrDefault(404)}");
    }

    internal static (string Name, byte[] Payload) RandomCall(Random random)
    {
        string[] known = ["getStatus", "setThresholds", "captureSnapshot"];
        var name = random.Next(10) switch
        {
            0 => RandomText(random, random.Next(0, 12)),
            1 => known[random.Next(known.Length)].ToUpperInvariant(),
            _ => known[random.Next(known.Length)],
        };
        if (name.Length == 0)
        {
            name = "x";
        }

        byte[] payload = random.Next(8) switch
        {
            0 => RandomBytes(random, random.Next(0, 64)),
            1 => Encoding.UTF8.GetBytes(RandomText(random, random.Next(0, 40))),
            2 => Mutate(random, Encoding.UTF8.GetBytes(ValidPayload(random))),
            3 => Encoding.UTF8.GetBytes(new string('[', random.Next(1, 80)) + new string(']', random.Next(0, 80))),
            _ => Encoding.UTF8.GetBytes(ValidPayload(random)),
        };
        return (name, payload);
    }

    private static string ValidPayload(Random random)
    {
        object? Value() => random.Next(9) switch
        {
            0 => null,
            1 => random.NextDouble() * 2 - 0.5,
            2 => random.Next(-10, 5000),
            3 => random.Next(2) == 0,
            4 => RandomText(random, random.Next(0, 20)),
            5 => new[] { 1, 2 },
            6 => 1e308,
            7 => "tensorrt",
            _ => new Dictionary<string, object?> { ["url"] = random.Next(2) == 0 ? "rtsp://cam/1" : "not a uri" },
        };
        string[] keys = ["detection", "minFaceScore", "cooldownSeconds", "camera", "alarm", "enabled", "inference", "provider", "cameras", "zzz"];
        var root = new Dictionary<string, object?>();
        for (var k = random.Next(0, 4); k > 0; k--)
        {
            var key = keys[random.Next(keys.Length)];
            root[key] = random.Next(3) == 0
                ? new Dictionary<string, object?> { [keys[random.Next(keys.Length)]] = Value(), [keys[random.Next(keys.Length)]] = Value() }
                : Value();
        }

        return random.Next(6) == 0 ? JsonSerializer.Serialize(Value()) : JsonSerializer.Serialize(root);
    }

    private static byte[] Mutate(Random random, byte[] bytes)
    {
        if (bytes.Length == 0)
        {
            return bytes;
        }

        var copy = (byte[])bytes.Clone();
        for (var n = random.Next(1, 4); n > 0; n--)
        {
            copy[random.Next(copy.Length)] = (byte)random.Next(256);
        }

        return copy;
    }

    private static byte[] RandomBytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }

    private static string RandomText(Random random, int length)
    {
        const string alphabet = "abcXYZ019 {}[]\":,./?$#&=%\\\u00e9\u4e2d\u0000\n";
        var chars = new char[length];
        for (var i = 0; i < length; i++)
        {
            chars[i] = alphabet[random.Next(alphabet.Length)];
        }

        return new string(chars);
    }
}
