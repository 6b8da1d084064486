using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using EdgeMask.Alarm;
using EdgeMask.Alarm.Gpio;
using EdgeMask.Alarm.Tests;
using EdgeMask.Core.Events;
using EdgeMask.IoTHub.Mqtt;
using EdgeMask.IoTHub.Tests.Infrastructure;
using EdgeMask.Module.Configuration;
using EdgeMask.Module.Hosting;
using EdgeMask.Messaging.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;
using Paths = EdgeMask.Tests.Shared.TestPaths;

namespace EdgeMask.Module.Tests.ModuleHost;

/// <summary>
/// The module host against <see cref="FakeIoTHub"/> (the IoTHub helper's in-process broker that plays IoT Hub / edgeHub
/// as documented, over TLS), with the real detector from the checkout's models/ and the sample video paced in real
/// time: what an operator sees from IoT Hub — the twin read and reported, desired patches applied live or rejected per
/// key, each direct method, and telemetry on the right outputs.
/// </summary>
[Collection("module-host")]
public sealed class ModuleHostTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const string Hub = "contoso-hub.azure-devices.net";
    private const string Device = "jetson-01";
    private const string Module = "edgemask";
    private static readonly byte[] ModuleKey = RandomNumberGenerator.GetBytes(32);
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    private FakeIoTHub _hub = null!;
    private HostedModule? _hosted;
    private string _dir = null!;
    private readonly TestLoggerFactory _logs = new(output);

    private static string Models => Path.Combine(Paths.RepoRoot, "models");

    /// <summary>
    /// The classifier may not be installed (or may be mid-update) in the checkout; the module host does not depend on it,
    /// so it is used only when the manifest lists it and the file matches its sha256. Without it faces are tracked, not classified.
    /// </summary>
    private static bool ClassifierInstalled => ClassifierCheck.Value;

    private static readonly Lazy<bool> ClassifierCheck = new(() =>
    {
        var manifest = EdgeMask.Inference.Models.ModelManifest.Load(Path.Combine(Models, "manifest.json"));
        var entry = manifest.Models.FirstOrDefault(m => m.Role == "classifier");
        if (entry is null) return false;
        var path = Path.Combine(Models, entry.File);
        return File.Exists(path) && string.Equals(EdgeMask.Inference.Models.ModelStore.Sha256Of(path), entry.Sha256, StringComparison.OrdinalIgnoreCase);
    });

    public Task InitializeAsync()
    {
        _dir = Paths.NewTempDirectory();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        if (_hosted is not null) await _hosted.DisposeAsync();
        if (_hub is not null) await _hub.DisposeAsync();
    }

    private JsonObject BaseDocument() => new()
    {
        ["device"] = "station",
        ["cameras"] = new JsonObject { ["platform"] = new JsonObject { ["source"] = Paths.SampleVideo, ["realtime"] = true } },
        ["inference"] = new JsonObject { ["modelsDirectory"] = Models, ["executionProvider"] = "cpu", ["intraOpThreads"] = 1 },
        ["classifier"] = new JsonObject { ["enabled"] = ClassifierInstalled },
        // IoT Hub only: the outbox's single destination is the module's iothub transport.
        ["mqtt"] = new JsonObject { ["enabled"] = false },
        ["outbox"] = new JsonObject { ["path"] = Path.Combine(_dir, "outbox.db") },
        ["stats"] = new JsonObject { ["interval"] = "00:00:01" },
        ["metrics"] = new JsonObject { ["enabled"] = false },
    };

    private async Task<Hosting.ModuleHost> StartAsync(JsonObject? desired = null, Func<AlarmOptions, LocalAlarm>? alarmFactory = null,
        Action<JsonObject>? configure = null)
    {
        _hub = await FakeIoTHub.StartAsync(Hub, Device, Module, ModuleKey, TestCertificates.Shared.ServerCertificate, desired);
        var client = IoTHubMqttClient.FromConnectionString(
            $"HostName={Hub};DeviceId={Device};ModuleId={Module};SharedAccessKey={Convert.ToBase64String(ModuleKey)};GatewayHostName=localhost",
            TestCertificates.Shared.TrustBundle,
            new IoTHubClientOptions { Port = _hub.Port, ReconnectDelayMin = TimeSpan.FromMilliseconds(100), ReconnectDelayMax = TimeSpan.FromSeconds(1) });
        var baseDocument = BaseDocument();
        configure?.Invoke(baseDocument);
        var options = new ModuleHostOptions
        {
            ReportInterval = TimeSpan.FromSeconds(1),
            Run = new RunSettings { LiveView = false, SnapshotDirectory = Path.Combine(_dir, "snapshots"), DrainTimeout = TimeSpan.FromSeconds(2) },
        };
        _hosted = await HostedModule.StartAsync(baseDocument, options, client, alarmFactory, _logs);
        await WaitUntilAsync(() => Reported("configuration", "appliedVersion") is not null, "the first reported configuration");
        return _hosted.Module;
    }

    private DeviceRuntime Runtime => _hosted!.Runtime;

    private bool Stopping => _hosted!.Host.Services.GetRequiredService<Microsoft.Extensions.Hosting.IHostApplicationLifetime>().ApplicationStopping.IsCancellationRequested;

    /// <summary>A folder of symbolic links to shared photos, played in a loop at <paramref name="fps"/> (a slow, steady camera).</summary>
    private JsonObject LoopingFolderCamera(string name) => new()
    {
        ["source"] = ImageFolder(name),
        ["realtime"] = true,
        ["loop"] = true,
    };

    private string ImageFolder(string name)
    {
        var folder = Path.Combine(_dir, name);
        Directory.CreateDirectory(folder);
        foreach (var n in new[] { 0, 5, 12, 20 })
            File.CreateSymbolicLink(Path.Combine(folder, $"img{n}.jpg"), Paths.VocImage(n));
        return folder;
    }

    private JsonNode? Reported(params string[] path)
    {
        JsonNode? node = _hub.ReportedSnapshot;
        foreach (var p in path) node = node?[p];
        return node;
    }

    private static Task WaitUntilAsync(Func<bool> condition, string what) => TestPorts.WaitUntilAsync(condition, what, Patience);

    private void Log(string label, JsonNode? node) => output.WriteLine($"{label}: {node?.ToJsonString()}");

    [Fact]
    public async Task Start_ConnectsToHub_ReadsTwinAppliesDesiredAndReportsStatus()
    {
        var host = await StartAsync(new JsonObject { ["detector"] = new JsonObject { ["scoreThreshold"] = 0.6 } });

        Assert.Equal(0.6f, host.Current.Detector.ScoreThreshold);
        Assert.Equal("station", host.Current.Device);
        await WaitUntilAsync(() => Reported("cameras", "platform", "health") is not null && Reported("models", "detector", "sha256") is not null, "camera and model status");
        var reported = _hub.ReportedSnapshot;
        Log("reported", reported);
        Assert.Equal("applied", reported["configuration"]!["status"]!.GetValue<string>());
        Assert.Equal(_hub.DesiredVersion, reported["configuration"]!["appliedVersion"]!.GetValue<long>());
        Assert.Equal("cpu", reported["executionProvider"]!.GetValue<string>());
        Assert.Equal("retinaface_mnet025_masked", reported["models"]!["detector"]!["name"]!.GetValue<string>());
        Assert.Equal(64, reported["models"]!["detector"]!["sha256"]!.GetValue<string>().Length);
        if (ClassifierInstalled)
        {
            // The file in force on the CPU is the int8 one; a role with two files names the one opened, with its manifest sha256.
            Assert.Equal("mask_classifier_int8", reported["models"]!["classifier"]!["name"]!.GetValue<string>());
            Assert.Equal(EdgeMask.Inference.Models.ModelManifest.Embedded.Get("mask_classifier_int8").Sha256, reported["models"]!["classifier"]!["sha256"]!.GetValue<string>());
        }
        Assert.Equal("running", reported["runtime"]!["state"]!.GetValue<string>());
        // On the CPU: no TensorRT profile, no engine cache, no warm-up — and the report says so rather than inventing them.
        var inference = reported["runtime"]!["inference"]!;
        Assert.Equal("cpu", inference["provider"]!.GetValue<string>());
        Assert.Null(inference["frameSizes"]);
        Assert.All(inference["engines"]!.AsArray(), e =>
        {
            Assert.Equal("cpu", e!["provider"]!.GetValue<string>());
            Assert.Null(e["tensorRtShapes"]);
            Assert.Null(e["engineCache"]);
        });
        var (_, health) = Runtime.Metrics.Health();
        var healthJson = JsonSerializer.SerializeToNode(health)!;
        Assert.Equal("cpu", healthJson["inference"]!["provider"]!.GetValue<string>());
        Assert.Equal(2, healthJson["inference"]!["engines"]!.AsArray().Count);
        Assert.True(_hub.Violations.IsEmpty, "protocol violations: " + string.Join(" | ", _hub.Violations));
        Assert.Equal(1, _hub.TwinGetCount);
    }

    /// <summary>
    /// The figures of a live settings change: a desired patch of detector.scoreThreshold, violation.* and alarm.* while
    /// a camera runs and a subscriber listens on the embedded broker — no frame dropped, no session reopened, no broker
    /// or camera restart, the subscriber never disconnected, the new values in force when appliedVersion is reported.
    /// </summary>
    [Fact]
    public async Task DesiredPatch_ThresholdsPolicyAlarm_AppliedLiveNothingRestartedNothingDropped()
    {
        int port = TestPorts.FreeTcpPort();
        var chips = new List<RecordingGpioDriver>();
        var host = await StartAsync(alarmFactory: options => RecordingAlarm(options, chips), configure: d =>
        {
            d["cameras"] = new JsonObject { ["platform"] = LoopingFolderCamera("platform") };
            d["sources"] = new JsonObject { ["imageFolderFps"] = 5 };
            d["mqtt"] = new JsonObject { ["enabled"] = true, ["port"] = port };
            d["alarm"] = AlarmSection(minOn: "00:00:01");
        });
        var camera = Runtime.Cameras.Cameras.Single();
        await WaitUntilAsync(() => camera.Counters.Frames >= 5, "the camera running");
        await using var subscriber = await MqttCollector.StartAsync(port, "edgemask/#");
        int disconnects = 0;
        subscriber.Disconnected += () => Interlocked.Increment(ref disconnects);
        await subscriber.WaitUntilAsync(ms => ms.Any(m => m.Topic.EndsWith("/stats", StringComparison.Ordinal)), Patience, "stats on the broker");

        long sessions = Runtime.Models.SessionsOpened;
        int messagingStarts = Runtime.Messaging.Starts, alarmBuilds = Runtime.Alarm.Builds;
        var broker = Runtime.Messaging.Current!.Broker;
        var pipeline = camera.Pipeline;
        long droppedBefore = camera.Health.FramesDropped, framesBefore = camera.Counters.Frames;
        int statsBefore = subscriber.Messages.Count(m => m.Topic.EndsWith("/stats", StringComparison.Ordinal));

        long version = _hub.UpdateDesired(new JsonObject
        {
            ["detector"] = new JsonObject { ["scoreThreshold"] = 0.75 },
            ["violation"] = new JsonObject { ["startUnmaskedFrames"] = 4, ["startProbability"] = 0.8 },
            ["classifier"] = new JsonObject { ["enabled"] = ClassifierInstalled, ["settledEveryNthFrame"] = 2 },
            ["alarm"] = AlarmSection(minOn: "00:00:04"),
        });
        await WaitUntilAsync(() => Reported("configuration", "appliedVersion")?.GetValue<long>() == version, "the patch applied");

        // In force as soon as the version is reported: the camera took it at a frame boundary.
        var settings = camera.Settings;
        Assert.Equal(Runtime.Version, camera.AppliedVersion);
        Assert.Equal(0.75f, camera.Pipeline!.Settings.Detector.Thresholds.ScoreThreshold);
        Assert.Equal(4, camera.Pipeline.Settings.Violation.StartUnmaskedFrames);
        Assert.Equal(0.8f, camera.Pipeline.Policy.Options.StartProbability);
        Assert.Equal(2, camera.Pipeline.Settings.ClassifySettledEveryNthFrame);
        Assert.Equal(TimeSpan.FromSeconds(4), Runtime.Alarm.Current!.Options.Outputs[0].MinOn);
        // Nothing restarted: sessions, broker, alarm lines, camera and its pipeline are the same.
        Assert.Equal(sessions, Runtime.Models.SessionsOpened);
        Assert.Equal(messagingStarts, Runtime.Messaging.Starts);
        Assert.Same(broker, Runtime.Messaging.Current!.Broker);
        Assert.Equal(alarmBuilds, Runtime.Alarm.Builds);
        Assert.Same(camera, Runtime.Cameras.Cameras.Single());
        Assert.Same(pipeline, camera.Pipeline);
        Assert.Equal(0, camera.Restarts);
        Assert.Single(chips);

        // The camera went on without a gap, the subscriber stayed and keeps receiving.
        await WaitUntilAsync(() => camera.Counters.Frames >= framesBefore + 10, "frames after the patch");
        Assert.Equal(droppedBefore, camera.Health.FramesDropped);
        await subscriber.WaitUntilAsync(ms => ms.Count(m => m.Topic.EndsWith("/stats", StringComparison.Ordinal)) > statsBefore + 1, Patience, "stats after the patch");
        Assert.Equal(0, Volatile.Read(ref disconnects));
        Assert.True(subscriber.IsConnected);
        Assert.Equal("running", Reported("runtime", "state")!.GetValue<string>());
        Assert.Equal(Runtime.Version, Reported("runtime", "generation")!.GetValue<long>());
        Assert.Equal(sessions, Reported("runtime", "sessionsOpened")!.GetValue<long>());
        Assert.DoesNotContain(_logs.Entries, e => e.Level >= Microsoft.Extensions.Logging.LogLevel.Error);
        Assert.False(Stopping, "the module keeps running: no process restart");
    }

    [Fact]
    public async Task DesiredPatch_OneCameraSourceChanged_OnlyThatCameraRestartsTheOtherKeepsCounting()
    {
        var host = await StartAsync(configure: d =>
        {
            d["cameras"] = new JsonObject { ["gate"] = LoopingFolderCamera("gate"), ["hall"] = LoopingFolderCamera("hall") };
            d["sources"] = new JsonObject { ["imageFolderFps"] = 5 };
        });
        var gate = Runtime.Cameras.Find("gate")!;
        var hall = Runtime.Cameras.Find("hall")!;
        await WaitUntilAsync(() => gate.Counters.Frames >= 3 && hall.Counters.Frames >= 3, "both cameras running");
        long sessions = Runtime.Models.SessionsOpened;
        var oldHallEncoder = hall.Events.Encoder!;
        Assert.True(oldHallEncoder.IsRunning && hall.Events.WorkerRunning);

        long version = _hub.UpdateDesired(new JsonObject { ["cameras"] = new JsonObject { ["hall"] = new JsonObject { ["source"] = ImageFolder("hall-2") } } });
        await WaitUntilAsync(() => Reported("configuration", "appliedVersion")?.GetValue<long>() == version, "the patch applied");
        long gateFrames = gate.Counters.Frames;

        Assert.Same(gate, Runtime.Cameras.Find("gate"));
        Assert.NotSame(hall, Runtime.Cameras.Find("hall"));
        Assert.True(hall.Completion.IsCompleted, "the old hall camera stopped");
        // Its event stage's two threads ended with it: restarts do not leak threads.
        Assert.False(oldHallEncoder.IsRunning, "the old hall camera's snapshot thread ended");
        Assert.False(hall.Events.WorkerRunning, "the old hall camera's events thread ended");
        Assert.EndsWith("hall-2", Runtime.Cameras.Find("hall")!.Health.Source);
        await WaitUntilAsync(() => gate.Counters.Frames >= gateFrames + 5 && Runtime.Cameras.Find("hall")!.Counters.Frames >= 3, "both cameras after the patch");
        Assert.Equal(0, gate.Restarts);
        Assert.Equal(Runtime.Version, gate.AppliedVersion);
        Assert.Equal(sessions, Runtime.Models.SessionsOpened);
        Assert.Equal(["gate", "hall"], Reported("cameras")!.AsObject().Select(c => c.Key).Order());
    }

    [Fact]
    public async Task DesiredPatch_BadKeysAndHugeBlob_RejectedPerKeyPreviousConfigurationKept()
    {
        var host = await StartAsync();
        var before = host.Current;
        long generation = host.Generation;

        long bad = _hub.UpdateDesired(new JsonObject
        {
            ["detector"] = new JsonObject { ["scoreThreshold"] = "high" },
            ["stats"] = new JsonObject { ["interval"] = "00:00:00.1" },
            ["nonsense"] = 5,
        });
        await WaitUntilAsync(() => Reported("configuration", "desiredVersion")?.GetValue<long>() == bad, "the rejection");
        var conf = Reported("configuration")!;
        Log("rejected", conf);
        Assert.Equal("rejected", conf["status"]!.GetValue<string>());
        var errors = conf["errors"]!.AsObject().Select(e => e.Key).ToList();
        Assert.Contains(errors, k => k.StartsWith("detector", StringComparison.Ordinal));
        Assert.Contains("stats/interval", errors);
        Assert.Contains("nonsense", errors);
        Assert.Same(before, host.Current);
        Assert.Equal(generation, host.Generation);

        // A 100 KB blob: over the twin's limits, rejected, no crash.
        long blob = _hub.UpdateDesired(new JsonObject { ["detector"] = null, ["stats"] = null, ["nonsense"] = null, ["blob"] = new string('x', 100 * 1024) });
        await WaitUntilAsync(() => Reported("configuration", "desiredVersion")?.GetValue<long>() == blob, "the blob's rejection");
        Assert.Equal("rejected", Reported("configuration", "status")!.GetValue<string>());
        Assert.Equal(generation, host.Generation);

        // Fixed: applied, and the stale error keys are gone.
        long good = _hub.UpdateDesired(new JsonObject { ["blob"] = null, ["detector"] = new JsonObject { ["scoreThreshold"] = 0.55 } });
        await WaitUntilAsync(() => Reported("configuration", "appliedVersion")?.GetValue<long>() == good, "the fixed document");
        Assert.Equal("applied", Reported("configuration", "status")!.GetValue<string>());
        Assert.Null(Reported("configuration", "errors"));
        Assert.Equal(0.55f, host.Current.Detector.ScoreThreshold);
        Assert.False(Stopping);
    }

    /// <summary>
    /// A report the hub refuses as invalid (400: a rule of a hub the module does not know) is refused again if sent again:
    /// the module does not re-send that same patch at every report interval, and says so once; the next different
    /// report goes out as usual. No camera, so that nothing in the report changes by itself.
    /// </summary>
    [Fact]
    public async Task Report_HubRefusesThePatch_NotSentAgainUntilItChanges()
    {
        var host = await StartAsync(configure: d => d.Remove("cameras"));
        await host.ReportAsync(force: true, CancellationToken.None);
        int accepted = _hub.ReportedPatchCount;

        _hub.FailTwinRequests(400, 1);
        await host.ReportAsync(force: true, CancellationToken.None);
        Assert.Equal(1, _hub.FailedTwinAnswers);
        for (var i = 0; i < 3; i++) await host.ReportAsync(force: true, CancellationToken.None);
        await Task.Delay(TimeSpan.FromSeconds(2.5)); // two report intervals of the host's own loop

        Assert.Equal(1, _hub.FailedTwinAnswers);      // the refused patch was not sent again …
        Assert.Equal(accepted, _hub.ReportedPatchCount);
        Assert.Single(_logs.Entries, e => e.Level == Microsoft.Extensions.Logging.LogLevel.Error && e.Message.Contains("refused the reported properties (400)", StringComparison.Ordinal));

        // … and a changed one is.
        long version = _hub.UpdateDesired(new JsonObject { ["detector"] = new JsonObject { ["scoreThreshold"] = 0.61 } });
        await WaitUntilAsync(() => Reported("configuration", "appliedVersion")?.GetValue<long>() == version, "the next report");
        Assert.True(_hub.ReportedPatchCount > accepted);
        Assert.True(_hub.Violations.IsEmpty, "protocol violations: " + string.Join(" | ", _hub.Violations));
    }

    [Fact]
    public async Task DesiredPatch_CameraFileThatDoesNotExist_RejectedAtItsKeyAndNothingStops()
    {
        var host = await StartAsync();
        var camera = Runtime.Cameras.Cameras.Single();
        string missing = Path.Combine(_dir, "no-such-video.mp4");
        long version = _hub.UpdateDesired(new JsonObject
        {
            ["cameras"] = new JsonObject { ["platform"] = new JsonObject { ["source"] = missing } },
        });
        await WaitUntilAsync(() => Reported("configuration", "desiredVersion")?.GetValue<long>() == version, "the rejection");
        var conf = Reported("configuration")!;
        Log("configuration", conf);
        Assert.Equal("rejected", conf["status"]!.GetValue<string>());
        var error = conf["errors"]!["cameras/platform/source"]!.GetValue<string>();
        Assert.Contains(missing, error);
        Assert.Contains("does not exist", error);
        Assert.Same(camera, Runtime.Cameras.Cameras.Single());
        Assert.Equal(Paths.SampleVideo, host.Current.Cameras["platform"].Source);
        Assert.False(Stopping, "the module survives a configuration that cannot start");
    }

    [Fact]
    public async Task DesiredPatch_UnknownSchemeOrMalformedUrl_RejectedAtTheSourceKey()
    {
        await StartAsync();
        long version = _hub.UpdateDesired(new JsonObject
        {
            ["cameras"] = new JsonObject { ["door"] = new JsonObject { ["source"] = "rstp://10.0.0.7/stream1" } },
        });
        await WaitUntilAsync(() => Reported("configuration", "desiredVersion")?.GetValue<long>() == version, "the rejection");
        Log("configuration", Reported("configuration"));
        Assert.Contains("unknown scheme 'rstp://'", Reported("configuration", "errors", "cameras/door/source")!.GetValue<string>());
        Assert.Null(Runtime.Cameras.Find("door"));
    }

    [Fact]
    public async Task DirectMethods_EachAnsweredWithJsonAndStatus()
    {
        var host = await StartAsync();
        await WaitUntilAsync(() => Runtime.Cameras.Cameras.FirstOrDefault()?.FrameTap.Last is not null, "a first frame");

        var (status, body, _) = await _hub.InvokeMethodAsync("getStatus", "{}");
        Log("getStatus", body);
        Assert.Equal(200, status);
        Assert.Equal("station", body!["device"]!.GetValue<string>());
        Assert.Equal("cpu", body["executionProvider"]!.GetValue<string>());
        var camera = Assert.Single(body["cameras"]!.AsArray())!;
        Assert.Equal("platform", camera["id"]!.GetValue<string>());
        Assert.True(camera["frames"]!.GetValue<long>() > 0);
        Assert.NotNull(body["outbox"]!["depth"]);
        Assert.Equal(_hub.DesiredVersion, body["configuration"]!["appliedVersion"]!.GetValue<long>());

        (status, body, _) = await _hub.InvokeMethodAsync("captureSnapshot", """{"camera":"platform","inline":true}""");
        Assert.Equal(200, status);
        var jpeg = Convert.FromBase64String(body!["jpegBase64"]!.GetValue<string>());
        Assert.True(jpeg.Length > 1000 && jpeg[0] == 0xFF && jpeg[1] == 0xD8, "a JPEG");
        Assert.True(body["width"]!.GetValue<int>() > 0);
        // Anonymized as snapshots.privacy says (the default: BlurOthers, every face of a capture); the count depends on the frame.
        Assert.Equal("BlurOthers", body["privacy"]!.GetValue<string>());
        Assert.True(body["facesBlurred"]!.GetValue<int>() >= 0);

        (status, body, _) = await _hub.InvokeMethodAsync("captureSnapshot", """{"camera":"platform","inline":false}""");
        Assert.Equal(200, status);
        string stored = body!["path"]!.GetValue<string>();
        Assert.True(File.Exists(stored));
        // Kept by the snapshot store: under its folder, counted for retention, findable by the id returned.
        Assert.StartsWith(Path.GetFullPath(Path.Combine(_dir, "snapshots")), stored);
        Assert.NotNull(Runtime.Snapshots.Current!.Find(body["snapshotId"]!.GetValue<string>()));

        (status, _, _) = await _hub.InvokeMethodAsync("captureSnapshot", """{"camera":"nope"}""");
        Assert.Equal(404, status);
        (status, body, _) = await _hub.InvokeMethodAsync("captureSnapshot", """{"camera":5,"extra":true}""");
        Assert.Equal(400, status);
        Assert.NotNull(body!["details"]!["camera"]);
        Assert.NotNull(body["details"]!["extra"]);

        (status, body, _) = await _hub.InvokeMethodAsync("testAlarm", """{"durationSeconds":1}""");
        Assert.Equal(404, status);
        Assert.Equal("noAlarm", body!["error"]!.GetValue<string>());
        (status, _, _) = await _hub.InvokeMethodAsync("testAlarm", """{"durationSeconds":"five"}""");
        Assert.Equal(400, status);

        long generation = host.Generation;
        long sessions = Runtime.Models.SessionsOpened;
        (status, body, _) = await _hub.InvokeMethodAsync("setThresholds", """{"detector":{"scoreThreshold":0.8}}""");
        Log("setThresholds", body);
        Assert.Equal(200, status);
        Assert.Equal(0.8f, host.Current.Detector.ScoreThreshold);
        Assert.True(host.Generation > generation);
        Assert.Equal(0.8f, Runtime.Cameras.Cameras.Single().Pipeline!.Settings.Detector.Thresholds.ScoreThreshold);
        Assert.Equal(sessions, Runtime.Models.SessionsOpened);
        await WaitUntilAsync(() => Reported("thresholdOverride", "detector", "scoreThreshold") is not null, "the override reported");

        var kept = host.Current;
        (status, body, _) = await _hub.InvokeMethodAsync("setThresholds", """{"detector":{"scoreThreshold":"x"},"tracking":{}}""");
        Log("setThresholds bad", body);
        Assert.Equal(400, status);
        Assert.NotNull(body!["details"]!["tracking"]);
        (status, body, _) = await _hub.InvokeMethodAsync("setThresholds", """{"detector":{"scoreThreshold":7}}""");
        Log("setThresholds out of range", body);
        Assert.Equal(400, status);
        Assert.Same(kept, host.Current);

        (status, _, _) = await _hub.InvokeMethodAsync("reboot", "{}");
        Assert.Equal(404, status);
        (status, _, _) = await _hub.InvokeMethodAsync("getStatus", Encoding.UTF8.GetBytes("{not json"));
        Assert.Equal(400, status);
        Assert.True(_hub.Violations.IsEmpty, "protocol violations: " + string.Join(" | ", _hub.Violations));
    }

    [Fact]
    public async Task Telemetry_StatsAndEventsGoThroughOutboxToIoTHubOutputs()
    {
        await StartAsync();
        await _hub.WaitForTelemetryAsync(t => t.Properties.GetValueOrDefault("$.on") == "stats", "stats telemetry");
        var stats = _hub.Telemetry.First(t => t.Properties.GetValueOrDefault("$.on") == "stats");
        Assert.Equal("platform", stats.Properties["camera"]);
        Assert.Equal("application/json", stats.Properties["$.ct"]);
        Assert.Equal("station", JsonNode.Parse(stats.Body)!["device"]!.GetValue<string>());
        // The stats say how deep the outbox is (the dashboard's "Outbox depth" column).
        Assert.NotNull(JsonNode.Parse(stats.Body)!["outboxDepth"]);

        // Whatever the pipeline raises goes the same way; an event handed over like the cameras' sink does must arrive on 'events'.
        var now = DateTimeOffset.UtcNow;
        var maskEvent = new MaskEvent
        {
            Id = "episode-1", Type = EventTypes.ViolationStart, Sequence = 0, Device = "station", Camera = "platform", TrackId = 7,
            StartedAt = now, At = now, Frame = new EventFrame(960, 540),
            Face = new EventFace([1, 2, 30, 40], [0, 0, 0.1f, 0.1f], [], 0.9f), Mask = new EventMask("no_mask", 0.9f, 5, 5),
            Snapshot = EventSnapshot.None,
        };
        Runtime.Messaging.OnEvent(maskEvent);
        // The pipeline may raise its own violations too (when the classifier is installed): look for ours among them.
        static bool Ours(FakeIoTHub.ReceivedTelemetry t) =>
            t.Properties.GetValueOrDefault("$.on") == "events" && JsonNode.Parse(t.Body)!["id"]!.GetValue<string>() == "episode-1";
        await _hub.WaitForTelemetryAsync(Ours, "event telemetry");
        var ev = _hub.Telemetry.First(Ours);
        Assert.Equal(EventTypes.ViolationStart, ev.Properties["type"]);
        Assert.All(_hub.Telemetry.Where(t => t.Properties.GetValueOrDefault("$.on") == "events"), t => Assert.Equal("platform", t.Properties["camera"]));
        Assert.True(_hub.Violations.IsEmpty, "protocol violations: " + string.Join(" | ", _hub.Violations));
    }

    [Fact]
    public async Task DesiredPatch_ContractVersion1_LiveFromTheNextDocumentNoRestart()
    {
        await StartAsync();
        static bool IsStats(FakeIoTHub.ReceivedTelemetry t) => t.Properties.GetValueOrDefault("$.on") == "stats";
        await _hub.WaitForTelemetryAsync(IsStats, "stats telemetry");
        Assert.Equal(CameraStats.SchemaName, _hub.Telemetry.First(IsStats).Properties["schema"]);
        int messagingStarts = Runtime.Messaging.Starts;
        var camera = Runtime.Cameras.Cameras.Single();

        long version = _hub.UpdateDesired(new JsonObject { ["contract"] = new JsonObject { ["version"] = 1 } });
        await WaitUntilAsync(() => Reported("configuration", "appliedVersion")?.GetValue<long>() == version, "the patch applied");

        // A badly worn mask's episode, as a version 2 pipeline raises it: consumers of version 1 get a no_mask violation.
        var now = DateTimeOffset.UtcNow;
        Runtime.Messaging.OnEvent(new MaskEvent
        {
            Id = "episode-v1", Type = EventTypes.IncorrectStart, Sequence = 0, Device = "station", Camera = "platform", TrackId = 7,
            StartedAt = now, At = now, Frame = new EventFrame(960, 540),
            Face = new EventFace([1, 2, 30, 40], [0, 0, 0.1f, 0.1f], [], 0.9f),
            Mask = new EventMask("incorrect", 0.7f, 5, 5) { Probabilities = new EventProbabilities(0.1f, 0.2f, 0.7f) },
            Snapshot = EventSnapshot.None,
        });
        static bool Ours(FakeIoTHub.ReceivedTelemetry t) =>
            t.Properties.GetValueOrDefault("$.on") == "events" && JsonNode.Parse(t.Body)!["id"]!.GetValue<string>() == "episode-v1";
        await _hub.WaitForTelemetryAsync(Ours, "the event as version 1");
        var ev = _hub.Telemetry.First(Ours);
        var body = JsonNode.Parse(ev.Body)!;
        Assert.Equal(MaskEvent.SchemaNameV1, body["schema"]!.GetValue<string>());
        Assert.Equal(MaskEvent.SchemaNameV1, ev.Properties["schema"]);
        Assert.Equal(EventTypes.ViolationStart, body["type"]!.GetValue<string>());
        Assert.Equal("no_mask", body["mask"]!["label"]!.GetValue<string>());
        Assert.Null(body["mask"]!["probabilities"]);
        // Stats stored before the patch may still be on their way; the next ones are version 1.
        await _hub.WaitForTelemetryAsync(t => IsStats(t) && t.Properties["schema"] == CameraStats.SchemaNameV1, "version 1 stats after the patch");
        // Live: the outbox, its drainers and the camera stayed.
        Assert.Equal(messagingStarts, Runtime.Messaging.Starts);
        Assert.Same(camera, Runtime.Cameras.Cameras.Single());
        Assert.Equal(0, camera.Restarts);
    }

    [Fact]
    public async Task Reconnect_FullTwinReReadAndChangeMadeWhileDisconnectedApplied()
    {
        var host = await StartAsync();
        int gets = _hub.TwinGetCount;
        _hub.Outage = true;
        await _hub.DropConnectionAsync();
        long version = _hub.UpdateDesired(new JsonObject { ["detector"] = new JsonObject { ["scoreThreshold"] = 0.65 } }, notify: false);
        _hub.Outage = false;
        await WaitUntilAsync(() => _hub.TwinGetCount > gets && Reported("configuration", "appliedVersion")?.GetValue<long>() == version, "the twin re-read after reconnect");
        Assert.Equal(0.65f, host.Current.Detector.ScoreThreshold);
    }

    [Fact]
    public async Task TestAlarm_AlarmOnRecordingGpio_DrivesTheLineAndAnswersWhatRan()
    {
        var chips = new List<RecordingGpioDriver>();
        await StartAsync(alarmFactory: options => RecordingAlarm(options, chips), configure: d => d["alarm"] = AlarmSection());
        await WaitUntilAsync(() => Reported("alarm", "lines") is not null, "the alarm reported");

        var (status, body, _) = await _hub.InvokeMethodAsync("testAlarm", """{"durationSeconds":0.5}""");
        Log("testAlarm", body);
        Assert.Equal(200, status);
        Assert.Contains("light", body!["outputs"]!.AsArray().Select(o => o!.GetValue<string>()));
        RecordingGpioDriver driver;
        lock (chips) driver = Assert.Single(chips);
        Assert.Contains(driver.Changes, w => w.Line == 5 && w.High);
        Assert.NotNull(Runtime.Alarm.Current);
    }

    [Fact]
    public async Task DesiredPatch_AlarmLineMoved_OldLineOffAndClosedNewLineOpened()
    {
        var chips = new List<RecordingGpioDriver>();
        await StartAsync(alarmFactory: options => RecordingAlarm(options, chips), configure: d => d["alarm"] = AlarmSection());
        long version = _hub.UpdateDesired(new JsonObject { ["alarm"] = AlarmSection(line: 6) });
        await WaitUntilAsync(() => Reported("configuration", "appliedVersion")?.GetValue<long>() == version, "the patch applied");

        Assert.Equal(2, Runtime.Alarm.Builds);
        RecordingGpioDriver first, second;
        lock (chips) (first, second) = (chips[0], chips[1]);
        Assert.Contains(5, first.Closed);
        Assert.False(first.LevelHigh(5));
        Assert.True(second.IsOpen(6));
        Assert.Equal(6, Runtime.Alarm.Current!.Options.Outputs[0].Line);
    }

    [Fact]
    public async Task DesiredPatch_EmbeddedBrokerPortChanged_BrokerMovesCamerasAndSessionsStay()
    {
        int port = TestPorts.FreeTcpPort(), moved = TestPorts.FreeTcpPort();
        await StartAsync(configure: d => d["mqtt"] = new JsonObject { ["enabled"] = true, ["port"] = port });
        Assert.Equal(["mqtt", "iothub"], Runtime.Messaging.Current!.Drainers.Select(x => x.Destination).Order().Reverse());
        var camera = Runtime.Cameras.Cameras.Single();
        long sessions = Runtime.Models.SessionsOpened;

        long version = _hub.UpdateDesired(new JsonObject { ["mqtt"] = new JsonObject { ["port"] = moved } });
        await WaitUntilAsync(() => Reported("configuration", "appliedVersion")?.GetValue<long>() == version, "the patch applied");
        Log("runtime", Reported("runtime"));
        Assert.Null(Reported("runtime", "error"));
        Assert.Equal(moved, Runtime.Messaging.Current!.Broker!.Options.Port);
        Assert.Same(camera, Runtime.Cameras.Cameras.Single());
        Assert.Equal(sessions, Runtime.Models.SessionsOpened);
        await using var subscriber = await MqttCollector.StartAsync(moved, "edgemask/#");
        await subscriber.WaitUntilAsync(ms => ms.Any(m => m.Topic.EndsWith("/stats", StringComparison.Ordinal)), Patience, "stats on the moved broker");
        await _hub.WaitForTelemetryAsync(t => t.Properties.GetValueOrDefault("$.on") == "stats", "stats telemetry after the restart");
    }

    private static LocalAlarm RecordingAlarm(AlarmOptions options, List<RecordingGpioDriver> chips)
    {
        // A new chip per alarm built: each alarm owns (and disposes) the lines it opened.
        var chip = new RecordingGpioDriver(16, TimeProvider.System);
        lock (chips) chips.Add(chip);
        return new LocalAlarm(options, new DriverGpioChipProvider(new Dictionary<int, System.Device.Gpio.GpioDriver> { [0] = chip }), player: null, TimeProvider.System);
    }

    private static JsonObject AlarmSection(string minOn = "00:00:00", int line = 5) => new()
    {
        ["enabled"] = true,
        ["outputs"] = new JsonArray(new JsonObject { ["name"] = "light", ["kind"] = "light", ["chip"] = 0, ["line"] = line, ["minOn"] = minOn }),
    };
}

[CollectionDefinition("module-host", DisableParallelization = true)]
public sealed class ModuleHostCollection;
