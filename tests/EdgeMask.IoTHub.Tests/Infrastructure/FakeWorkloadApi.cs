using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace EdgeMask.IoTHub.Tests.Infrastructure;

/// <summary>
/// The IoT Edge security daemon's workload API (aziot-edged) as its code answers, served as raw HTTP/1.1 on a unix
/// domain socket in a temp folder; one request per connection (<c>Connection: close</c>). Read from Azure/iotedge
/// <c>edgelet/edgelet-http-workload</c> (module/data/sign.rs, trust_bundle.rs), <c>edgelet-http</c>'s ApiVersion and
/// Azure/iot-identity-service <c>http-common/src/server.rs</c>:
/// <list type="bullet">
/// <item><c>api-version</c> is required (400 "api-version not specified") and must be one edgelet knows (400 "invalid
/// api-version"); the routes exist from 2018-06-28 on.</item>
/// <item><c>POST ^/modules/{moduleId}/genid/{genId}/sign$</c>: a JSON body (content type application/json or none,
/// else the body counts as missing: 400) with <c>data</c> in base64 (unparseable JSON or no <c>data</c>: 422; bad
/// base64: 400) → <c>{"digest": base64 HMAC-SHA256}</c>. The caller must be that module (edgelet checks the caller's
/// process; here the module id): 403. Older daemons also refused a stale generation id (404 "Module not found"), which
/// this one keeps doing so a module that caches it is caught.</item>
/// <item><c>GET ^/trust-bundle$</c> → <c>{"certificate": PEM}</c>. Anything else: 404 "not found"; another method on a
/// route: 400 "method not allowed". Errors are <c>{"message": …}</c>.</item>
/// </list>
/// </summary>
internal sealed partial class FakeWorkloadApi : IAsyncDisposable
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

    private static readonly string[] KnownApiVersions =
        ["2018-06-28", "2019-01-30", "2019-10-22", "2019-11-05", "2020-07-07", "2020-10-10", "2021-12-07", "2022-08-03"];

    private (int Status, JsonObject Body) Handle(string requestLine, Dictionary<string, string> headers, byte[] body)
    {
        var parts = requestLine.Split(' ');
        if (parts.Length != 3 || parts[2] != "HTTP/1.1")
        {
            return (400, Error("bad request line"));
        }

        var (method, target) = (parts[0], parts[1]);
        var q = target.IndexOf('?');
        var path = q < 0 ? target : target[..q];
        var query = q < 0 ? "" : target[(q + 1)..];
        var apiVersion = query.Split('&').Where(p => p.StartsWith("api-version=", StringComparison.Ordinal))
            .Select(p => Uri.UnescapeDataString(p["api-version=".Length..])).FirstOrDefault();
        if (apiVersion is null)
        {
            return (400, Error("api-version not specified"));
        }

        if (!KnownApiVersions.Contains(apiVersion))
        {
            return (400, Error($"invalid api-version \"{apiVersion}\""));
        }

        if (path == "/trust-bundle")
        {
            if (method != "GET")
            {
                return (400, Error("method not allowed"));
            }

            Interlocked.Increment(ref _trustBundleCount);
            return (200, new JsonObject { ["certificate"] = _trustBundlePem });
        }

        var sign = SignPath().Match(path);
        if (!sign.Success)
        {
            return (404, Error("not found"));
        }

        if (method != "POST")
        {
            return (400, Error("method not allowed"));
        }

        var name = Uri.UnescapeDataString(sign.Groups["moduleId"].Value);
        if (name != _moduleId)
        {
            return (403, Error($"Module {name} is not authorized to sign as this caller"));
        }

        if (Uri.UnescapeDataString(sign.Groups["genId"].Value) != _generationId)
        {
            return (404, Error($"Module not found: {name} / {sign.Groups["genId"].Value}"));
        }

        var contentType = headers.GetValueOrDefault("content-type");
        if (body.Length == 0 || (contentType is not null && contentType.Split(';')[0].Trim() != "application/json"))
        {
            return (400, Error("missing request body"));
        }

        string? data;
        try
        {
            data = (JsonNode.Parse(body) as JsonObject)?["data"]?.GetValue<string>();
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            return (422, Error(e.Message));
        }

        if (data is null)
        {
            return (422, Error("missing field `data`"));
        }

        byte[] bytes;
        try
        {
            bytes = Convert.FromBase64String(data);
        }
        catch (FormatException)
        {
            return (400, Error("invalid base64 in data"));
        }

        Interlocked.Increment(ref _signCount);
        return (200, new JsonObject { ["digest"] = Convert.ToBase64String(HMACSHA256.HashData(_key, bytes)) });
    }

    [System.Text.RegularExpressions.GeneratedRegex("^/modules/(?<moduleId>[^/]+)/genid/(?<genId>[^/]+)/sign$")]
    private static partial System.Text.RegularExpressions.Regex SignPath();

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
