using EdgeMask.IoTHub.Methods;
using Microsoft.Extensions.Logging;
using MQTTnet.Protocol;

namespace EdgeMask.IoTHub.Mqtt;

/// <summary>
/// Direct methods: <c>$iothub/methods/POST/{name}/?$rid={rid}</c> in, the dispatcher's status and JSON body out on
/// <c>$iothub/methods/res/{status}/?$rid={rid}</c>. Each call runs off the MQTT receive loop, so a slow handler holds up
/// neither twin answers nor other calls.
/// </summary>
internal sealed class MethodChannel : IConnectionChannel
{
    private readonly IoTHubConnection _connection;
    private readonly DirectMethodDispatcher _dispatcher;
    private readonly ILogger _logger;
    private readonly CancellationToken _stopping;

    public MethodChannel(IoTHubConnection connection, DirectMethodDispatcher dispatcher, ILogger logger, CancellationToken stopping)
    {
        _connection = connection;
        _dispatcher = dispatcher;
        _logger = logger;
        _stopping = stopping;
    }

    public IReadOnlyList<string> TopicFilters { get; } = [IoTHubTopics.MethodRequestFilter];

    public void OnConnected(ConnectionContext connection)
    {
        // Method calls need no set-up: the subscription is all, and calls made while away are not redelivered.
    }

    public void OnDisconnected(string reason)
    {
        // Calls in flight finish; their answers are dropped by PublishAsync when the connection is gone.
    }

    public bool TryHandle(string topic, byte[] payload)
    {
        if (!IoTHubTopics.TryParseMethodRequest(topic, out var method, out var rid))
        {
            return false;
        }

        _ = Task.Run(() => AnswerAsync(method, rid, payload), CancellationToken.None);
        return true;
    }

    private async Task AnswerAsync(string method, string rid, byte[] payload)
    {
        try
        {
            var response = await _dispatcher.DispatchAsync(method, payload, _stopping).ConfigureAwait(false);
            var (status, body) = DirectMethodDispatcher.Serialize(response);
            _logger.LogInformation("Direct method {Method} answered {Status}", method, status);
            await _connection.PublishAsync(IoTHubTopics.MethodResponse(status, rid), body, MqttQualityOfServiceLevel.AtMostOnce, _stopping)
                .ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
            _logger.LogDebug("Direct method {Method} abandoned: client stopping", method);
        }
        catch (IoTHubConnectionException e)
        {
            _logger.LogWarning(e, "The answer to direct method {Method} ($rid={Rid}) could not be sent", method, rid);
        }
    }
}
