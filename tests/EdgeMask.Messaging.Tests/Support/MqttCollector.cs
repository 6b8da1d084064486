using System.Collections.Concurrent;
using System.Text;
using MQTTnet;
using MQTTnet.Protocol;

namespace EdgeMask.Messaging.Tests.Support;

public sealed record Received(string Topic, byte[] Payload, bool Retain, string? ContentType, IReadOnlyDictionary<string, string> UserProperties)
{
    public string Text => Encoding.UTF8.GetString(Payload);
}

/// <summary>
/// A subscriber that records every message, in arrival order. With <c>persistentSession</c> it keeps its session across its own
/// reconnects (clean start false, long session expiry), and it reconnects by itself when the broker comes back.
/// </summary>
public sealed class MqttCollector : IAsyncDisposable
{
    private readonly IMqttClient _client = new MqttClientFactory().CreateMqttClient();
    private readonly MqttClientOptions _options;
    private readonly string _filter;
    private readonly CancellationTokenSource _stop = new();
    private Task? _reconnect;

    public ConcurrentQueue<Received> Messages { get; } = new();

    /// <summary>Raised when the broker drops this subscriber (not when it disconnects itself at dispose).</summary>
    public event Action? Disconnected;

    public bool IsConnected => _client.IsConnected;

    private MqttCollector(int port, string filter, bool persistentSession)
    {
        _filter = filter;
        var b = new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port)
            .WithClientId("collector-" + Guid.NewGuid().ToString("N")[..8])
            .WithProtocolVersion(MQTTnet.Formatter.MqttProtocolVersion.V500)
            .WithCleanStart(!persistentSession);
        if (persistentSession) b.WithSessionExpiryInterval(3600);
        _options = b.Build();
        _client.ApplicationMessageReceivedAsync += e =>
        {
            var m = e.ApplicationMessage;
            var props = m.UserProperties?.ToDictionary(p => p.Name, p => Encoding.UTF8.GetString(p.ValueBuffer.Span)) ?? [];
            Messages.Enqueue(new Received(m.Topic, System.Buffers.BuffersExtensions.ToArray(m.Payload), m.Retain, m.ContentType, props));
            return Task.CompletedTask;
        };
        _client.DisconnectedAsync += e =>
        {
            if (!_stop.IsCancellationRequested) Disconnected?.Invoke();
            return Task.CompletedTask;
        };
        if (persistentSession)
        {
            _client.DisconnectedAsync += e =>
            {
                if (!_stop.IsCancellationRequested && (_reconnect is null || _reconnect.IsCompleted)) _reconnect = Task.Run(ReconnectAsync);
                return Task.CompletedTask;
            };
        }
    }

    public static async Task<MqttCollector> StartAsync(int port, string filter, bool persistentSession = false)
    {
        var c = new MqttCollector(port, filter, persistentSession);
        await c._client.ConnectAsync(c._options);
        await c._client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder()
            .WithTopicFilter(f => f.WithTopic(filter).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)).Build());
        return c;
    }

    /// <summary>Waits (polling) until <paramref name="condition"/> holds over the messages so far.</summary>
    public async Task WaitUntilAsync(Func<IReadOnlyList<Received>, bool> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition(Messages.ToArray()))
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"Timed out after {timeout} waiting for {what}; got {Messages.Count} message(s).");
            await Task.Delay(25);
        }
    }

    private async Task ReconnectAsync()
    {
        while (!_stop.IsCancellationRequested && !_client.IsConnected)
        {
            try
            {
                var r = await _client.ConnectAsync(_options, _stop.Token);
                // A session the broker lost (it restarted without persistence) needs the subscription again.
                if (!r.IsSessionPresent)
                    await _client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder()
                        .WithTopicFilter(f => f.WithTopic(_filter).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)).Build());
            }
            catch (Exception ex) when (ex is MQTTnet.Exceptions.MqttCommunicationException or OperationCanceledException or InvalidOperationException)
            {
                await Task.Delay(100);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        if (_client.IsConnected)
            await _client.DisconnectAsync(new MqttClientDisconnectOptions());
        _client.Dispose();
    }
}
