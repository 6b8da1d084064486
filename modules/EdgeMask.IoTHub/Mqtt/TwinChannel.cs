using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using EdgeMask.Core.Resilience;
using EdgeMask.IoTHub.Twin;
using Microsoft.Extensions.Logging;
using MQTTnet.Protocol;
using Polly;

namespace EdgeMask.IoTHub.Mqtt;

/// <summary>
/// The module twin over <c>$iothub/twin/…</c>: requests answered by <c>$rid</c> (GET the full twin, PATCH reported
/// properties), retried with the house backoff on 429 and 5xx without touching the connection (as the SDK does), and
/// the desired properties kept as one document: the full twin read after every connect replaces it, each patch is
/// merged into it — but only once the connection's full twin is in, since a patch is a delta of a document this client
/// may not have yet (patches that arrive earlier wait, and are applied after the full twin when they are newer).
/// </summary>
internal sealed class TwinChannel : IConnectionChannel
{
    private readonly IoTHubConnection _connection;
    private readonly IoTHubClientOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly ResiliencePipeline _retry;
    private readonly ConcurrentDictionary<string, TaskCompletionSource<TwinResponse>> _pending = new(StringComparer.Ordinal);
    private readonly Channel<DesiredWork> _work = Channel.CreateUnbounded<DesiredWork>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Lock _gate = new();
    private readonly List<DesiredWork.Patch> _held = [];
    private Func<DesiredPropertiesUpdate, CancellationToken, Task>? _handler;
    private JsonObject? _desired;
    private long _desiredVersion = -1;
    private bool _awaitingFullTwin = true;
    private long _requestId;
    private Task? _worker;

    public TwinChannel(IoTHubConnection connection, IoTHubClientOptions options, ILogger logger, TimeProvider time)
    {
        _connection = connection;
        _options = options;
        _logger = logger;
        _time = time;
        _retry = RetryPolicy.Create(options.TwinRetry, time, e => e is TwinOperationException { IsTransient: true }, attempt =>
            _logger.LogWarning("Twin request failed ({Error}); retry {Attempt} in {DelaySeconds:0.0} s", attempt.Error.Message, attempt.Attempt, attempt.Delay.TotalSeconds));
    }

    public IReadOnlyList<string> TopicFilters { get; } = [IoTHubTopics.TwinResponseFilter, IoTHubTopics.DesiredPatchFilter];

    public (JsonObject? Desired, long Version) CurrentDesired
    {
        get
        {
            lock (_gate)
            {
                return (_desired?.DeepClone().AsObject(), _desiredVersion);
            }
        }
    }

    public void OnDesiredPropertiesChanged(Func<DesiredPropertiesUpdate, CancellationToken, Task> handler) =>
        _handler = handler ?? throw new ArgumentNullException(nameof(handler));

    public void Start(CancellationToken stopping) => _worker = Task.Run(() => WorkAsync(stopping), CancellationToken.None);

    public async Task StopAsync()
    {
        _work.Writer.TryComplete();
        if (_worker is not null)
        {
            await _worker.ConfigureAwait(false);
        }
    }

    /// <summary>Reads the full twin (<c>$iothub/twin/GET/?$rid=N</c> → 200 with <c>{"desired":…,"reported":…}</c>).</summary>
    public async Task<TwinDocument> GetTwinAsync(CancellationToken cancellationToken)
    {
        var response = await _retry.ExecuteAsync(async ct => await RequestAsync(IoTHubTopics.TwinGet, [], expected: 200, ct).ConfigureAwait(false),
            cancellationToken).ConfigureAwait(false);
        if (!System.Text.Unicode.Utf8.IsValid(response.Body))
        {
            throw new TwinOperationException("The twin document is not valid UTF-8.", response.Status);
        }

        try
        {
            using var doc = JsonDocument.Parse(response.Body);
            var root = doc.RootElement;
            var desired = root.TryGetProperty("desired", out var d) && d.ValueKind == JsonValueKind.Object ? d.Clone() : EmptyObject();
            var reported = root.TryGetProperty("reported", out var r) && r.ValueKind == JsonValueKind.Object ? r.Clone() : EmptyObject();
            return new TwinDocument(desired, VersionOf(desired), reported, VersionOf(reported));
        }
        catch (JsonException e)
        {
            throw new TwinOperationException("The twin document is not JSON.", response.Status, e);
        }
    }

