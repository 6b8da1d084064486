namespace EdgeMask.IoTHub;

/// <summary>
/// A connection string, the <c>IOTEDGE_*</c> environment or the client options are wrong. <see cref="Key"/> names the
/// setting (connection-string key, environment variable or option) so the message tells the operator what to fix.
/// </summary>
public sealed class IoTHubConfigurationException : Exception
{
    public IoTHubConfigurationException(string key, string message) : base($"{key}: {message}") => Key = key;

    public string Key { get; }
}

/// <summary>The IoT Edge workload API (HTTP over the unix socket in <c>IOTEDGE_WORKLOADURI</c>) failed or answered badly.</summary>
public sealed class WorkloadApiException : Exception
{
    public WorkloadApiException(string message, int? statusCode = null, Exception? inner = null) : base(message, inner) =>
        StatusCode = statusCode;

    /// <summary>The HTTP status the workload API answered with, when it answered at all.</summary>
    public int? StatusCode { get; }
}

/// <summary>IoT Hub / edgeHub refused the connection (bad credentials, unknown identity) or it could not be made.</summary>
public sealed class IoTHubConnectionException : Exception
{
    public IoTHubConnectionException(string message, Exception? inner = null) : base(message, inner) { }
}

/// <summary>A twin request (GET or reported-properties PATCH) was answered with a non-success status or not answered in time.</summary>
public sealed class TwinOperationException : Exception
{
    public TwinOperationException(string message, int? status = null, Exception? inner = null, bool transient = false)
        : base(message, inner)
    {
        Status = status;
        IsTransient = transient || status is 429 or (>= 500 and <= 599);
    }

    /// <summary>The status in <c>$iothub/twin/res/{status}/</c>; null when no answer came (timeout, disconnect).</summary>
    public int? Status { get; }

    /// <summary>Throttled (429), a server error (5xx) or no answer in time: worth another try on the same connection.</summary>
    public bool IsTransient { get; }
}

/// <summary>A telemetry message cannot be sent as given (too large, bad output or property name).</summary>
public sealed class TelemetryRejectedException : Exception
{
    public TelemetryRejectedException(string message) : base(message) { }
}
