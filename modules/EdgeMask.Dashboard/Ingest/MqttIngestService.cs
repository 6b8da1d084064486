using System.Net.Sockets;
using System.Threading.Channels;
using EdgeMask.Core.Resilience;
using EdgeMask.Dashboard.Options;
using MQTTnet;
using MQTTnet.Exceptions;
using MQTTnet.Packets;
using MQTTnet.Protocol;

namespace EdgeMask.Dashboard.Ingest;

/// <summary>
/// Subscribes to the contract topics and feeds the ingest in batches. A message is acknowledged (PUBACK) only after
/// the transaction that stored it committed, so a crash or a database outage never loses what the broker handed
/// over: the broker redelivers it to the persistent session, and the idempotent store absorbs the repeat. While a
/// batch is written the broker keeps sending up to the in-flight window, which becomes the next batch.
/// MQTTnet 5 has no managed client, so this owns the reconnect loop; its back-off is <see cref="RetryPolicy"/>.
/// </summary>
public sealed partial class MqttIngestService(
    MqttIngestOptions options,
    IngestPipeline pipeline,
    TimeProvider timeProvider,
    ILogger<MqttIngestService> logger) : BackgroundService, IIngestHealth
{
    private readonly Channel<(IngestMessage Message, MqttApplicationMessageReceivedEventArgs Delivery)> _received =
        Channel.CreateUnbounded<(IngestMessage, MqttApplicationMessageReceivedEventArgs)>(new UnboundedChannelOptions { SingleReader = true });
    private volatile bool _connected;
    private long _connections;
    private long _pending;
    private long _acknowledged;
    private TaskCompletionSource _disconnected = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public bool IsConnected => _connected;
    /// <summary>How many times a connection (and subscription) was established; a reconnect increments it.</summary>
    public long Connections => Interlocked.Read(ref _connections);

    /// <summary>Messages received and not yet stored (the broker holds them unacknowledged).</summary>
    public long Pending => Interlocked.Read(ref _pending);
    /// <summary>Messages acknowledged to the broker after they were stored.</summary>
    public long Acknowledged => Interlocked.Read(ref _acknowledged);

    public string Name => "mqtt";
    public bool IsHealthy => _connected;
    public string Describe() => _connected ? $"connected to {options.Host}:{options.Port}" : $"not connected to {options.Host}:{options.Port}";

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var client = new MqttClientFactory().CreateMqttClient();
        client.ApplicationMessageReceivedAsync += args => OnReceivedAsync(args, stoppingToken);
        client.DisconnectedAsync += _ =>
        {
            _disconnected.TrySetResult();
            return Task.CompletedTask;
        };
        var writer = Task.Run(() => WriteBatchesAsync(stoppingToken), CancellationToken.None);

        var clientOptions = BuildClientOptions();
        var subscribe = new MqttClientSubscribeOptionsBuilder();
        foreach (var filter in ContractTopics.SubscriptionFilters(options.TopicRoot))
        {
            subscribe.WithTopicFilter(f => f.WithTopic(filter).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce));
        }
        var subscribeOptions = subscribe.Build();
        var connect = RetryPolicy.Create(options.Reconnect, timeProvider,
            e => e is MqttCommunicationException or SocketException or IOException or TimeoutException,
            attempt => LogConnectFailed(options.Host, options.Port, attempt.Delay.TotalSeconds, attempt.Error.Message));

        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                // One ExecuteAsync per outage: the back-off starts again from ReconnectMinDelay after a good connection.
                var sessionPresent = await connect.ExecuteAsync(async token =>
                {
                    _disconnected = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    var result = await client.ConnectAsync(clientOptions, token);
                    if (result.ResultCode != MqttClientConnectResultCode.Success)
                    {
                        throw new MqttCommunicationException($"the broker refused the connection: {result.ResultCode} {result.ReasonString}");
                    }
                    // Subscribing again on a resumed session is harmless and covers a broker that lost it.
                    await client.SubscribeAsync(subscribeOptions, token);
                    return result.IsSessionPresent;
                }, stoppingToken);
                _connected = true;
                Interlocked.Increment(ref _connections);
                LogConnected(options.Host, options.Port, sessionPresent);
                await _disconnected.Task.WaitAsync(stoppingToken);
                _connected = false;
                LogDisconnected(options.Host, options.Port);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
        }

        _connected = false;
        _received.Writer.TryComplete();
        await writer;
        if (client.IsConnected)
        {
            await client.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().WithReason(MqttClientDisconnectOptionsReason.NormalDisconnection).Build(),
                CancellationToken.None);
        }
    }

    private Task OnReceivedAsync(MqttApplicationMessageReceivedEventArgs args, CancellationToken stoppingToken)
    {
        var message = args.ApplicationMessage;
        if (!ContractTopics.TryParse(message.Topic, options.TopicRoot, out var kind, out var device, out var camera))
        {
            LogUnknownTopic(message.Topic);
            return Task.CompletedTask;
        }
        var properties = new Dictionary<string, string>(StringComparer.Ordinal);
        if (message.UserProperties is { } userProperties)
        {
            foreach (var property in userProperties)
            {
                properties[property.Name] = property.ReadValueAsString();
            }
        }
        // The PUBACK waits for the commit (WriteBatchesAsync).
        args.AutoAcknowledge = false;
        var item = new IngestMessage(kind, device, camera, System.Buffers.BuffersExtensions.ToArray(message.Payload), properties, "mqtt:" + message.Topic);
        Interlocked.Increment(ref _pending);
        return _received.Writer.WriteAsync((item, args), stoppingToken).AsTask();
    }

    private async Task WriteBatchesAsync(CancellationToken stoppingToken)
    {
        var store = RetryPolicy.Create(options.Reconnect, timeProvider, e => e is System.Data.Common.DbException or TimeoutException,
            attempt => LogStoreFailed(attempt.Attempt, attempt.Delay.TotalSeconds, attempt.Error.Message));
        var batch = new List<(IngestMessage Message, MqttApplicationMessageReceivedEventArgs Delivery)>(options.BatchSize);
        try
        {
            while (await _received.Reader.WaitToReadAsync(stoppingToken))
            {
                batch.Clear();
                while (batch.Count < options.BatchSize && _received.Reader.TryRead(out var item))
                {
                    batch.Add(item);
                }
                var messages = batch.Select(b => b.Message).ToList();
                await store.ExecuteAsync(async token => await pipeline.IngestBatchAsync(messages, token), stoppingToken);
                Interlocked.Add(ref _pending, -batch.Count);
                foreach (var (_, delivery) in batch)
                {
                    try
                    {
                        await delivery.AcknowledgeAsync(stoppingToken);
                        Interlocked.Increment(ref _acknowledged);
                    }
                    catch (MqttCommunicationException)
                    {
                        // The connection went while the batch was written: the broker redelivers to the session, and
                        // the store already has these messages, so the redelivery is counted as a duplicate.
                    }
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Unacknowledged messages stay with the broker for the next start.
        }
        catch (Exception ex)
        {
            LogWriterFailed(ex);
            throw;
        }
    }

    private MqttClientOptions BuildClientOptions()
    {
        var builder = new MqttClientOptionsBuilder()
            .WithTcpServer(options.Host, options.Port)
            .WithClientId(options.ClientId)
            .WithCleanStart(false)
            .WithSessionExpiryInterval((uint)options.SessionExpiry.TotalSeconds)
            // How many unacknowledged QoS 1 messages the broker may have in flight to us: two batches' worth.
            .WithReceiveMaximum((ushort)Math.Min(ushort.MaxValue, options.BatchSize * 2))
            .WithTimeout(TimeSpan.FromSeconds(10));
        if (!string.IsNullOrEmpty(options.Username))
        {
            builder = builder.WithCredentials(options.Username, options.Password);
        }
        if (options.UseTls)
        {
            builder = builder.WithTlsOptions(tls => tls.UseTls());
        }
        return builder.Build();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "MQTT ingest connected to {Host}:{Port} (session present: {SessionPresent})")]
    private partial void LogConnected(string host, int port, bool sessionPresent);

    [LoggerMessage(Level = LogLevel.Warning, Message = "MQTT ingest lost the connection to {Host}:{Port}")]
    private partial void LogDisconnected(string host, int port);

    [LoggerMessage(Level = LogLevel.Warning, Message = "MQTT ingest cannot connect to {Host}:{Port}, retrying in {DelaySeconds:0.0} s: {Problem}")]
    private partial void LogConnectFailed(string host, int port, double delaySeconds, string problem);

    [LoggerMessage(Level = LogLevel.Error, Message = "Could not store an MQTT batch (retry {Attempt} in {DelaySeconds:0.0} s; the messages stay unacknowledged): {Problem}")]
    private partial void LogStoreFailed(int attempt, double delaySeconds, string problem);

    [LoggerMessage(Level = LogLevel.Critical, Message = "MQTT ingest stopped storing messages")]
    private partial void LogWriterFailed(Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Ignored a message on {Topic}, which is not a contract topic")]
    private partial void LogUnknownTopic(string topic);
}