    /// <summary>Sends a reported-properties patch and waits for 204; returns the new reported <c>$version</c> (-1 if none came).</summary>
    public async Task<long> UpdateReportedPropertiesAsync(JsonObject patch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(patch);
        var body = JsonSerializer.SerializeToUtf8Bytes(patch);
        var response = await _retry.ExecuteAsync(async ct => await RequestAsync(IoTHubTopics.TwinReportedPatch, body, expected: 204, ct).ConfigureAwait(false),
            cancellationToken).ConfigureAwait(false);
        return response.Version ?? -1;
    }

    // ---------------------------------------------------------------- connection events and incoming messages

    public void OnConnected(ConnectionContext connection)
    {
        _work.Writer.TryWrite(new DesiredWork.Reset());
        _ = Task.Run(() => ReadFullTwinAsync(connection), CancellationToken.None);
    }

    public void OnDisconnected(string reason)
    {
        _work.Writer.TryWrite(new DesiredWork.Reset());
        foreach (var (rid, pending) in _pending)
        {
            if (_pending.TryRemove(rid, out _))
            {
                // Their answers can no longer arrive: fail them now rather than after the operation timeout.
                pending.TrySetException(new TwinOperationException($"The twin request $rid={rid} was not answered: {reason}."));
            }
        }
    }

    public bool TryHandle(string topic, byte[] payload)
    {
        if (IoTHubTopics.TryParseTwinResponse(topic, out var status, out var rid, out var version))
        {
            if (_pending.TryRemove(rid, out var pending))
            {
                pending.TrySetResult(new TwinResponse(status, version, payload));
            }
            else
            {
                _logger.LogDebug("Twin response for unknown $rid={Rid} ignored", rid);
            }

            return true;
        }

        if (IoTHubTopics.TryParseDesiredPatch(topic, out var patchVersion))
        {
            EnqueuePatch(payload, patchVersion);
            return true;
        }

        return false;
    }

