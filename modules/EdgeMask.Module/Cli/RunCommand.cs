using System.CommandLine;
using EdgeMask.Inference.Models;
using EdgeMask.Inference.Runtime;
using EdgeMask.Module.Configuration;
using EdgeMask.Module.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace EdgeMask.Module.Cli;

/// <summary><c>edgemask run --source …</c>: the main job — camera feeds in, tracked violation events out.</summary>
internal static class RunCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var sources = new Option<string[]>("--source", "-s") { Description = "A video file, folder of images, /dev/videoN, rtsp://…, http://… or gst:PIPELINE. Repeat for several cameras.", AllowMultipleArgumentsPerToken = false };
        var cameras = new Option<string[]>("--camera") { Description = "Camera ids for the --source values, in order (default cam1, cam2, …)." };
        var config = new Option<string?>("--config", "-c") { Description = "JSON configuration file (see deployment/ and README); command-line options override it." };
        var device = new Option<string?>("--device") { Description = "Device id in topics and events (default: the config's, else 'edgemask')." };
        var broker = new Option<string?>("--broker") { Description = "External MQTT broker host[:port]. Without it an embedded broker runs on 127.0.0.1:1883." };
        var noMqtt = new Option<bool>("--no-mqtt") { Description = "Publish nowhere over MQTT (events still go to the outbox and the console)." };
        var outbox = new Option<string?>("--outbox") { Description = "SQLite outbox file (default edgemask-outbox.db)." };
        var annotate = new Option<string?>("--annotate") { Description = "Write the video with boxes, labels and track ids to this .avi file (one camera)." };
        var realtime = new Option<bool>("--realtime") { Description = "Pace files at their frame rate instead of as fast as possible." };
        var detectEvery = new Option<int?>("--detect-every") { Description = "Run the detector on every Nth frame; the tracker predicts in between." };
        var maxFrames = new Option<long?>("--max-frames") { Description = "Stop each camera after this many frames." };
        var metricsPort = new Option<int?>("--metrics-port") { Description = "Port of /metrics and /healthz on 127.0.0.1 (default 9464; 0 picks a free one)." };
        var noMetrics = new Option<bool>("--no-metrics") { Description = "Do not serve /metrics and /healthz." };
        var snapshots = new Option<string?>("--snapshots") { Description = "Folder for violation snapshots (default: snapshots.directory of the config, ./snapshots)." };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "No live status lines; events are still printed." };
        var drainTimeout = new Option<TimeSpan>("--drain-timeout") { Description = "When the sources end, how long to wait for the broker to acknowledge what is queued (the rest stays in the outbox for the next start).", DefaultValueFactory = _ => TimeSpan.FromSeconds(15) };
        var common = new ModelCliOptions();
        var command = new Command("run", "Run the pipeline on one or more camera feeds and publish violation events.")
        {
            sources, cameras, config, device, broker, noMqtt, outbox, annotate, realtime, detectEvery, maxFrames, metricsPort, noMetrics, snapshots, quiet, drainTimeout,
        };
        common.AddTo(command);
        command.SetAction(async (r, ct) =>
        {
            using var loggerFactory = common.Logging(r);
            var logger = loggerFactory.CreateLogger("edgemask.run");
            EdgeMaskOptions options;
            try
            {
                options = r.GetValue(config) is { } path ? ConfigLoader.Load(path) : new EdgeMaskOptions();
                options = ApplyOverrides(options, r, common, sources, cameras, device, broker, noMqtt, outbox, realtime, detectEvery, metricsPort, noMetrics);
                options.Validate();
                if (options.Cameras.Count == 0) throw new ConfigurationException("--source", "No camera: give --source (or cameras in --config).");
            }
            catch (Exception ex) when (ex is ConfigurationException or Core.Tracking.InvalidOptionException or ArgumentException)
            {
                stderr.WriteLine($"error: {ex.Message}");
                return EdgeMaskCommandLine.ExitFatal;
            }
            var run = new RunSettings
            {
                AnnotatePath = r.GetValue(annotate),
                MaxFrames = r.GetValue(maxFrames),
                SnapshotDirectory = r.GetValue(snapshots),
                LiveView = !r.GetValue(quiet),
                DrainTimeout = r.GetValue(drainTimeout),
            };
            if (run.AnnotatePath is not null && options.Cameras.Count(c => c.Value.Enabled) > 1)
            {
                stderr.WriteLine("error: --annotate writes one video: use it with one camera.");
                return EdgeMaskCommandLine.ExitFatal;
            }
            var settings = new DeviceHostSettings { Run = run, Stdout = stdout, Stderr = stderr };
            // SIGTERM and Ctrl+C stop the host (ConsoleLifetime): cameras, then outbox, then alarm lines, then models.
            using var host = DeviceHost.Build(options, settings, loggerFactory, TimeProvider.System,
                afterCameras: s => s.AddHostedService<RunConsole>(), useConsoleLifetime: true);
            return await HostedCommand.RunAsync(host, stderr, logger, "", ct,
                afterStop: () => RunConsole.PrintSummary(host.Services.GetRequiredService<DeviceRuntime>(), stderr));
        });
        return command;
    }

    private static EdgeMaskOptions ApplyOverrides(EdgeMaskOptions o, ParseResult r, ModelCliOptions common,
        Option<string[]> sources, Option<string[]> cameras, Option<string?> device, Option<string?> broker, Option<bool> noMqtt,
        Option<string?> outbox, Option<bool> realtime, Option<int?> detectEvery, Option<int?> metricsPort, Option<bool> noMetrics)
    {
        var src = r.GetValue(sources) ?? [];
        var ids = r.GetValue(cameras) ?? [];
        if (ids.Length > src.Length) throw new ConfigurationException("--camera", $"{ids.Length} --camera ids for {src.Length} --source values.");
        if (src.Length > 0)
        {
            var map = new Dictionary<string, CameraOptions>();
            for (int i = 0; i < src.Length; i++)
            {
                string id = i < ids.Length ? ids[i] : $"cam{i + 1}";
                if (!map.TryAdd(id, new CameraOptions { Source = src[i], Realtime = r.GetValue(realtime) }))
                    throw new ConfigurationException("--camera", $"Camera id '{id}' is used twice.");
            }
            o = o with { Cameras = map };
        }
        else if (r.GetValue(realtime))
        {
            o = o with { Cameras = o.Cameras.ToDictionary(kv => kv.Key, kv => kv.Value with { Realtime = true }) };
        }
        if (r.GetValue(device) is { } d) o = o with { Device = d };
        if (r.GetValue(broker) is { } b)
        {
            var parts = b.Split(':', 2);
            int port = parts.Length == 2 && int.TryParse(parts[1], out var p) ? p : 1883;
            if (parts.Length == 2 && port == 1883 && parts[1] != "1883") throw new ConfigurationException("--broker", $"'{b}' is not host[:port].");
            o = o with { Mqtt = o.Mqtt with { Host = parts[0], Port = port } };
        }
        if (r.GetValue(noMqtt)) o = o with { Mqtt = o.Mqtt with { Enabled = false } };
        if (r.GetValue(outbox) is { } ob) o = o with { Outbox = o.Outbox with { Path = ob } };
        if (r.GetValue(detectEvery) is { } n) o = o with { Detector = o.Detector with { DetectEveryNthFrame = n } };
        if (r.GetValue(metricsPort) is { } mp) o = o with { Metrics = o.Metrics with { Port = mp } };
        if (r.GetValue(noMetrics)) o = o with { Metrics = o.Metrics with { Enabled = false } };

        // Model options given on the command line win over the config file.
        bool Given(Option opt) => r.GetResult(opt) is { Implicit: false };
        var inference = o.Inference;
        if (Given(common.Models)) inference = inference with { ModelsDirectory = r.GetValue(common.Models) };
        if (Given(common.Detector)) inference = inference with { DetectorFile = r.GetValue(common.Detector) };
        if (Given(common.Ep)) inference = inference with { ExecutionProvider = r.GetValue(common.Ep)! };
        if (Given(common.EpStrict)) inference = inference with { ExecutionProviderStrict = r.GetValue(common.EpStrict) };
        if (Given(common.TrtCache)) inference = inference with { TensorRtCacheDirectory = r.GetValue(common.TrtCache) };
        var detector = o.Detector;
        if (Given(common.ScoreThreshold)) detector = detector with { ScoreThreshold = r.GetValue(common.ScoreThreshold) };
        if (Given(common.NmsIoU)) detector = detector with { NmsIoU = r.GetValue(common.NmsIoU) };
        if (Given(common.Scale)) detector = detector with { Scale = r.GetValue(common.Scale) };
        if (Given(common.TargetLongSide)) detector = detector with { TargetLongSide = r.GetValue(common.TargetLongSide) };
        return o with { Inference = inference, Detector = detector };
    }
}
