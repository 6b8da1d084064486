using System.Text.Json.Nodes;
using EdgeMask.Module.Configuration;
using EdgeMask.Module.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Paths = EdgeMask.Tests.Shared.TestPaths;

namespace EdgeMask.Module.Tests.ModuleHost;

/// <summary>
/// One Prometheus before-collect callback serves the process: a scrape must refresh the live host's gauges only, and a
/// stopped host must not stay referenced by the metrics registry (tests start many hosts in one process).
/// </summary>
[Collection("module-host")]
public sealed class RunnerScrapeSourceTests
{
    [Fact]
    public async Task StartAsync_SecondHostAfterTheFirstStopped_OnlyTheLiveHostIsScraped()
    {
        var dir = Paths.NewTempDirectory();
        var images = Path.Combine(dir, "images");
        Directory.CreateDirectory(images);
        File.CreateSymbolicLink(Path.Combine(images, "img0.jpg"), Paths.VocImage(0));
        var options = ConfigLoader.Parse(new JsonObject
        {
            ["cameras"] = new JsonObject { ["hall"] = new JsonObject { ["source"] = images, ["realtime"] = true } },
            ["inference"] = new JsonObject { ["modelsDirectory"] = Path.Combine(Paths.RepoRoot, "models"), ["executionProvider"] = "cpu", ["intraOpThreads"] = 1 },
            ["classifier"] = new JsonObject { ["enabled"] = false },
            ["mqtt"] = new JsonObject { ["enabled"] = false },
            ["outbox"] = new JsonObject { ["path"] = Path.Combine(dir, "outbox.db") },
            ["metrics"] = new JsonObject { ["enabled"] = false },
            ["snapshots"] = new JsonObject { ["enabled"] = false },
        }.ToJsonString(), "test");
        var settings = new DeviceHostSettings { Run = new RunSettings { LiveView = false, StopWhenCamerasEnd = false } };

        using var first = DeviceHost.Build(options, settings, NullLoggerFactory.Instance, TimeProvider.System);
        await DeviceHost.StartOrStopAsync(first, CancellationToken.None);
        var firstMetrics = first.Services.GetRequiredService<MetricsService>();
        Assert.True(firstMetrics.IsScrapeSource);
        await first.StopAsync();
        Assert.False(firstMetrics.IsScrapeSource);

        using var second = DeviceHost.Build(options, settings, NullLoggerFactory.Instance, TimeProvider.System);
        await DeviceHost.StartOrStopAsync(second, CancellationToken.None);
        try
        {
            var secondMetrics = second.Services.GetRequiredService<MetricsService>();
            Assert.True(secondMetrics.IsScrapeSource);
            Assert.False(firstMetrics.IsScrapeSource);
            // A scrape runs the one registered callback against the live host without touching the stopped one.
            using var sink = new MemoryStream();
            await Prometheus.Metrics.DefaultRegistry.CollectAndExportAsTextAsync(sink);
            Assert.Contains("edgemask_model_sessions_opened_total", System.Text.Encoding.UTF8.GetString(sink.ToArray()));
        }
        finally
        {
            await second.StopAsync();
        }
        Assert.False(second.Services.GetRequiredService<MetricsService>().IsScrapeSource);
    }
}