    /// <summary>The documented reconnection flow, second half: read the full twin (retrying throttling and server errors).</summary>
    private async Task ReadFullTwinAsync(ConnectionContext connection)
    {
        try
        {
            var twin = await GetTwinAsync(connection.Lifetime).ConfigureAwait(false);
            await _work.Writer.WriteAsync(new DesiredWork.FullTwin(twin.Desired, twin.DesiredVersion), connection.Lifetime).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (connection.Lifetime.IsCancellationRequested)
        {
            _logger.LogDebug("Full twin read of connection {Connection} abandoned: the connection ended", connection.Number);
        }
        catch (TwinOperationException e)
        {
            // Without the full twin this connection cannot apply desired properties; a new connection starts over.
            connection.Abort($"the full twin could not be read ({e.Message})");
        }
    }

    private async Task<TwinResponse> RequestAsync(Func<string, string> topicForRid, byte[] body, int expected, CancellationToken ct)
    {
        if (!_connection.IsConnected)
        {
            throw new TwinOperationException("Not connected to IoT Hub / edgeHub.");
        }

        var rid = Interlocked.Increment(ref _requestId).ToString(CultureInfo.InvariantCulture);
        var pending = new TaskCompletionSource<TwinResponse>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[rid] = pending;
        try
        {
            try
            {
                await _connection.PublishAsync(topicForRid(rid), body, MqttQualityOfServiceLevel.AtMostOnce, ct).ConfigureAwait(false);
            }
            catch (IoTHubConnectionException e)
            {
                throw new TwinOperationException($"The twin request $rid={rid} could not be sent: {e.Message}", inner: e);
            }

            TwinResponse response;
            try
            {
                response = await pending.Task.WaitAsync(_options.OperationTimeout, _time, ct).ConfigureAwait(false);
            }
            catch (TimeoutException e)
            {
                throw new TwinOperationException($"The twin request $rid={rid} was not answered within {_options.OperationTimeout}.",
                    inner: e, transient: true);
            }

            // A reported PATCH is documented as 204; any 2xx is a success all the same.
            bool answered = expected == 204 ? response.Status is >= 200 and <= 299 : response.Status == expected;
            if (!answered)
            {
                throw new TwinOperationException($"The twin request $rid={rid} was answered {response.Status}.", response.Status);
            }

            return response;
        }
        finally
        {
            _pending.TryRemove(rid, out _);
        }
    }

    private void EnqueuePatch(byte[] payload, long? topicVersion)
    {
        if (!System.Text.Unicode.Utf8.IsValid(payload))
        {
            _logger.LogWarning("Desired-properties patch is not valid UTF-8; ignored");
            return;
        }

        try
        {
            using var doc = JsonDocument.Parse(payload);
            var body = doc.RootElement.Clone();
            var version = body.ValueKind == JsonValueKind.Object ? VersionOf(body) : -1;
            _work.Writer.TryWrite(new DesiredWork.Patch(body, version >= 0 ? version : topicVersion ?? -1));
        }
        catch (JsonException e)
        {
            _logger.LogWarning(e, "Desired-properties patch is not JSON; ignored");
        }
    }

    // ---------------------------------------------------------------- desired properties, one at a time, in order

    private async Task WorkAsync(CancellationToken ct)
    {
        try
        {
            await foreach (var work in _work.Reader.ReadAllAsync(ct).ConfigureAwait(false))
            {
                List<DesiredPropertiesUpdate> updates;
                try
                {
                    lock (_gate)
                    {
                        updates = Apply(work);
                    }
                }
                catch (Exception e) when (e is InvalidOperationException or JsonException)
                {
                    _logger.LogWarning(e, "Desired properties of {Work} cannot be merged; ignored", work.GetType().Name);
                    continue;
                }

                foreach (var update in updates)
                {
                    if (_handler is not { } handler)
                    {
                        break;
                    }

                    try
                    {
                        await handler(update, ct).ConfigureAwait(false);
                    }
                    catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
                    {
                        // A failing handler must not stop later updates from being delivered.
                        _logger.LogError(e, "Desired-properties handler failed for version {Version}", update.Version);
                    }
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            _logger.LogDebug("Desired-properties worker stopped");
        }
    }

    /// <summary>
    /// The documented reconciliation: the full document replaces the state; a patch whose <c>$version</c> is not newer
    /// than the state's is ignored (versions only grow); a patch that arrives before this connection's full twin waits.
    /// </summary>
    private List<DesiredPropertiesUpdate> Apply(DesiredWork work)
    {
        var updates = new List<DesiredPropertiesUpdate>();
        switch (work)
        {
            case DesiredWork.Reset:
                _awaitingFullTwin = true;
                break;
            case DesiredWork.Patch patch when _awaitingFullTwin:
                _logger.LogDebug("Desired patch version {Version} held until the full twin is read", patch.Version);
                _held.Add(patch);
                break;
            case DesiredWork.Patch patch:
                if (Merge(patch) is { } merged)
                {
                    updates.Add(merged);
                }

                break;
            case DesiredWork.FullTwin full:
                _desired = JsonMergePatch.WithoutMetadata(full.Document);
                _desiredVersion = full.Version;
                _awaitingFullTwin = false;
                updates.Add(Snapshot(fromFullTwin: true));
                // Held patches are newer than the full twin only when they arrived after the GET was answered; a patch
                // without a version cannot be placed and the full twin already holds whatever it carried.
                foreach (var held in _held.Where(p => p.Version > full.Version).OrderBy(p => p.Version))
                {
                    if (Merge(held) is { } caughtUp)
                    {
                        updates.Add(caughtUp);
                    }
                }

                _held.Clear();
                break;
        }

        return updates;
    }

    private DesiredPropertiesUpdate? Merge(DesiredWork.Patch patch)
    {
        if (patch.Version >= 0 && patch.Version <= _desiredVersion)
        {
            _logger.LogDebug("Desired patch version {Version} not newer than {Current}; ignored", patch.Version, _desiredVersion);
            return null;
        }

        _desired = JsonMergePatch.Apply(_desired, patch.Document);
        _desiredVersion = Math.Max(_desiredVersion, patch.Version);
        return Snapshot(fromFullTwin: false);
    }

    private DesiredPropertiesUpdate Snapshot(bool fromFullTwin) =>
        new(JsonSerializer.SerializeToElement(_desired), _desiredVersion, fromFullTwin);

    private static long VersionOf(JsonElement section) =>
        section.ValueKind == JsonValueKind.Object && section.TryGetProperty("$version", out var v) && v.TryGetInt64(out var n) ? n : -1;

    private static JsonElement EmptyObject()
    {
        using var doc = JsonDocument.Parse("{}");
        return doc.RootElement.Clone();
    }

    private sealed record TwinResponse(int Status, long? Version, byte[] Body);

    private abstract record DesiredWork
    {
        public sealed record Reset : DesiredWork;

        public sealed record Patch(JsonElement Document, long Version) : DesiredWork;

        public sealed record FullTwin(JsonElement Document, long Version) : DesiredWork;
    }
}
