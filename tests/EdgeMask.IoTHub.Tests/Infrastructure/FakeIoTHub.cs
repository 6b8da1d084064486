using System.Buffers;
using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;
using MQTTnet.Server;

namespace EdgeMask.IoTHub.Tests.Infrastructure;

/// <summary>
/// An in-process MQTT broker (MQTTnet.Server, TLS, random port) that plays IoT Hub's / edgeHub's part for ONE module
/// identity, as documented in "Communicate with an IoT hub using the MQTT protocol" (azure-docs
/// articles/iot/iot-mqtt-connect-to-iot-hub.md) and "Control access to IoT Hub with shared access signatures"
/// (articles/iot-hub/authenticate-authorize-sas.md). It implements the documented behaviour independently of the
/// client under test; every deviation a client commits is recorded in <see cref="Violations"/>.
/// </summary>
internal sealed class FakeIoTHub : IAsyncDisposable
{
    public const string ApiVersion = "2021-04-12";

    private readonly MqttServer _server;
    private readonly byte[] _key;
    private readonly Lock _twinGate = new();
    private readonly ConcurrentDictionary<string, TaskCompletionSource<(int Status, byte[] Body)>> _methodCalls = new();
    private JsonObject _desired = new();
    private JsonObject _reported = new();
    private long _desiredVersion = 1;
    private long _reportedVersion = 1;
    private int _methodRid;

    private FakeIoTHub(MqttServer server, int port, string hub, string device, string module, byte[] key)
    {
        _server = server;
        Port = port;
        HubHostName = hub;
        DeviceId = device;
        ModuleId = module;
        _key = key;
    }

    public int Port { get; }

    /// <summary>While true the "hub" refuses every connection (server unavailable), as during a network outage.</summary>
    public volatile bool Outage;
    public string HubHostName { get; }
    public string DeviceId { get; }
    public string ModuleId { get; }
    public string ClientId => $"{DeviceId}/{ModuleId}";

    public ConcurrentQueue<string> Violations { get; } = new();
    public ConcurrentQueue<AcceptedConnection> Connections { get; } = new();
    public ConcurrentQueue<string> RejectedConnections { get; } = new();
    public ConcurrentQueue<ReceivedTelemetry> Telemetry { get; } = new();
    public ConcurrentQueue<string> Subscriptions { get; } = new();
    public int TwinGetCount => _twinGets;
    public int ReportedPatchCount => _reportedPatches;
    public async Task<int> ConnectedClientCountAsync() => (await _server.GetClientsAsync()).Count;

    private int _twinGets;
    private int _reportedPatches;

    public JsonObject ReportedSnapshot
    {
        get
        {
            lock (_twinGate)
            {
                return _reported.DeepClone().AsObject();
            }
        }
    }

    public long DesiredVersion
    {
        get
        {
            lock (_twinGate)
            {
                return _desiredVersion;
            }
        }
    }

    public static async Task<FakeIoTHub> StartAsync(string hub, string device, string module, byte[] moduleKey,
        X509Certificate2 serverCertificate, JsonObject? initialDesired = null)
    {
        Exception? last = null;
        for (var attempt = 0; attempt < 5; attempt++)
        {
            var port = TestPorts.FreeTcpPort();
            var options = new MqttServerOptionsBuilder()
                .WithoutDefaultEndpoint()
                .WithEncryptedEndpoint()
                .WithEncryptedEndpointBoundIPAddress(IPAddress.Loopback)
                .WithEncryptedEndpointPort(port)
                .WithEncryptionCertificate(serverCertificate)
                .WithEncryptionSslProtocol(SslProtocols.Tls12 | SslProtocols.Tls13)
                .Build();
            var server = new MqttServerFactory().CreateMqttServer(options);
            var fake = new FakeIoTHub(server, port, hub, device, module, moduleKey);
            if (initialDesired is not null)
            {
                fake._desired = initialDesired.DeepClone().AsObject();
            }

            server.ValidatingConnectionAsync += fake.OnValidatingConnectionAsync;
            server.InterceptingSubscriptionAsync += fake.OnSubscribingAsync;
            server.InterceptingPublishAsync += fake.OnPublishAsync;
            try
            {
                await server.StartAsync();
                return fake;
            }
            catch (System.Net.Sockets.SocketException e)
            {
                // The free port was taken between probing and binding by a parallel test: try another.
                last = e;
                server.Dispose();
            }
        }

        throw new InvalidOperationException("Could not start the fake IoT Hub on a free port.", last);
    }

    // ------------------------------------------------------------------ CONNECT

