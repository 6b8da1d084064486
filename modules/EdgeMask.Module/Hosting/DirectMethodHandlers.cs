using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using EdgeMask.Alarm;
using EdgeMask.Inference.Runtime;
using EdgeMask.IoTHub.Methods;
using EdgeMask.IoTHub.Mqtt;
using EdgeMask.IoTHub.Twin;
using OpenCvSharp;

namespace EdgeMask.Module.Hosting;

/// <summary>
/// The module's direct methods: <c>getStatus</c>, <c>captureSnapshot</c>, <c>testAlarm</c>, <c>setThresholds</c>.
/// Requests and answers are JSON; a bad request is a 400 with the errors per key, a missing thing (camera, alarm) a 404,
/// a state conflict (no frame yet, a test already running) a 409. Unknown methods are answered 404 by the client.
/// </summary>
public static class DirectMethodHandlers
{
    /// <summary>A JPEG returned inline is kept under this size so the answer fits IoT Hub's 128 KB method payload.</summary>
    public const int MaxInlineJpegBytes = 90 * 1024;

    public static readonly string[] Names = ["getStatus", "captureSnapshot", "testAlarm", "setThresholds"];

    public static void Register(ModuleHost host, IoTHubMqttClient client)
    {
        client.RegisterMethod("getStatus", (payload, _) => Task.FromResult(GetStatus(host, payload)));
        client.RegisterMethod("captureSnapshot", (payload, ct) => CaptureSnapshotAsync(host, payload, ct));
        client.RegisterMethod("testAlarm", (payload, ct) => TestAlarmAsync(host, payload, ct));
        client.RegisterMethod("setThresholds", (payload, ct) => SetThresholdsAsync(host, payload, ct));
    }

    /// <summary><c>getStatus</c> (no arguments; <c>null</c> or <c>{}</c>).</summary>
    public static MethodResponse GetStatus(ModuleHost host, JsonElement payload)
    {
        if (payload.ValueKind is not (JsonValueKind.Null or JsonValueKind.Object))
            throw new DirectMethodArgumentException("getStatus takes no arguments (send null or {}).");
        var args = DesiredObject.Root(payload.ValueKind == JsonValueKind.Null ? EmptyObject : payload);
        args.AllowOnly();
        ThrowIfErrors(args, "getStatus takes no arguments.");

        var runtime = host.Runtime;
        var options = host.Current;
        var cameras = new JsonArray();
        foreach (var c in runtime.Cameras.Cameras)
        {
            var k = c.Counters;
            var h = c.Health;
            cameras.Add(new JsonObject
            {
                ["id"] = c.Id,
                ["health"] = h.StateName,
                ["fps"] = Math.Round(k.Fps, 2),
                ["latencyMs"] = Math.Round(k.LatencyMs, 1),
                ["frames"] = k.Frames,
                ["dropped"] = h.FramesDropped,
                ["facesInLastFrame"] = k.FacesInLastFrame,
                ["faces"] = k.Faces,
                ["activeViolations"] = k.Active,
                ["violationsStarted"] = k.ViolationStarts,
                ["restarts"] = c.Restarts,
                ["reconnects"] = h.Reconnects,
                ["lastFrameAt"] = h.LastFrameAt?.ToString("O", CultureInfo.InvariantCulture),
                ["lastError"] = h.LastError,
            });
        }
        var sections = host.ReportedSections();
        JsonObject? outbox = null;
        if (runtime.Messaging.Current is { } messaging)
        {
            var m = messaging.GetMetrics();
            var destinations = new JsonArray();
            foreach (var d in m.Destinations)
                destinations.Add(new JsonObject { ["destination"] = d.Destination, ["connected"] = d.Connected, ["depth"] = d.Depth, ["published"] = d.Published });
            outbox = new JsonObject { ["depth"] = m.Destinations.Sum(d => d.Depth), ["stored"] = m.StoredMessages, ["destinations"] = destinations };
        }
        var (_, desiredVersion) = host.Client?.CurrentDesired ?? (null, -1);
        var body = new JsonObject
        {
            ["device"] = options.Device,
            ["module"] = host.Client?.Identity.ModuleId,
            ["state"] = sections["runtime"]?["state"]?.DeepClone(),
            ["generation"] = host.Generation,
            ["executionProvider"] = sections["executionProvider"]?.DeepClone(),
            ["configuration"] = new JsonObject
            {
                ["appliedVersion"] = host.Applier.BuildReported()["configuration"]?["appliedVersion"]?.DeepClone(),
                ["desiredVersion"] = desiredVersion,
                ["thresholdOverride"] = host.ThresholdOverride,
            },
            ["cameras"] = cameras,
            ["outbox"] = outbox,
            ["alarm"] = sections["alarm"],
            ["models"] = sections["models"],
            ["iotHub"] = host.Client is { } client ? new JsonObject { ["connected"] = client.IsConnected, ["connects"] = client.ConnectCount } : null,
        };
        return MethodResponse.Ok(body);
    }

