using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace EdgeMask.IoTHub.Tests.Infrastructure;

/// <summary>
/// The IoT Edge security daemon's workload API as documented in Azure/iotedge <c>edgelet/api/workloadVersion_2019_01_30.yaml</c>,
/// served as raw HTTP/1.1 on a unix domain socket in a temp folder:
/// <c>POST /modules/{name}/genid/{genid}/sign?api-version=…</c> (SignRequest keyId/algo/data → SignResponse digest),
/// <c>GET /trust-bundle?api-version=…</c> (TrustBundleResponse certificate), errors as <c>{"message":…}</c>.
/// One request per connection (<c>Connection: close</c>), which HTTP/1.1 clients handle.
/// </summary>
internal sealed class FakeWorkloadApi : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _acceptLoop;
    private readonly string _directory;
    private readonly string _moduleId;
    private readonly string _generationId;
    private readonly byte[] _key;
    private readonly string _trustBundlePem;
    private int _signCount;
    private int _trustBundleCount;

    public FakeWorkloadApi(string moduleId, string generationId, byte[] key, string trustBundlePem)
    {
        _moduleId = moduleId;
        _generationId = generationId;
        _key = key;
        _trustBundlePem = trustBundlePem;
        // Unix socket paths are limited to ~100 bytes: keep the folder short.
        _directory = Path.Combine(Path.GetTempPath(), "emw-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(_directory);
        SocketPath = Path.Combine(_directory, "workload.sock");
        _listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        _listener.Bind(new UnixDomainSocketEndPoint(SocketPath));
        _listener.Listen(16);
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    public string SocketPath { get; }

    public Uri Uri => new("unix://" + SocketPath);

    public int SignCount => _signCount;

    public int TrustBundleCount => _trustBundleCount;

    public System.Collections.Concurrent.ConcurrentQueue<string> RequestLines { get; } = new();

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_stop.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (SocketException)
            {
                return;
            }

            _ = Task.Run(() => ServeAsync(client));
        }
    }

    private async Task ServeAsync(Socket client)
    {
        using (client)
        await using (var stream = new NetworkStream(client, ownsSocket: false))
        {
            var (requestLine, headers, body) = await ReadRequestAsync(stream);
            if (requestLine is null)
            {
                return;
            }

            RequestLines.Enqueue(requestLine);
            var (status, json) = Handle(requestLine, headers, body);
            var payload = Encoding.UTF8.GetBytes(json.ToJsonString());
            var head = $"HTTP/1.1 {status} {(status == 200 ? "OK" : "Error")}\r\nContent-Type: application/json\r\n" +
                       $"Content-Length: {payload.Length}\r\nConnection: close\r\n\r\n";
            await stream.WriteAsync(Encoding.ASCII.GetBytes(head));
            await stream.WriteAsync(payload);
            await stream.FlushAsync();
        }
    }

    private (int Status, JsonObject Body) Handle(string requestLine, Dictionary<string, string> headers, byte[] body)
    {
        var parts = requestLine.Split(' ');
        if (parts.Length != 3)
        {
            return (400, Error("bad request line"));
        }

        var (method, target) = (parts[0], parts[1]);
        var q = target.IndexOf('?');
        var path = q < 0 ? target : target[..q];
        var query = q < 0 ? "" : target[(q + 1)..];
        if (!query.Split('&').Any(p => p.StartsWith("api-version=", StringComparison.Ordinal) && p.Length > "api-version=".Length))
        {
            return (400, Error("api-version is required"));
        }

        var segments = path.Trim('/').Split('/');
        if (method == "GET" && path == "/trust-bundle")
        {
            Interlocked.Increment(ref _trustBundleCount);
            return (200, new JsonObject { ["certificate"] = _trustBundlePem });
        }

        if (method == "POST" && segments is ["modules", var name, "genid", var genid, "sign"])
        {
            if (Uri.UnescapeDataString(name) != _moduleId || Uri.UnescapeDataString(genid) != _generationId)
            {
                return (404, Error($"Module not found: {name} / {genid}"));
            }

            if (!headers.TryGetValue("content-type", out var ct) || !ct.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
            {
                return (400, Error("content type must be application/json"));
            }

            JsonObject? request;
            try
            {
                request = JsonNode.Parse(body) as JsonObject;
            }
            catch (JsonException)
            {
                request = null;
            }

            if (request?["keyId"]?.GetValue<string>() is not "primary" || request["algo"]?.GetValue<string>() is not "HMACSHA256" ||
                request["data"]?.GetValue<string>() is not { } data)
            {
                return (400, Error("expected keyId=primary, algo=HMACSHA256, data"));
            }

            Interlocked.Increment(ref _signCount);
            var digest = HMACSHA256.HashData(_key, Convert.FromBase64String(data));
            return (200, new JsonObject { ["digest"] = Convert.ToBase64String(digest) });
        }

        return (404, Error($"no route for {method} {path}"));
    }

    private static JsonObject Error(string message) => new() { ["message"] = message };

    private static async Task<(string? RequestLine, Dictionary<string, string> Headers, byte[] Body)> ReadRequestAsync(Stream stream)
    {
        var buffer = new List<byte>();
        var one = new byte[1];
        while (!EndsWithBlankLine(buffer))
        {
            if (await stream.ReadAsync(one) == 0)
            {
                return (null, new(), []);
            }

            buffer.Add(one[0]);
        }

        var lines = Encoding.ASCII.GetString(buffer.ToArray()).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var line in lines.Skip(1))
        {
            var colon = line.IndexOf(':');
            if (colon > 0)
            {
                headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
            }
        }

        var length = headers.TryGetValue("content-length", out var cl) ? int.Parse(cl) : 0;
        var body = new byte[length];
        var read = 0;
        while (read < length)
        {
            var n = await stream.ReadAsync(body.AsMemory(read));
            if (n == 0)
            {
                break;
            }

            read += n;
        }

        return (lines[0], headers, body);
    }

    private static bool EndsWithBlankLine(List<byte> b) =>
        b.Count >= 4 && b[^4] == '\r' && b[^3] == '\n' && b[^2] == '\r' && b[^1] == '\n';

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Dispose();
        await _acceptLoop;
        _stop.Dispose();
        Directory.Delete(_directory, recursive: true);
    }
}
