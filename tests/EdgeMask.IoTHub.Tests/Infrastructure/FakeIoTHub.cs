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
using System.Text.RegularExpressions;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;
using MQTTnet.Server;

namespace EdgeMask.IoTHub.Tests.Infrastructure;

/// <summary>
/// An in-process MQTT broker (MQTTnet.Server, TLS, random port) that plays edgeHub's (and IoT Hub's) part for ONE module
/// identity. It parses what a module sends the way edgeHub's MQTT protocol head does (Azure/iotedge edge-hub:
/// DependencyManager's inbound templates, MessageAddressConverter + ProtocolGateway's UriPathTemplate,
/// UrlEncodedDictionarySerializer, MessagingServiceClient, DeviceScopeTokenAuthenticator, SharedAccessSignature.Parse),
/// independently of the client under test:
/// <list type="bullet">
/// <item>telemetry must match a template over the WHOLE topic (<c>devices/{d}/modules/{m}/messages/events/{params}/</c> or
/// <c>…/messages/events/</c>, every variable <c>[^/]*</c>); a topic that matches none is acknowledged (PUBACK) and dropped,
/// as edgeHub does ("Message was not sent"): it lands in <see cref="Dropped"/> and <see cref="Log"/>, not in
/// <see cref="Telemetry"/>;</item>
/// <item>the token's audience host must equal the hub name (or edgeHub's own host name) exactly, ids too;</item>
/// <item><c>$iothub/twin/…</c> must be a GET or a reported PATCH with a <c>$rid</c> (else the connection is closed), and
/// a PATCH must pass edgeHub's reported-properties validator (<see cref="EdgeHubReportedProperties"/>; else 400);
/// <c>$iothub/methods/res/…</c> must match its template (else the answer is dropped).</item>
/// </list>
/// IoT Hub's own rules it adds: MQTT 3.1.1 only, QoS 2 or another identity's topic closes the connection, undocumented
/// subscriptions are refused. Every deviation a client commits is recorded in <see cref="Violations"/>.
/// </summary>
internal sealed partial class FakeIoTHub : IAsyncDisposable
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

    /// <summary>edgeHub's inbound templates (DependencyManager / ProtocolHeadFixture in Azure/iotedge), in their order.</summary>
    private static readonly EdgeHubTemplate[] InboundTemplates =
    [
        new("devices/{deviceId}/messages/events/{params}/"),
        new("devices/{deviceId}/messages/events/"),
        new("devices/{deviceId}/modules/{moduleId}/messages/events/{params}/"),
        new("devices/{deviceId}/modules/{moduleId}/messages/events/"),
        new("$iothub/methods/res/{statusCode}/?$rid={correlationId}"),
        new("$iothub/methods/res/{statusCode}/?$rid={correlationId}&foo={bar}"),
    ];

    private FakeIoTHub(MqttServer server, int port, string hub, string device, string module, byte[] key, string gatewayHostName)
    {
        _server = server;
        Port = port;
        HubHostName = hub;
        GatewayHostName = gatewayHostName;
        DeviceId = device;
        ModuleId = module;
        _key = key;
    }

    public int Port { get; }

    /// <summary>While true the "hub" refuses every connection (server unavailable), as during a network outage.</summary>
    public volatile bool Outage;
    public string HubHostName { get; }
    /// <summary>edgeHub's own host name, which a token's audience may name instead of the hub.</summary>
    public string GatewayHostName { get; }
    public string DeviceId { get; }
    public string ModuleId { get; }
    public string ClientId => $"{DeviceId}/{ModuleId}";

    public ConcurrentQueue<string> Violations { get; } = new();
    public ConcurrentQueue<AcceptedConnection> Connections { get; } = new();
    public ConcurrentQueue<string> RejectedConnections { get; } = new();
    public ConcurrentQueue<ReceivedTelemetry> Telemetry { get; } = new();
    public ConcurrentQueue<string> Subscriptions { get; } = new();
    /// <summary>Publishes edgeHub acknowledged (QoS 1) or took and then threw away, with its reason.</summary>
    public ConcurrentQueue<DroppedPublish> Dropped { get; } = new();
    /// <summary>What edgeHub would have logged (warnings), for test output.</summary>
    public ConcurrentQueue<string> Log { get; } = new();

    /// <summary>Answer the next twin requests (GET or reported PATCH) with this status instead (429, 503 …), then serve normally.</summary>
    public void FailTwinRequests(int status, int count)
    {
        Volatile.Write(ref _twinFailureStatus, status);
        Volatile.Write(ref _twinFailuresLeft, count);
    }

    /// <summary>While set, twin GET answers wait for it (a slow hub): lets a test send a desired patch first.</summary>
    public TaskCompletionSource? TwinGetHold { get; set; }

    /// <summary>How many twin requests were answered with the injected failure status.</summary>
    public int FailedTwinAnswers => Volatile.Read(ref _failedTwinAnswers);

    private int _failedTwinAnswers;
    private int _twinFailureStatus;
    private int _twinFailuresLeft;
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
        X509Certificate2 serverCertificate, JsonObject? initialDesired = null, string gatewayHostName = "localhost")
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
            var fake = new FakeIoTHub(server, port, hub, device, module, moduleKey, gatewayHostName);
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
    /// HMAC-SHA256 over <c>{URL-encoded resourceURI}\n{expiry}</c> with the base64-decoded key. MQTT 3.1.1 only (IoT Hub's
    /// MQTT 5 support is a retired preview).
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
        Log.Enqueue($"Error authenticating {e.ClientId}: {problem}");
        if (e.ReasonCode == MqttConnectReasonCode.Success)
        {
            e.ReasonCode = MqttConnectReasonCode.BadUserNameOrPassword;
        }

        return Task.CompletedTask;
    }

    /// <summary>
    /// edgeHub's SharedAccessSignature.Parse and DeviceScopeTokenAuthenticator: "SharedAccessSignature" and the fields
    /// separated by one white space, fields split at '&amp;' and '=' (names case-insensitive, none twice), <c>sig</c> and
    /// <c>se</c> URL-decoded, <c>sr</c> kept as sent for the signature (HMAC over <c>{sr}\n{se}</c>, compared as base64
    /// text) and URL-decoded for the audience check: host equal (ordinal) to the hub's or edgeHub's host name, device and
    /// module ids equal to the identity's.
    /// </summary>
    private bool TryValidateToken(string? password, out DateTimeOffset expiry, out string problem)
    {
        expiry = default;
        problem = "";
        var parts = (password ?? "").Split();
        if (parts.Length != 2 || parts[0].Trim() != "SharedAccessSignature")
        {
            problem = "password is not a SharedAccessSignature (malformed signature)";
            return false;
        }

        var fields = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var field in parts[1].Trim().Split('&'))
        {
            if (field.Length == 0)
            {
                continue;
            }

            var pair = field.Split('=');
            if (pair.Length < 2 || !fields.TryAdd(pair[0], pair[0].Equals("sr", StringComparison.OrdinalIgnoreCase) ? pair[1] : WebUtility.UrlDecode(pair[1])))
            {
                problem = $"malformed or repeated token field '{pair[0]}'";
                return false;
            }
        }

        if (!fields.TryGetValue("sr", out var sr) || !fields.TryGetValue("sig", out var sig) || !fields.TryGetValue("se", out var se))
        {
            problem = "token lacks sr, sig or se";
            return false;
        }

        var audience = WebUtility.UrlDecode(sr.Trim());
        var segments = audience.Split('/');
        if (segments.Length != 5 || segments[1] != "devices" || segments[2] != DeviceId || segments[3] != "modules" || segments[4] != ModuleId)
        {
            problem = $"token audience '{audience}' is not this module";
            return false;
        }

        if (segments[0] != HubHostName && segments[0] != GatewayHostName)
        {
            problem = $"the audience hostname {segments[0]} does not match IoTHub hostname {HubHostName} or the EdgeHub hostname {GatewayHostName}";
            return false;
        }

        if (!double.TryParse(se, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds))
        {
            problem = "se is not a number";
            return false;
        }

        expiry = DateTimeOffset.UnixEpoch.AddSeconds(seconds);
        if (expiry <= DateTimeOffset.UtcNow)
        {
            problem = "token expired";
            return false;
        }

        var expected = Convert.ToBase64String(HMACSHA256.HashData(_key, Encoding.UTF8.GetBytes(sr + "\n" + se)));
        if (!CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(expected), Encoding.UTF8.GetBytes(sig)))
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

    /// <summary>edgeHub's MessagingServiceClient.SendAsync: twin requests, method responses, everything else telemetry.</summary>
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

        if (topic.StartsWith("$iothub/twin/", StringComparison.Ordinal))
        {
            OnTwinRequest(e, topic, payload);
        }
        else if (topic.StartsWith("$iothub/methods/res/", StringComparison.Ordinal))
        {
            OnMethodResponse(topic, payload);
        }
        else
        {
            OnTelemetry(e, topic, payload, message.QualityOfServiceLevel);
        }

        return Task.CompletedTask;
    }

    /// <summary>
    /// ProtocolGatewayMessageConverter.ToMessage: the topic must match an inbound template; the <c>{params}</c> segment is
    /// read by UrlEncodedDictionarySerializer. Any failure is caught by MessagingServiceClient.ProcessMessageAsync, which
    /// logs "Message was not sent" and returns normally — so the QoS 1 PUBACK goes out and the event is gone.
    /// </summary>
    private void OnTelemetry(InterceptingPublishEventArgs e, string topic, byte[] payload, MqttQualityOfServiceLevel qos)
    {
        // UriPathTemplate matches against new Uri(topic, UriKind.Relative).ToString(), which keeps %-escapes as sent.
        var address = new Uri(topic, UriKind.Relative).ToString();
        var match = InboundTemplates.Take(4).Select(t => t.Match(address)).FirstOrDefault(m => m is not null);
        if (match is null)
        {
            Drop(topic, "Topic name could not be matched against any of the configured routes.");
            return;
        }

        if (match["deviceId"] != DeviceId || match.GetValueOrDefault("moduleId") != ModuleId)
        {
            // IoT Hub: "a device can only publish to its own topics"; it closes the connection on anything else.
            Violations.Enqueue($"publish to a topic this module may not use: {topic}");
            e.CloseConnection = true;
            return;
        }

        Dictionary<string, string?> properties;
        try
        {
            properties = ParseBag(match.GetValueOrDefault("params") ?? "");
        }
        catch (FormatException error)
        {
            Drop(topic, error.Message);
            return;
        }

        Telemetry.Enqueue(new ReceivedTelemetry(topic, properties, payload, qos));
    }

    private void Drop(string topic, string reason)
    {
        Dropped.Enqueue(new DroppedPublish(topic, reason));
        Log.Enqueue($"Message was not sent for device Id {ClientId} exception System.InvalidOperationException: {reason} (topic {topic})");
    }

    /// <summary>
    /// MessagingServiceClient.ProcessTwinAsync + TwinAddressHelper: <c>GET/?$rid=…</c> or
    /// <c>PATCH/properties/reported/?$rid=…</c>, nothing after; anything else throws, and the protocol gateway closes the
    /// connection.
    /// </summary>
    private void OnTwinRequest(InterceptingPublishEventArgs e, string topic, byte[] payload)
    {
        var get = TwinGetTopic().Match(topic);
        var patch = get.Success ? get : TwinPatchTopic().Match(topic);
        Dictionary<string, string?> bag;
        try
        {
            bag = patch.Success ? ParseBag(patch.Groups["bag"].Value) : [];
        }
        catch (FormatException)
        {
            bag = [];
        }

        if (!patch.Success || !bag.TryGetValue("$rid", out var rid) || string.IsNullOrEmpty(rid))
        {
            Violations.Enqueue($"twin request edgeHub cannot parse (operation, or $rid missing): {topic}");
            e.CloseConnection = true;
            return;
        }

        if (Interlocked.Decrement(ref _twinFailuresLeft) >= 0)
        {
            Interlocked.Increment(ref _failedTwinAnswers);
            Send($"$iothub/twin/res/{Volatile.Read(ref _twinFailureStatus)}/?$rid={rid}", []);
            return;
        }

        Interlocked.Exchange(ref _twinFailuresLeft, 0);
        if (get.Success)
        {
            AnswerTwinGet(rid);
            return;
        }

        // 204 with the new $version in the response topic; 400 for malformed JSON. Members set to null are deleted.
        Interlocked.Increment(ref _reportedPatches);
        JsonObject? reportedPatch;
        try
        {
            reportedPatch = JsonNode.Parse(payload) as JsonObject;
        }
        catch (JsonException)
        {
            reportedPatch = null;
        }

        if (reportedPatch is null)
        {
            Send($"$iothub/twin/res/400/?$rid={rid}", []);
            return;
        }

        // edgeHub's ReportedPropertiesValidator: names, value types and lengths, integer range, depth, 32 KB, no null in arrays.
        if (EdgeHubReportedProperties.Refusal(reportedPatch) is { } refusal)
        {
            Violations.Enqueue($"reported properties edgeHub refuses (400): {refusal}");
            Log.Enqueue($"Error updating reported properties for {ClientId}: System.InvalidOperationException: {refusal}");
            Send($"$iothub/twin/res/400/?$rid={rid}", []);
            return;
        }

        long version;
        lock (_twinGate)
        {
            _reported = Merge(_reported, reportedPatch);
            version = ++_reportedVersion;
        }

        Send($"$iothub/twin/res/204/?$rid={rid}&$version={version}", []);
    }

    /// <summary>"$iothub/twin/res/200/?$rid=…" with the twin's properties section {"desired": {…, "$version"}, "reported": {…}}.</summary>
    private void AnswerTwinGet(string rid)
    {
        Interlocked.Increment(ref _twinGets);
        var hold = TwinGetHold;
        _ = Task.Run(async () =>
        {
            if (hold is not null)
            {
                await hold.Task;
            }

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
        });
    }

    /// <summary>
    /// MessagingServiceClient.ProcessMethodResponse: the topic must match <c>$iothub/methods/res/{statusCode}/?$rid={correlationId}</c>;
    /// otherwise "Methods response was not sent" is logged and the caller never gets an answer.
    /// </summary>
    private void OnMethodResponse(string topic, byte[] payload)
    {
        var address = new Uri(topic, UriKind.Relative).ToString();
        var match = InboundTemplates.Skip(4).Select(t => t.Match(address)).FirstOrDefault(m => m is not null);
        if (match is null || !int.TryParse(match["statusCode"], NumberStyles.None, CultureInfo.InvariantCulture, out var status))
        {
            Violations.Enqueue($"method response edgeHub cannot match: {topic}");
            Log.Enqueue($"Methods response was not sent for device Id {ClientId}: {topic}");
            return;
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

        if (!_methodCalls.TryRemove(match["correlationId"], out var call))
        {
            Violations.Enqueue($"method response for unknown $rid {match["correlationId"]}");
            return;
        }

        call.TrySetResult((status, payload));
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

    /// <summary>
    /// UrlEncodedDictionarySerializer.Deserialize as edgeHub runs it on <c>{params}</c>: <c>name[=value]</c> pairs split at
    /// '&amp;', names and values unescaped, an empty value read as null; '=' or '&amp;' where a name should start, a second
    /// '=' in a pair, or a trailing '&amp;' is a <see cref="FormatException"/>. A leading '?' (twin and method topics) is
    /// skipped.
    /// </summary>
    internal static Dictionary<string, string?> ParseBag(string bag)
    {
        var result = new Dictionary<string, string?>(StringComparer.Ordinal);
        var text = bag.StartsWith('?') ? bag[1..] : bag;
        if (text.Length == 0)
        {
            return result;
        }

        foreach (var pair in text.Split('&'))
        {
            if (pair.Length == 0 || pair[0] == '=')
            {
                throw new FormatException($"Unexpected character in '{bag}': a property name is missing.");
            }

            var eq = pair.IndexOf('=');
            if (eq >= 0 && pair.IndexOf('=', eq + 1) >= 0)
            {
                throw new FormatException($"Unexpected character '=' in the value of '{pair}'.");
            }

            var name = Uri.UnescapeDataString(eq < 0 ? pair : pair[..eq]);
            var value = eq < 0 || eq == pair.Length - 1 ? null : Uri.UnescapeDataString(pair[(eq + 1)..]);
            result[name] = value;
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

    public sealed record DroppedPublish(string Topic, string Reason);

    /// <summary>
    /// ProtocolGateway's UriPathTemplate as edgeHub uses it: the literal text escaped, each <c>{name}</c> one segment
    /// <c>([^/]*)</c>. The real one anchors only the end (<c>$</c>) and searches; this one anchors both ends, which differs
    /// only for topics with junk before <c>devices/</c> or <c>$iothub/</c> — refused here, as IoT Hub refuses them.
    /// </summary>
    private sealed class EdgeHubTemplate
    {
        private readonly Regex _pattern;
        private readonly List<string> _names = [];

        public EdgeHubTemplate(string template)
        {
            var pattern = new StringBuilder("^");
            var index = 0;
            while (index < template.Length)
            {
                var open = template.IndexOf('{', index);
                if (open < 0)
                {
                    pattern.Append(Regex.Escape(template[index..]));
                    break;
                }

                var close = template.IndexOf('}', open);
                pattern.Append(Regex.Escape(template[index..open])).Append("([^/]*)");
                _names.Add(template[(open + 1)..close]);
                index = close + 1;
            }

            _pattern = new Regex(pattern.Append('$').ToString(), RegexOptions.CultureInvariant);
        }

        public Dictionary<string, string>? Match(string address)
        {
            var match = _pattern.Match(address);
            return match.Success ? _names.Select((n, i) => (n, match.Groups[i + 1].Value)).ToDictionary(p => p.n, p => p.Item2) : null;
        }
    }

    [GeneratedRegex(@"^\$iothub/twin/GET/(?<bag>\?[^/]*)$")]
    private static partial Regex TwinGetTopic();

    [GeneratedRegex(@"^\$iothub/twin/PATCH/properties/reported/(?<bag>\?[^/]*)$")]
    private static partial Regex TwinPatchTopic();

    public sealed record ReceivedTelemetry(string Topic, Dictionary<string, string?> Properties, byte[] Body, MqttQualityOfServiceLevel Qos)
    {
        public string Text => Encoding.UTF8.GetString(Body);
    }
}
