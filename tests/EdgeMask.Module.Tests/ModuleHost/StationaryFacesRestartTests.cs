using System.Text.Json.Nodes;
using EdgeMask.Module.Cli;
using EdgeMask.Module.Hosting;
using EdgeMask.Module.Tests.Pipeline;
using OpenCvSharp;
using Paths = EdgeMask.Tests.Shared.TestPaths;

namespace EdgeMask.Module.Tests.ModuleHost;

/// <summary>
/// A poster's learnt spot survives a restart of the module: the device keeps its cameras' learnt pictures beside the
/// outbox, so after a deployment update or a reboot the poster does not start a violation again.
/// </summary>
[Collection("module-host")]
public sealed class StationaryFacesRestartTests
{
    private const int Fps = 5;

    /// <summary>A camera's frames as an image folder: the poster 4 s, hidden by a passer-by 3 s, the poster 2 s.</summary>
    private static string PosterFolder(string dir)
    {
        string folder = Path.Combine(dir, "frames");
        Directory.CreateDirectory(folder);
        using Mat wall = StationaryFacePipelineTests.Wall();
        using Mat hidden = StationaryFacePipelineTests.Hidden(wall);
        string wallFile = Path.Combine(dir, "wall.jpg"), hiddenFile = Path.Combine(dir, "hidden.jpg");
        Cv2.ImWrite(wallFile, wall);
        Cv2.ImWrite(hiddenFile, hidden);
        int n = 0;
        foreach (var (file, seconds) in new[] { (wallFile, 4), (hiddenFile, 3), (wallFile, 2) })
            for (int i = 0; i < seconds * Fps; i++) File.CreateSymbolicLink(Path.Combine(folder, $"f{n++:D3}.jpg"), file);
        return folder;
    }

    private static JsonObject Config(string dir, string frames) => new()
    {
        ["device"] = "station",
        ["cameras"] = new JsonObject { ["platform"] = new JsonObject { ["source"] = frames, ["realtime"] = true } },
        ["sources"] = new JsonObject { ["imageFolderFps"] = Fps },
        ["inference"] = new JsonObject { ["modelsDirectory"] = Path.Combine(Paths.RepoRoot, "models"), ["executionProvider"] = "cpu" },
        ["violation"] = new JsonObject { ["stationary"] = new JsonObject { ["after"] = "00:00:02" } },
        ["mqtt"] = new JsonObject { ["enabled"] = false },
        ["outbox"] = new JsonObject { ["path"] = Path.Combine(dir, "state", "outbox.db") },
        ["metrics"] = new JsonObject { ["enabled"] = false },
    };

    /// <summary>Runs the module on the folder to its end, then stops it as IoT Edge would; the camera's starts and learnt pictures.</summary>
    private static async Task<(long Starts, int Pictures, int Held)> RunOnce(string dir, string frames)
    {
        var hosted = await HostedModule.StartAsync(Config(dir, frames),
            new ModuleHostOptions { Run = new RunSettings { LiveView = false, SnapshotDirectory = Path.Combine(dir, "snapshots") } }, client: null);
        try
        {
            var camera = hosted.Runtime.Cameras.Cameras.Single();
            await IoTHub.Tests.Infrastructure.TestPorts.WaitUntilAsync(() => camera.Completion.IsCompleted, "the folder's end", TimeSpan.FromSeconds(120));
            return (camera.Counters.ViolationStarts, camera.StationaryFaces.Count, camera.StationaryFaces.Sum(f => f.HeldStarts));
        }
        finally
        {
            await hosted.DisposeAsync();
        }
    }

    [Fact]
    public async Task Module_RestartedAfterLearningAPoster_PosterStartsNoViolationAgain()
    {
        string dir = Paths.NewTempDirectory();
        string frames = PosterFolder(dir);
        string file = Path.Combine(dir, "state", StationaryFacesFile.FileName);

        var first = await RunOnce(dir, frames);

        Assert.Equal((1L, 1, 1), first);
        Assert.True(File.Exists(file), "the learnt picture is saved beside the outbox");
        string saved = await File.ReadAllTextAsync(file);
        Assert.Contains("\"platform\"", saved, StringComparison.Ordinal);
        Assert.DoesNotContain(frames, saved, StringComparison.Ordinal); // a source may carry a password: only its hash is kept

        var second = await RunOnce(dir, frames);

        // Both appearances of the poster are held: the first one too, because the spot was known from the start.
        Assert.Equal((0L, 1, 3), second);
    }
}
