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

    /// <summary>A new empty folder under the system temp folder, for one test.</summary>
    public static string NewTempDirectory(string prefix = "edgemask-test")
    {
        var dir = Path.Combine(Path.GetTempPath(), $"{prefix}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        return dir;
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "EdgeMask.sln"))) return dir.FullName;
        throw new InvalidOperationException($"No EdgeMask.sln above {AppContext.BaseDirectory}.");
    }
}
