namespace EdgeMask.Training.Tests.Detection;

/// <summary>Paths of the shared models and data, found from the repository root (the folder holding EdgeMask.sln).</summary>
internal static class SharedFiles
{
    public static string RepoRoot { get; } = FindRoot();

    public static string StockDetector => Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "models", "retinaface_mnet025.onnx"));
    public static string Voc853 => Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "data", "face-mask-voc853"));

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "EdgeMask.sln"))) return dir.FullName;
        throw new DirectoryNotFoundException($"No EdgeMask.sln above {AppContext.BaseDirectory}.");
    }
}
