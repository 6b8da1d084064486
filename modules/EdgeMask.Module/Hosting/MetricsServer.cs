using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Prometheus;

namespace EdgeMask.Module.Hosting;

/// <summary>
/// Serves <c>/metrics</c> (Prometheus text format) and <c>/healthz</c> (200 when healthy, 503 otherwise, with a JSON body)
/// on one address and port — loopback by default — and nothing else.
/// </summary>
public sealed class MetricsServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    public Uri Address { get; }

    private MetricsServer(WebApplication app, Uri address)
    {
        _app = app;
        Address = address;
    }

    /// <param name="health">Returns (healthy, JSON-serializable details) for /healthz.</param>
    public static async Task<MetricsServer> StartAsync(string address, int port, Func<(bool Healthy, object Details)> health, ILoggerFactory loggerFactory, CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(loggerFactory);
        builder.WebHost.ConfigureKestrel(k => k.Listen(address == "localhost" ? IPAddress.Loopback : IPAddress.Parse(address), port));
        var app = builder.Build();
        app.MapGet("/metrics", async (HttpContext ctx) =>
        {
            ctx.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
            await Metrics.DefaultRegistry.CollectAndExportAsTextAsync(ctx.Response.Body, ctx.RequestAborted);
        });
        app.MapGet("/healthz", () =>
        {
            var (healthy, details) = health();
            return Results.Json(details, statusCode: healthy ? 200 : 503);
        });
        try
        {
            await app.StartAsync(cancellationToken);
        }
        catch (IOException ex)
        {
            await app.DisposeAsync();
            throw new IOException($"The metrics endpoint cannot listen on {address}:{port} ({ex.Message}). Choose another port with metrics.port or --metrics-port, or disable it with --no-metrics.", ex);
        }
        var bound = app.Urls.Select(u => new Uri(u)).First();
        return new MetricsServer(app, bound);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