    /// <summary>
    /// Documented CONNECT for a module: ClientId <c>{device-id}/{module-id}</c>, Username
    /// <c>{hub}/{device-id}/{module-id}/?api-version=2021-04-12</c>, Password a SAS token
    /// <c>SharedAccessSignature sr={URL-encoded resourceURI}&amp;sig={signature}&amp;se={expiry}</c> whose signature is
    /// HMAC-SHA256 over <c>{URL-encoded resourceURI}\n{expiry}</c> with the base64-decoded key. Like edgeHub, the audience
    /// is checked after decoding (host case-insensitive, ids case-sensitive) while the signature is checked over the
    /// <c>sr</c> text exactly as sent. MQTT 3.1.1 only (IoT Hub's MQTT 5 support is a retired preview).
    /// </summary>
    private Task OnValidatingConnectionAsync(ValidatingConnectionEventArgs e)
    {
        string? problem = null;
        if (Outage)
        {
            e.ReasonCode = MqttConnectReasonCode.ServerUnavailable;
            return Task.CompletedTask;
        }

        if (e.ProtocolVersion != MqttProtocolVersion.V311)
        {
            problem = $"protocol {e.ProtocolVersion}, expected MQTT 3.1.1";
        }
        else if (e.ClientId != ClientId)
        {
            problem = $"client id '{e.ClientId}', expected '{ClientId}'";
            e.ReasonCode = MqttConnectReasonCode.ClientIdentifierNotValid;
        }
        else if (e.UserName != $"{HubHostName}/{DeviceId}/{ModuleId}/?api-version={ApiVersion}")
        {
            problem = $"user name '{e.UserName}'";
        }
        else if (!TryValidateToken(e.Password, out var expiry, out var tokenProblem))
        {
            problem = tokenProblem;
        }
        else
        {
            Connections.Enqueue(new AcceptedConnection(e.ClientId, e.UserName, expiry, e.IsSecureConnection));
            return Task.CompletedTask;
        }

        RejectedConnections.Enqueue(problem);
        if (e.ReasonCode == MqttConnectReasonCode.Success)
        {
            e.ReasonCode = MqttConnectReasonCode.BadUserNameOrPassword;
        }

        return Task.CompletedTask;
    }

    private bool TryValidateToken(string? password, out DateTimeOffset expiry, out string problem)
    {
        expiry = default;
        problem = "";
        const string prefix = "SharedAccessSignature ";
        if (password is null || !password.StartsWith(prefix, StringComparison.Ordinal))
        {
            problem = "password is not a SharedAccessSignature";
            return false;
        }

        var fields = new Dictionary<string, string>();
        foreach (var pair in password[prefix.Length..].Split('&'))
        {
            var eq = pair.IndexOf('=');
            if (eq <= 0)
            {
                problem = $"malformed token field '{pair}'";
                return false;
            }

            fields[pair[..eq]] = pair[(eq + 1)..];
        }

        if (!fields.TryGetValue("sr", out var sr) || !fields.TryGetValue("sig", out var sig) || !fields.TryGetValue("se", out var se))
        {
            problem = "token lacks sr, sig or se";
            return false;
        }

        var audience = WebUtility.UrlDecode(sr).Split('/');
        if (audience.Length != 5 || !audience[0].Equals(HubHostName, StringComparison.OrdinalIgnoreCase) || audience[1] != "devices" ||
            audience[2] != DeviceId || audience[3] != "modules" || audience[4] != ModuleId)
        {
            problem = $"token audience '{WebUtility.UrlDecode(sr)}' is not this module";
            return false;
        }

        if (!long.TryParse(se, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds))
        {
            problem = "se is not a number";
            return false;
        }

        expiry = DateTimeOffset.FromUnixTimeSeconds(seconds);
        if (expiry <= DateTimeOffset.UtcNow)
        {
            problem = "token expired";
            return false;
        }

        var expected = HMACSHA256.HashData(_key, Encoding.UTF8.GetBytes(sr + "\n" + se));
        byte[] given;
        try
        {
            given = Convert.FromBase64String(WebUtility.UrlDecode(sig));
        }
        catch (FormatException)
        {
            problem = "sig is not base64";
            return false;
        }

        if (!CryptographicOperations.FixedTimeEquals(expected, given))
        {
            problem = "signature does not match the module key";
            return false;
        }

        return true;
    }

    // ------------------------------------------------------------------ SUBSCRIBE

    /// <summary>"IoT Hub only supports the documented topic names and topic filters": anything else is refused.</summary>
    private Task OnSubscribingAsync(InterceptingSubscriptionEventArgs e)
    {
        var filter = e.TopicFilter.Topic;
        Subscriptions.Enqueue(filter);
        string[] allowed =
        [
            "$iothub/twin/res/#", "$iothub/twin/PATCH/properties/desired/#", "$iothub/methods/POST/#",
            $"devices/{DeviceId}/modules/{ModuleId}/#",
        ];
        if (Array.IndexOf(allowed, filter) < 0)
        {
            Violations.Enqueue($"subscription to undocumented filter '{filter}'");
            e.ProcessSubscription = false;
            e.CloseConnection = true;
        }

        return Task.CompletedTask;
    }