    /// <summary>
    /// <c>captureSnapshot</c> <c>{"camera": "door", "inline": true}</c>: the camera's next frame (or, when none comes within
    /// a few seconds — a file that ended, a stream reconnecting — the last one kept) as a JPEG, its faces anonymized as
    /// <c>snapshots.privacy</c> says: inline as base64 (scaled down to fit the method payload), or stored by the
    /// snapshot store (its folder, its retention) and returned by id.
    /// </summary>
    public static async Task<MethodResponse> CaptureSnapshotAsync(ModuleHost host, JsonElement payload, CancellationToken ct)
    {
        var args = DesiredObject.Root(payload);
        args.AllowOnly("camera", "inline");
        string camera = args.String("camera", "", maxLength: 64);
        bool inline = args.Boolean("inline", true);
        if (payload.ValueKind == JsonValueKind.Object && !args.Has("camera")) args.AddError("camera", "required: the id of a camera.");
        ThrowIfErrors(args, "captureSnapshot needs {\"camera\": id, \"inline\": true|false}.");

        var cameraWorkers = host.Runtime.Cameras;
        var worker = cameraWorkers.Find(camera);
        if (worker is null)
        {
            return MethodResponse.Error(404, "unknownCamera", $"No running camera '{camera}'. Running: {string.Join(", ", cameraWorkers.Cameras.Select(c => c.Id))}.");
        }
        FrameJpeg? frame = null;
        if (!worker.Completion.IsCompleted) frame = await worker.FrameTap.NextAsync(host.Options.SnapshotWait, ct);
        frame ??= worker.FrameTap.Last;
        if (frame is null) return MethodResponse.Error(409, "noFrame", $"Camera '{camera}' has not delivered a frame yet.");

        var body = new JsonObject
        {
            ["camera"] = camera,
            ["capturedAt"] = frame.CapturedAt.ToString("O", CultureInfo.InvariantCulture),
            ["contentType"] = "image/jpeg",
            // The capture follows snapshots.privacy like a violation snapshot: say what was done to the faces.
            ["privacy"] = frame.Privacy.ToString(),
            ["facesBlurred"] = frame.BlurredFaces,
        };
        if (inline)
        {
            var (jpeg, width, height) = FitInline(frame);
            body["width"] = width;
            body["height"] = height;
            body["bytes"] = jpeg.Length;
            body["jpegBase64"] = Convert.ToBase64String(jpeg);
            return MethodResponse.Ok(body);
        }

        // Stored through the snapshot store: the configured (mounted) folder, counted against its retention limits,
        // written atomically, and findable by id like a violation's snapshot.
        if (host.Runtime.Snapshots.Current is not { Options.Enabled: true } store)
            return MethodResponse.Error(409, "snapshotsDisabled", "Snapshots are not stored on this device (snapshots.enabled is false); ask with \"inline\": true.");
        var stored = store.Save(camera, new Snapshots.RenderedSnapshot(null, frame.Jpeg, null, default, default, frame.Width, frame.Height,
            frame.Privacy, frame.BlurredFaces));
        if (stored.Status != Snapshots.SnapshotStatus.Stored || stored.Id is null || stored.FramePath is null)
            return MethodResponse.Error(507, "storageFailed", $"The snapshot could not be stored: {stored.Error}.");
        string id = stored.Id;
        string path = stored.FramePath;
        body["snapshotId"] = id;
        body["path"] = path;
        body["width"] = frame.Width;
        body["height"] = frame.Height;
        body["bytes"] = frame.Jpeg.Length;
        return MethodResponse.Ok(body);
    }

