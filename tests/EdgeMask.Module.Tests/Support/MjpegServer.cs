using System.Net;
using OpenCvSharp;

namespace EdgeMask.Module.Tests.Support;

/// <summary>
/// An HTTP MJPEG camera, as many IP cameras serve one: <c>multipart/x-mixed-replace; boundary=frame</c> with one
/// <c>image/jpeg</c> part per frame, here the first frames of the sample video in a loop at 15 frames/s. Start and stop
/// it to play a camera that is down, comes up, or goes away.
/// </summary>
internal sealed class MjpegServer : IAsyncDisposable
{
    private readonly List<byte[]> _frames = [];
    private HttpListener? _listener;
    private CancellationTokenSource? _stop;
    private Task? _accepting;

    public MjpegServer(int port, int frames = 60)
    {
        Port = port;
        using var video = new VideoCapture(EdgeMask.Tests.Shared.TestPaths.SampleVideo);
        using var image = new Mat();
        for (int i = 0; i < frames && video.Read(image) && !image.Empty(); i++)
            _frames.Add(image.ImEncode(".jpg", new ImageEncodingParam(ImwriteFlags.JpegQuality, 80)));
    }

    public int Port { get; }
    public string Url => $"http://127.0.0.1:{Port}/cam.mjpg";

    /// <summary>Clients served so far.</summary>
    public int Clients;

    public void Start()
    {
        _stop = new CancellationTokenSource();
        _listener = new HttpListener();
        _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
        _listener.Start();
        _accepting = Task.Run(() => AcceptAsync(_listener, _stop.Token));
    }

    private async Task AcceptAsync(HttpListener listener, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            HttpListenerContext context;
            try
            {
                context = await listener.GetContextAsync().WaitAsync(ct);
            }
            catch (Exception e) when (e is OperationCanceledException or HttpListenerException or ObjectDisposedException)
            {
                return;
            }
            Interlocked.Increment(ref Clients);
            _ = Task.Run(() => ServeAsync(context, ct), CancellationToken.None);
        }
    }

    private async Task ServeAsync(HttpListenerContext context, CancellationToken ct)
    {
        var response = context.Response;
        response.ContentType = "multipart/x-mixed-replace; boundary=frame";
        response.SendChunked = true;
        try
        {
            var output = response.OutputStream;
            using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1 / 15.0));
            for (int i = 0; !ct.IsCancellationRequested; i++)
            {
                var jpeg = _frames[i % _frames.Count];
                var header = System.Text.Encoding.ASCII.GetBytes($"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {jpeg.Length}\r\n\r\n");
                await output.WriteAsync(header, ct);
                await output.WriteAsync(jpeg, ct);
                await output.WriteAsync("\r\n"u8.ToArray(), ct);
                await output.FlushAsync(ct);
                await timer.WaitForNextTickAsync(ct);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or HttpListenerException or IOException or ObjectDisposedException)
        {
            // The client went away or the server stops.
        }
        finally
        {
            try { response.Abort(); } catch (ObjectDisposedException) { }
        }
    }

    public async Task StopAsync()
    {
        if (_listener is null) return;
        await _stop!.CancelAsync();
        _listener.Stop();
        _listener.Close();
        if (_accepting is not null) await _accepting.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _listener = null;
    }

    public async ValueTask DisposeAsync() => await StopAsync();
}