    // ------------------------------------------------------------------ PUBLISH from the module

    private Task OnPublishAsync(InterceptingPublishEventArgs e)
    {
        if (string.IsNullOrEmpty(e.ClientId))
        {
            return Task.CompletedTask; // our own injected messages
        }

        var message = e.ApplicationMessage;
        var topic = message.Topic;
        var payload = message.Payload.ToArray();
        e.ProcessPublish = false; // IoT Hub is not a pub/sub broker: nothing a module sends is routed to other MQTT clients
        if (message.QualityOfServiceLevel == MqttQualityOfServiceLevel.ExactlyOnce)
        {
            // "If a device app publishes a message with QoS 2, IoT Hub closes the network connection."
            Violations.Enqueue($"QoS 2 publish to {topic}");
            e.CloseConnection = true;
            return Task.CompletedTask;
        }

        var telemetryPrefix = $"devices/{DeviceId}/modules/{ModuleId}/messages/events/";
        if (topic.StartsWith(telemetryPrefix, StringComparison.Ordinal))
        {
            Telemetry.Enqueue(new ReceivedTelemetry(topic, ParseBag(topic[telemetryPrefix.Length..]), payload, message.QualityOfServiceLevel));
        }
        else if (topic.StartsWith("$iothub/twin/GET/", StringComparison.Ordinal))
        {
            // "sends an empty message to topic $iothub/twin/GET/?$rid={request id}" → $iothub/twin/res/200/?$rid=… with
            // the twin's properties section {"desired": {…, "$version"}, "reported": {…, "$version"}}.
            var rid = RequireRid(topic);
            Interlocked.Increment(ref _twinGets);
            string body;
            lock (_twinGate)
            {
                var desired = _desired.DeepClone().AsObject();
                desired["$version"] = _desiredVersion;
                var reported = _reported.DeepClone().AsObject();
                reported["$version"] = _reportedVersion;
                body = new JsonObject { ["desired"] = desired, ["reported"] = reported }.ToJsonString();
            }

            Send($"$iothub/twin/res/200/?$rid={rid}", Encoding.UTF8.GetBytes(body));
        }
        else if (topic.StartsWith("$iothub/twin/PATCH/properties/reported/", StringComparison.Ordinal))
        {
            // 204 with the new $version in the response topic; 400 for malformed JSON. Members set to null are deleted.
            var rid = RequireRid(topic);
            Interlocked.Increment(ref _reportedPatches);
            JsonObject? patch = null;
            try
            {
                patch = JsonNode.Parse(payload) as JsonObject;
            }
            catch (JsonException)
            {
                patch = null;
            }

            if (patch is null)
            {
                Send($"$iothub/twin/res/400/?$rid={rid}", []);
                return Task.CompletedTask;
            }

            long version;
            lock (_twinGate)
            {
                _reported = Merge(_reported, patch);
                version = ++_reportedVersion;
            }

            Send($"$iothub/twin/res/204/?$rid={rid}&$version={version}", []);
        }
        else if (topic.StartsWith("$iothub/methods/res/", StringComparison.Ordinal))
        {
            // "$iothub/methods/res/{status}/?$rid={request-id}" with a valid JSON or empty body; status must be an integer.
            var rest = topic["$iothub/methods/res/".Length..];
            var slash = rest.IndexOf('/');
            var rid = RequireRid(topic);
            if (slash <= 0 || !int.TryParse(rest[..slash], NumberStyles.None, CultureInfo.InvariantCulture, out var status))
            {
                Violations.Enqueue($"method response with a non-integer status: {topic}");
                return Task.CompletedTask;
            }

            if (payload.Length > 0)
            {
                try
                {
                    using var _ = JsonDocument.Parse(payload);
                }
                catch (JsonException)
                {
                    Violations.Enqueue($"method response body is not JSON: {topic}");
                }
            }

            if (!_methodCalls.TryRemove(rid, out var call))
            {
                Violations.Enqueue($"method response for unknown $rid {rid}");
                return Task.CompletedTask;
            }

            call.TrySetResult((status, payload));
        }
        else
        {
            // A module may only publish to its own telemetry topic and the $iothub request topics; IoT Hub closes the
            // connection on anything else (MQTT 3.1.1 has no negative PUBACK).
            Violations.Enqueue($"publish to a topic this module may not use: {topic}");
            e.CloseConnection = true;
        }

        return Task.CompletedTask;
    }

    // ------------------------------------------------------------------ service side (what the solution back end does)