    /// <summary><c>testAlarm</c> <c>{"durationSeconds": 5, "announce": false}</c>: drives every output, then back to normal.</summary>
    public static async Task<MethodResponse> TestAlarmAsync(ModuleHost host, JsonElement payload, CancellationToken ct)
    {
        var args = DesiredObject.Root(payload.ValueKind == JsonValueKind.Null ? EmptyObject : payload);
        args.AllowOnly("durationSeconds", "announce");
        // Below the 30 s method timeout: the answer comes after the test ends.
        double seconds = args.Number("durationSeconds", 5, 0.1, 25);
        bool announce = args.Boolean("announce", false);
        ThrowIfErrors(args, "testAlarm takes {\"durationSeconds\": 0.1–25, \"announce\": true|false}.");

        if (host.Runtime.Alarm.Current is not { } alarm)
            return MethodResponse.Error(404, "noAlarm", "No alarm is configured (alarm.enabled is false or no outputs).");
        if (alarm.Snapshot().TestActive)
            return MethodResponse.Error(409, "busy", "An alarm test is already running.");
        try
        {
            var result = await alarm.TestAsync(TimeSpan.FromSeconds(seconds), announce, ct);
            return MethodResponse.Ok(JsonSerializer.SerializeToNode(result, AlarmJsonContext.Default.AlarmTestResult));
        }
        catch (ObjectDisposedException)
        {
            // The runner was replaced by a new configuration while the test was starting.
            return MethodResponse.Error(409, "restarting", "The alarm was replaced by a new configuration; try again.");
        }
    }

    /// <summary>
    /// <c>setThresholds</c> <c>{"detector": {"scoreThreshold": 0.6}, "violation": {…}}</c>: a partial patch of those two
    /// sections merged into the configuration in force, validated like a desired document, applied and reported.
    /// </summary>
    public static async Task<MethodResponse> SetThresholdsAsync(ModuleHost host, JsonElement payload, CancellationToken ct)
    {
        var args = DesiredObject.Root(payload);
        args.AllowOnly("detector", "violation");
        args.Object("detector");
        args.Object("violation");
        if (payload.ValueKind == JsonValueKind.Object && !args.Has("detector") && !args.Has("violation"))
            args.AddError("", "give 'detector' and/or 'violation'.");
        ThrowIfErrors(args, "setThresholds takes a partial {\"detector\": {…}, \"violation\": {…}} patch.");

        var patch = JsonNode.Parse(payload.GetRawText())!.AsObject();
        var errors = await host.SetThresholdsAsync(patch, ct);
        if (errors.Count > 0) throw new DirectMethodArgumentException("The thresholds are not valid; nothing was changed.", errors);
        var current = TwinConfiguration.ToDocument(host.Current);
        return MethodResponse.Ok(new JsonObject
        {
            ["applied"] = true,
            ["generation"] = host.Generation,
            ["detector"] = current["detector"]?.DeepClone(),
            ["violation"] = current["violation"]?.DeepClone(),
        });
    }

    /// <summary>Scales the JPEG down (and lowers its quality) until it fits <see cref="MaxInlineJpegBytes"/>.</summary>
    private static (byte[] Jpeg, int Width, int Height) FitInline(FrameJpeg frame)
    {
        if (frame.Jpeg.Length <= MaxInlineJpegBytes) return (frame.Jpeg, frame.Width, frame.Height);
        using var image = Cv2.ImDecode(frame.Jpeg, ImreadModes.Color);
        double scale = Math.Sqrt((double)MaxInlineJpegBytes / frame.Jpeg.Length);
        for (int attempt = 0; attempt < 8; attempt++, scale *= 0.8)
        {
            var size = new Size(Math.Max(16, (int)(image.Width * scale)), Math.Max(16, (int)(image.Height * scale)));
            using var small = new Mat();
            Cv2.Resize(image, small, size, 0, 0, InterpolationFlags.Area);
            Cv2.ImEncode(".jpg", small, out var jpeg, new ImageEncodingParam(ImwriteFlags.JpegQuality, 80));
            if (jpeg.Length <= MaxInlineJpegBytes) return (jpeg, size.Width, size.Height);
        }
        throw new InvalidOperationException("The frame cannot be made small enough for an inline answer; use \"inline\": false.");
    }

    private static void ThrowIfErrors(DesiredObject args, string message)
    {
        if (args.HasErrors) throw new DirectMethodArgumentException(message, args.Errors);
    }

    private static readonly JsonElement EmptyObject = JsonDocument.Parse("{}").RootElement.Clone();
}
