namespace EdgeMask.Tests.Shared;

/// <summary>Where tests find the repository, the read-only <c>../shared</c> folder (models, data, samples) and installed models.</summary>
public static class TestPaths
{
    public static string RepoRoot { get; } = FindRepoRoot();

    /// <summary><c>../shared</c> beside the checkout (CI lays it there, read-only); <c>EDGEMASK_SHARED</c> overrides.</summary>
    public static string Shared { get; } = Environment.GetEnvironmentVariable("EDGEMASK_SHARED") is { Length: > 0 } s
        ? Path.GetFullPath(s)
        : Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared"));

    public static string SharedModels => Path.Combine(Shared, "models");
    public static string Voc853 => Path.Combine(Shared, "data", "face-mask-voc853");
    public static string Cd7 => Path.Combine(Shared, "data", "face-mask-crops-cd7");
    public static string SampleVideo => Path.Combine(Shared, "samples", "station-crowd-960x540.mp4");

    /// <summary>The mirror of the models: tests read them straight from ../shared/models, never from a copy in the repo.</summary>
    public static string DetectorModel => Path.Combine(SharedModels, "retinaface_mnet025.onnx");

    public static string VocImage(int n) => Path.Combine(Voc853, "images", $"maksssksksss{n}.jpg");
    public static string VocAnnotation(int n) => Path.Combine(Voc853, "annotations", $"maksssksksss{n}.xml");

    /// <summary>
    /// A new empty folder for one test, inside this test process's own temp root (<see cref="RunTempRoot"/>), which is
    /// removed when the process exits. Tests need not delete it themselves: most did not, and every run of the suite
    /// left a few hundred folders (model copies, outboxes, snapshots; gigabytes over a day) in the system temp folder.
    /// </summary>
    public static string NewTempDirectory(string prefix = "edgemask-test")
    {
        var dir = Path.Combine(RunTempRoot, $"{prefix}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        return dir;
    }

    /// <summary>
    /// <c>$TMPDIR/edgemask-tests/&lt;pid&gt;-&lt;random&gt;</c>: one per test process, deleted at its exit. A process that was
    /// killed cannot clean up, so the first test of the next run deletes the roots whose process is gone. Kept short
    /// (Unix socket paths are limited to about 100 bytes).
    /// </summary>
    public static string RunTempRoot => LazyRunTempRoot.Value;

    private static readonly Lazy<string> LazyRunTempRoot = new(CreateRunTempRoot, LazyThreadSafetyMode.ExecutionAndPublication);

    private static string CreateRunTempRoot()
    {
        string parent = Path.Combine(Path.GetTempPath(), "edgemask-tests");
        Directory.CreateDirectory(parent);
        foreach (string stale in Directory.EnumerateDirectories(parent))
        {
            string name = Path.GetFileName(stale);
            int dash = name.IndexOf('-');
            if (dash > 0 && int.TryParse(name.AsSpan(0, dash), out int pid) && !IsProcessAlive(pid)) TryDelete(stale);
        }
        string root = Path.Combine(parent, $"{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..8]}");
        Directory.CreateDirectory(root);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => TryDelete(root);
        return root;
    }

    private static bool IsProcessAlive(int pid)
    {
        if (pid == Environment.ProcessId) return true;
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false; // no such process
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    private static void TryDelete(string dir)
    {
        try
        {
            Directory.Delete(dir, recursive: true);
        }
        catch (IOException)
        {
            // Another test process of this run may be deleting it too, or a file is still open: left for the next run.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "EdgeMask.sln"))) return dir.FullName;
        throw new InvalidOperationException($"No EdgeMask.sln above {AppContext.BaseDirectory}.");
    }
}