    /// <summary>A desired-properties update: merged into the twin, version incremented, and — when the module is
    /// connected — notified on <c>$iothub/twin/PATCH/properties/desired/?$version={new-version}</c> with <c>$version</c> in the body.</summary>
    public long UpdateDesired(JsonObject patch, bool notify = true)
    {
        long version;
        JsonObject body;
        lock (_twinGate)
        {
            _desired = Merge(_desired, patch);
            version = ++_desiredVersion;
            body = patch.DeepClone().AsObject();
            body["$version"] = version;
        }

        if (notify)
        {
            Send($"$iothub/twin/PATCH/properties/desired/?$version={version}", Encoding.UTF8.GetBytes(body.ToJsonString()));
        }

        return version;
    }

    /// <summary>Sends a desired-properties notification as is, without touching the twin (to replay an old version).</summary>
    public void SendDesiredNotification(JsonObject body, long version) =>
        Send($"$iothub/twin/PATCH/properties/desired/?$version={version}", Encoding.UTF8.GetBytes(body.ToJsonString()));

    /// <summary>Invokes a direct method: <c>$iothub/methods/POST/{name}/?$rid={id}</c>, then waits for the module's answer.</summary>
    public async Task<(int Status, JsonNode? Body, byte[] Raw)> InvokeMethodAsync(string name, byte[] payload, TimeSpan? timeout = null)
    {
        var rid = Interlocked.Increment(ref _methodRid).ToString("x", CultureInfo.InvariantCulture);
        var call = new TaskCompletionSource<(int, byte[])>(TaskCreationOptions.RunContinuationsAsynchronously);
        _methodCalls[rid] = call;
        Send($"$iothub/methods/POST/{name}/?$rid={rid}", payload);
        var (status, body) = await call.Task.WaitAsync(timeout ?? TimeSpan.FromSeconds(30));
        JsonNode? node = null;
        if (body.Length > 0)
        {
            node = JsonNode.Parse(body);
        }

        return (status, node, body);
    }

    public Task<(int Status, JsonNode? Body, byte[] Raw)> InvokeMethodAsync(string name, string json, TimeSpan? timeout = null) =>
        InvokeMethodAsync(name, Encoding.UTF8.GetBytes(json), timeout);

    /// <summary>Closes the module's network connection, as a network outage or a hub-side disconnect would.</summary>
    public Task DropConnectionAsync() =>
        _server.DisconnectClientAsync(ClientId, new MqttServerClientDisconnectOptions { ReasonCode = MqttDisconnectReasonCode.NormalDisconnection });

    public async Task WaitForTelemetryAsync(Func<ReceivedTelemetry, bool> predicate, string what)
    {
        await TestPorts.WaitUntilAsync(() => Telemetry.Any(predicate), what);
    }

    private void Send(string topic, byte[] payload)
    {
        var message = new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload)
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build();
        // Injected from another task: the interceptor must return before the server routes the answer.
        _ = Task.Run(() => _server.InjectApplicationMessage(new InjectedMqttApplicationMessage(message), CancellationToken.None));
    }

    private string RequireRid(string topic)
    {
        var q = topic.IndexOf('?');
        var bag = q < 0 ? new Dictionary<string, string?>() : ParseBag(topic[q..]);
        if (!bag.TryGetValue("$rid", out var rid) || string.IsNullOrEmpty(rid))
        {
            Violations.Enqueue($"request without $rid: {topic}");
            return "";
        }

        return rid;
    }

    internal static Dictionary<string, string?> ParseBag(string bag)
    {
        var result = new Dictionary<string, string?>();
        foreach (var pair in bag.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = pair.IndexOf('=');
            result[Uri.UnescapeDataString(eq < 0 ? pair : pair[..eq])] = eq < 0 ? null : Uri.UnescapeDataString(pair[(eq + 1)..]);
        }

        return result;
    }

    private static JsonObject Merge(JsonObject target, JsonObject patch)
    {
        var result = target.DeepClone().AsObject();
        foreach (var (name, value) in patch)
        {
            if (value is null)
            {
                result.Remove(name);
            }
            else if (value is JsonObject child)
            {
                result[name] = Merge(result[name] as JsonObject ?? new JsonObject(), child);
            }
            else
            {
                result[name] = value.DeepClone();
            }
        }

        return result;
    }

    public async ValueTask DisposeAsync()
    {
        await _server.StopAsync(new MqttServerStopOptions());
        _server.Dispose();
    }

    public sealed record AcceptedConnection(string ClientId, string UserName, DateTimeOffset TokenExpiry, bool Secure);

    public sealed record ReceivedTelemetry(string Topic, Dictionary<string, string?> Properties, byte[] Body, MqttQualityOfServiceLevel Qos)
    {
        public string Text => Encoding.UTF8.GetString(Body);
    }
}
