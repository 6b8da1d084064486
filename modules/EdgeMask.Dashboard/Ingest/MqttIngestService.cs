using System.Net.Sockets;
using EdgeMask.Dashboard.Options;
using MQTTnet;
using MQTTnet.Exceptions;
using MQTTnet.Packets;
using MQTTnet.Protocol;

namespace EdgeMask.Dashboard.Ingest;

/// <summary>
/// Subscribes to the contract topics and feeds the ingest. MQTTnet 5 has no managed client, so this owns the
/// reconnect loop: connect, subscribe, wait for the disconnect, back off (doubling, capped), repeat. The session is
/// persistent (clean start off, session expiry) so the broker queues QoS 1 messages while the dashboard is away.
/// </summary>
public sealed partial class MqttIngestService(
    MqttIngestOptions options,
    IngestPipeline pipeline,
    TimeProvider timeProvider,
    ILogger<MqttIngestService> logger) : BackgroundService
{
    private volatile bool _connected;
    private long _connections;

    public bool IsConnected => _connected;
    /// <summary>How many times a connection (and subscription) was established; a reconnect increments it.</summary>
    public long Connections => Interlocked.Read(ref _connections);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var client = new MqttClientFactory().CreateMqttClient();
        client.ApplicationMessageReceivedAsync += async args =>
        {
            var message = args.ApplicationMessage;
            if (!ContractTopics.TryParse(message.Topic, options.TopicRoot, out var kind, out var device, out var camera))
            {
                LogUnknownTopic(message.Topic);
                return;
            }
            var properties = new Dictionary<string, string>(StringComparer.Ordinal);
            if (message.UserProperties is { } userProperties)
            {
                foreach (var property in userProperties)
                {
                    properties[property.Name] = property.ReadValueAsString();
                }
            }
            try
            {
                await pipeline.IngestAsync(
                    new IngestMessage(kind, device, camera, System.Buffers.BuffersExtensions.ToArray(message.Payload), properties, "mqtt:" + message.Topic), stoppingToken);
            }
            catch (System.Data.Common.DbException ex)
            {
                // The store is down: the message is lost for this dashboard (it stays in the device's outbox/history).
                LogStoreFailed(message.Topic, ex.Message);
            }
        };

        var clientOptions = BuildClientOptions();
        var subscribe = new MqttClientSubscribeOptionsBuilder();
        foreach (var filter in ContractTopics.SubscriptionFilters(options.TopicRoot))
        {
            subscribe.WithTopicFilter(f => f.WithTopic(filter).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce));
        }
        var subscribeOptions = subscribe.Build();

        var delay = options.ReconnectMinDelay;
        while (!stoppingToken.IsCancellationRequested)
        {
            var disconnected = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            Task OnDisconnected(MqttClientDisconnectedEventArgs _)
            {
                disconnected.TrySetResult();
                return Task.CompletedTask;
            }
            client.DisconnectedAsync += OnDisconnected;
            try
            {
                var result = await client.ConnectAsync(clientOptions, stoppingToken);
                if (result.ResultCode != MqttClientConnectResultCode.Success)
                {
                    throw new MqttCommunicationException($"the broker refused the connection: {result.ResultCode} {result.ReasonString}");
                }
                // Subscribing again on a resumed session is harmless and covers a broker that lost it.
                await client.SubscribeAsync(subscribeOptions, stoppingToken);
                _connected = true;
                Interlocked.Increment(ref _connections);
                LogConnected(options.Host, options.Port, result.IsSessionPresent);
                delay = options.ReconnectMinDelay;
                await disconnected.Task.WaitAsync(stoppingToken);
                _connected = false;
                LogDisconnected(options.Host, options.Port);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex) when (ex is MqttCommunicationException or SocketException or IOException or OperationCanceledException)
            {
                _connected = false;
                LogConnectFailed(options.Host, options.Port, delay, ex.Message);
            }
            finally
            {
                client.DisconnectedAsync -= OnDisconnected;
            }
            try
            {
                await Task.Delay(delay, timeProvider, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, options.ReconnectMaxDelay.Ticks));
        }

        _connected = false;
        if (client.IsConnected)
        {
            await client.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().WithReason(MqttClientDisconnectOptionsReason.NormalDisconnection).Build(),
                CancellationToken.None);
        }
    }

    private MqttClientOptions BuildClientOptions()
    {
        var builder = new MqttClientOptionsBuilder()
            .WithTcpServer(options.Host, options.Port)
            .WithClientId(options.ClientId)
            .WithCleanStart(false)
            .WithSessionExpiryInterval((uint)options.SessionExpiry.TotalSeconds)
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

    [LoggerMessage(Level = LogLevel.Warning, Message = "MQTT ingest cannot connect to {Host}:{Port}, retrying in {Delay}: {Problem}")]
    private partial void LogConnectFailed(string host, int port, TimeSpan delay, string problem);

    [LoggerMessage(Level = LogLevel.Error, Message = "Could not store the message on {Topic}: {Problem}")]
    private partial void LogStoreFailed(string topic, string problem);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Ignored a message on {Topic}, which is not a contract topic")]
    private partial void LogUnknownTopic(string topic);
}
