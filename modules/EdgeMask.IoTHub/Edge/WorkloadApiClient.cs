using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;

namespace EdgeMask.IoTHub.Edge;

/// <summary>
/// Client of the IoT Edge workload API (swagger <c>workloadVersion_2019_01_30.yaml</c> in Azure/iotedge): HTTP/1.1 over
/// the unix socket in <c>IOTEDGE_WORKLOADURI</c> (or plain http on hosts that expose it on TCP).
/// <list type="bullet">
/// <item><c>POST /modules/{name}/genid/{genid}/sign?api-version=…</c> with <c>{"keyId":"primary","algo":"HMACSHA256","data":"&lt;base64&gt;"}</c> → <c>{"digest":"&lt;base64&gt;"}</c></item>
/// <item><c>GET /trust-bundle?api-version=…</c> → <c>{"certificate":"&lt;PEM&gt;"}</c></item>
/// </list>
/// Errors come back as <c>{"message":"…"}</c>.
/// </summary>
public sealed class WorkloadApiClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly string _apiVersion;

    public WorkloadApiClient(Uri workloadUri, string apiVersion = IoTEdgeEnvironment.DefaultWorkloadApiVersion, TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(workloadUri);
        _apiVersion = apiVersion;
        HttpMessageHandler handler;
        Uri baseAddress;
        if (workloadUri.Scheme == "unix")
        {
            var socketPath = workloadUri.LocalPath;
            handler = new SocketsHttpHandler
            {
                // Every request goes to the socket; the host in the request URI is only a placeholder for the Host header.
                ConnectCallback = async (_, ct) =>
                {
                    var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                    try
                    {
                        await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), ct).ConfigureAwait(false);
                        return new NetworkStream(socket, ownsSocket: true);
                    }
                    catch (SocketException)
                    {
                        socket.Dispose();
                        throw;
                    }
                },
                PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            };
            baseAddress = new Uri("http://workload.sock/");
        }
        else if (workloadUri.Scheme == "http")
        {
            handler = new SocketsHttpHandler();
            baseAddress = new Uri(workloadUri.GetLeftPart(UriPartial.Authority) + "/");
        }
        else
        {
            throw new IoTHubConfigurationException(IoTEdgeEnvironment.WorkloadUriVariable, $"unsupported scheme '{workloadUri.Scheme}'.");
        }

        _http = new HttpClient(handler, disposeHandler: true) { BaseAddress = baseAddress, Timeout = timeout ?? TimeSpan.FromSeconds(30) };
    }

    public static WorkloadApiClient FromEnvironment(IoTEdgeEnvironment environment) =>
        new(environment.WorkloadUri, environment.ApiVersion);

    /// <summary>HMAC-SHA256 of <paramref name="data"/> with the module's key (which never leaves the security daemon).</summary>
    /// <returns>The digest as base64, as the API returns it.</returns>
    public async Task<string> SignAsync(string moduleId, string generationId, ReadOnlyMemory<byte> data,
        CancellationToken cancellationToken, string keyId = "primary")
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(moduleId);
        ArgumentException.ThrowIfNullOrWhiteSpace(generationId);
        var body = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, string>
        {
            ["keyId"] = keyId,
            ["algo"] = "HMACSHA256",
            ["data"] = Convert.ToBase64String(data.Span),
        });
        var path = $"modules/{Uri.EscapeDataString(moduleId)}/genid/{Uri.EscapeDataString(generationId)}/sign?api-version={Uri.EscapeDataString(_apiVersion)}";
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        using var doc = await SendAsync(HttpMethod.Post, path, content, cancellationToken).ConfigureAwait(false);
        if (doc.RootElement.ValueKind != JsonValueKind.Object ||
            !doc.RootElement.TryGetProperty("digest", out var digest) || digest.ValueKind != JsonValueKind.String)
        {
            throw new WorkloadApiException("The workload API's sign response has no string 'digest'.");
        }

        var text = digest.GetString()!;
        Span<byte> scratch = stackalloc byte[64];
        if (!Convert.TryFromBase64String(text, scratch, out var length) || length != 32)
        {
            throw new WorkloadApiException("The workload API's sign digest is not a base64 HMAC-SHA256 (32 bytes).");
        }

        return text;
    }

    /// <summary>The CA certificates that anchor edgeHub's server certificate.</summary>
    public async Task<X509Certificate2Collection> GetTrustBundleAsync(CancellationToken cancellationToken)
    {
        using var doc = await SendAsync(HttpMethod.Get, $"trust-bundle?api-version={Uri.EscapeDataString(_apiVersion)}", null, cancellationToken)
            .ConfigureAwait(false);
        if (doc.RootElement.ValueKind != JsonValueKind.Object ||
            !doc.RootElement.TryGetProperty("certificate", out var certificate) || certificate.ValueKind != JsonValueKind.String)
        {
            throw new WorkloadApiException("The workload API's trust-bundle response has no string 'certificate'.");
        }

        return ParsePemBundle(certificate.GetString()!);
    }

    /// <summary>
    /// The swagger calls the field "base64 encoded PEM", while the daemon and the SDKs send the PEM text itself;
    /// both are accepted.
    /// </summary>
    internal static X509Certificate2Collection ParsePemBundle(string text)
    {
        var pem = text;
        if (!text.Contains("-----BEGIN", StringComparison.Ordinal))
        {
            try
            {
                pem = Encoding.UTF8.GetString(Convert.FromBase64String(text));
            }
            catch (FormatException e)
            {
                throw new WorkloadApiException("The trust bundle is neither PEM nor base64-encoded PEM.", inner: e);
            }
        }

        var collection = new X509Certificate2Collection();
        try
        {
            collection.ImportFromPem(pem);
        }
        catch (System.Security.Cryptography.CryptographicException e)
        {
            throw new WorkloadApiException("The trust bundle holds a certificate that cannot be read.", inner: e);
        }

        if (collection.Count == 0)
        {
            throw new WorkloadApiException("The trust bundle holds no certificate.");
        }

        return collection;
    }

    private async Task<JsonDocument> SendAsync(HttpMethod method, string path, HttpContent? content, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(method, path) { Content = content };
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, ct).ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            throw new WorkloadApiException($"The workload API could not be reached ({e.Message}).", inner: e);
        }
        catch (TaskCanceledException e) when (!ct.IsCancellationRequested)
        {
            throw new WorkloadApiException("The workload API did not answer in time.", inner: e);
        }

        using (response)
        {
            var bytes = await response.Content.ReadAsByteArrayAsync(ct).ConfigureAwait(false);
            if (response.StatusCode != HttpStatusCode.OK && response.StatusCode != HttpStatusCode.Created)
            {
                throw new WorkloadApiException(
                    $"The workload API answered {(int)response.StatusCode} to {method} /{path.Split('?')[0]}: {ErrorMessage(bytes)}",
                    (int)response.StatusCode);
            }

            try
            {
                return JsonDocument.Parse(bytes);
            }
            catch (JsonException e)
            {
                throw new WorkloadApiException($"The workload API's answer to /{path.Split('?')[0]} is not JSON.", (int)response.StatusCode, e);
            }
        }
    }

    private static string ErrorMessage(byte[] body)
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("message", out var m))
            {
                return m.ToString();
            }
        }
        catch (JsonException)
        {
            // Not the documented {"message": …} shape: fall through to the raw text, it is still the best clue.
        }

        var text = Encoding.UTF8.GetString(body);
        return text.Length > 200 ? text[..200] : text;
    }

    public void Dispose() => _http.Dispose();
}
