using System.Text.Json.Nodes;
using EdgeMask.Module.Configuration;
using EdgeMask.Module.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Paths = EdgeMask.Tests.Shared.TestPaths;

namespace EdgeMask.Module.Tests.ModuleHost;

/// <summary>
/// A twin update replaces the runner; the Prometheus scrape must then refresh the new runner's gauges only, and the
/// replaced runner must not stay referenced by the metrics registry.
/// </summary>
[Collection("module-host")]
public sealed class RunnerScrapeSourceTests
{
    [Fact]
    public async Task StartAsync_SecondRunnerAfterTheFirstIsDisposed_OnlyTheLiveRunnerIsScraped()
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
        var run = new RunSettings { LiveView = false };

        var first = await EdgeMaskRunner.StartAsync(options, run, TextWriter.Null, TextWriter.Null, NullLoggerFactory.Instance, TimeProvider.System, CancellationToken.None);
        Assert.True(first.IsScrapeSource);
        await first.DisposeAsync();
        Assert.False(first.IsScrapeSource);

        var second = await EdgeMaskRunner.StartAsync(options, run, TextWriter.Null, TextWriter.Null, NullLoggerFactory.Instance, TimeProvider.System, CancellationToken.None);
        try
        {
            Assert.True(second.IsScrapeSource);
            Assert.False(first.IsScrapeSource);
            // A scrape runs the one registered callback against the live runner without touching the disposed one.
            using var sink = new MemoryStream();
            await Prometheus.Metrics.DefaultRegistry.CollectAndExportAsTextAsync(sink);
            Assert.True(sink.Length > 0);
        }
        finally
        {
            await second.DisposeAsync();
        }
        Assert.False(second.IsScrapeSource);
    }
}
