using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;

namespace EdgeMask.IoTHub.Methods;

/// <summary>
/// Handles one direct method. <paramref name="payload"/> is the request body (JSON <c>null</c> when the hub sent an
/// empty body). Throw <see cref="DirectMethodArgumentException"/> for a bad request (→ 400).
/// </summary>
public delegate Task<MethodResponse> DirectMethodHandler(JsonElement payload, CancellationToken cancellationToken);

/// <summary>A direct method's answer: the status published in <c>$iothub/methods/res/{status}/</c> and a JSON body.</summary>
public sealed record MethodResponse(int Status, JsonNode? Body)
{
    public static MethodResponse Ok(JsonNode? body = null) => new(200, body);

    public static MethodResponse Error(int status, string error, string message, JsonObject? details = null)
    {
        var body = new JsonObject { ["error"] = error, ["message"] = message };
        if (details is not null)
        {
            body["details"] = details;
        }

        return new MethodResponse(status, body);
    }

    public static MethodResponse BadRequest(string message, IReadOnlyDictionary<string, string>? errors = null)
    {
        JsonObject? details = null;
        if (errors is { Count: > 0 })
        {
            details = new JsonObject();
            foreach (var (key, value) in errors)
            {
                details[key] = value;
            }
        }

        return Error(400, "badRequest", message, details);
    }
}

/// <summary>The method's request is invalid: answered with 400 and the per-key errors.</summary>
public sealed class DirectMethodArgumentException : Exception
{
    public DirectMethodArgumentException(string message, IReadOnlyDictionary<string, string>? errors = null) : base(message) =>
        Errors = errors ?? new Dictionary<string, string>();

    public IReadOnlyDictionary<string, string> Errors { get; }
}

/// <summary>
/// Routes method calls to the registered handlers and turns every outcome into a status and a JSON body:
/// unknown method → 404, body that is not JSON → 400, <see cref="DirectMethodArgumentException"/> → 400,
/// handler exceeding <see cref="Timeout"/> → 504, any other handler exception → 500. It throws only
/// <see cref="OperationCanceledException"/> when the caller's token is cancelled (shutdown), so a hostile or broken
/// caller cannot take the module down.
/// </summary>
public sealed class DirectMethodDispatcher
{
    /// <summary>IoT Hub's documented limit for a method's request and response payloads.</summary>
    public const int MaxPayloadBytes = 128 * 1024;

    private readonly ConcurrentDictionary<string, DirectMethodHandler> _handlers = new(StringComparer.Ordinal);
    private readonly ILogger _logger;

    public DirectMethodDispatcher(ILogger logger, TimeSpan? timeout = null)
    {
        _logger = logger;
        Timeout = timeout ?? TimeSpan.FromSeconds(30);
    }

    public TimeSpan Timeout { get; }

    public IReadOnlyCollection<string> MethodNames => _handlers.Keys.ToArray();

    /// <summary>Registers (or replaces) the handler of <paramref name="methodName"/>; method names are case-sensitive.</summary>
    public void Register(string methodName, DirectMethodHandler handler)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(methodName);
        ArgumentNullException.ThrowIfNull(handler);
        if (methodName.Contains('/') || methodName.Contains('?'))
        {
            throw new ArgumentException("A method name cannot contain '/' or '?': it is a topic segment.", nameof(methodName));
        }

        _handlers[methodName] = handler;
    }

    public async Task<MethodResponse> DispatchAsync(string methodName, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        if (!_handlers.TryGetValue(methodName, out var handler))
        {
            return MethodResponse.Error(404, "unknownMethod", $"No method named '{Truncate(methodName)}'. Known: {string.Join(", ", _handlers.Keys.Order())}.");
        }

        if (payload.Length > MaxPayloadBytes)
        {
            return MethodResponse.Error(400, "payloadTooLarge", $"The payload exceeds {MaxPayloadBytes} bytes.");
        }

        if (!System.Text.Unicode.Utf8.IsValid(payload.Span))
        {
            // System.Text.Json defers validating property names until they are read; refuse bad UTF-8 up front.
            return MethodResponse.Error(400, "malformedPayload", "The payload is not valid UTF-8.");
        }

        JsonDocument document;
        try
        {
            // The documentation promises "either a valid JSON or an empty body"; an empty body is passed on as JSON null.
            document = payload.IsEmpty || IsWhiteSpace(payload.Span)
                ? JsonDocument.Parse("null")
                : JsonDocument.Parse(payload, new JsonDocumentOptions { MaxDepth = 32 });
        }
        catch (JsonException e)
        {
            return MethodResponse.Error(400, "malformedPayload", $"The payload is not valid JSON: {e.Message}");
        }

        using (document)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(Timeout);
            try
            {
                var response = await handler(document.RootElement, timeout.Token).ConfigureAwait(false);
                return response ?? MethodResponse.Ok();
            }
            catch (DirectMethodArgumentException e)
            {
                return MethodResponse.BadRequest(e.Message, e.Errors);
            }
            catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                _logger.LogWarning("Direct method {Method} did not finish within {Timeout}", methodName, Timeout);
                return MethodResponse.Error(504, "timeout", $"The method did not finish within {Timeout.TotalSeconds:0} s.");
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                // A handler bug must become a 500 for the caller, not an unobserved fault in the MQTT receive path.
                _logger.LogError(e, "Direct method {Method} failed", methodName);
                return MethodResponse.Error(500, "internalError", $"{e.GetType().Name}: {e.Message}");
            }
        }
    }

    /// <summary>Serializes a response body; an over-long body becomes a 500 so the answer still fits IoT Hub's limit.</summary>
    public static (int Status, byte[] Body) Serialize(MethodResponse response)
    {
        var body = response.Body is null ? "null"u8.ToArray() : JsonSerializer.SerializeToUtf8Bytes(response.Body);
        if (body.Length > MaxPayloadBytes)
        {
            var error = MethodResponse.Error(500, "responseTooLarge", $"The response exceeds {MaxPayloadBytes} bytes.");
            return (500, JsonSerializer.SerializeToUtf8Bytes(error.Body));
        }

        return (response.Status, body);
    }

    private static bool IsWhiteSpace(ReadOnlySpan<byte> span)
    {
        foreach (var b in span)
        {
            if (b is not ((byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n'))
            {
                return false;
            }
        }

        return true;
    }

    private static string Truncate(string s) => s.Length > 64 ? s[..64] + "…" : s;
}
