using System.Security.Cryptography;

namespace EdgeMask.Inference.Models;

/// <summary>
/// Finds model files in a models folder and verifies them against the manifest before anything loads them.
/// Folder resolution: an explicit folder, else <c>EDGEMASK_MODELS</c>, else <c>models/</c> beside the program
/// (the container layout), else the nearest <c>models/</c> with a manifest.json above the working directory or
/// the program (a checkout).
/// </summary>
public sealed class ModelStore
{
    public const string InstallCommand = "models/install.sh --from ../shared/models   (or: models/install.sh, to download from the public sources)";

    public string Directory { get; }
    public ModelManifest Manifest { get; }

    public ModelStore(string directory, ModelManifest manifest)
    {
        Directory = Path.GetFullPath(directory);
        Manifest = manifest;
    }

    /// <summary>Opens the models folder; its own manifest.json is used when present, else the embedded one.</summary>
    public static ModelStore Open(string? explicitDirectory = null)
    {
        string directory = ResolveDirectory(explicitDirectory);
        string manifestPath = Path.Combine(directory, "manifest.json");
        var manifest = File.Exists(manifestPath) ? ModelManifest.Load(manifestPath) : ModelManifest.Embedded;
        return new ModelStore(directory, manifest);
    }

    public static string ResolveDirectory(string? explicitDirectory)
    {
        if (!string.IsNullOrWhiteSpace(explicitDirectory)) return explicitDirectory;
        var fromEnv = Environment.GetEnvironmentVariable("EDGEMASK_MODELS");
        if (!string.IsNullOrWhiteSpace(fromEnv)) return fromEnv;
        var besideProgram = Path.Combine(AppContext.BaseDirectory, "models");
        if (File.Exists(Path.Combine(besideProgram, "manifest.json"))) return besideProgram;
        foreach (var start in new[] { System.IO.Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "models");
                if (File.Exists(Path.Combine(candidate, "manifest.json"))) return candidate;
            }
        }
        return besideProgram;
    }

    /// <summary>The verified path of a manifest model: exists and has the pinned sha256, else a specific exception.</summary>
    public string GetVerifiedPath(ModelEntry model)
    {
        string path = Path.Combine(Directory, model.File);
        VerifyFile(path, model.Sha256, InstallHint(model));
        return path;
    }

    /// <summary>How to get this model back: from a mirror for downloaded models, from git for the ones the project trains and commits.</summary>
    public static string InstallHint(ModelEntry model) => model.Source?.Mirror is null && model.Source?.Url is null
        ? $"git checkout -- models/{model.File}, then models/install.sh (the file is committed; models/{Path.GetFileNameWithoutExtension(model.File)}.md says how to retrain it)"
        : InstallCommand;

    public static void VerifyFile(string path, string expectedSha256, string installHint = InstallCommand)
    {
        if (!File.Exists(path)) throw new ModelNotFoundException(path, installHint);
        string actual = Sha256Of(path);
        if (!string.Equals(actual, expectedSha256, StringComparison.OrdinalIgnoreCase))
            throw new ModelChecksumException(path, expectedSha256, actual, installHint);
    }

    public static string Sha256Of(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    /// <summary>
    /// The file a GPU execution provider should open instead of <paramref name="modelPath"/>: a manifest file made for the
    /// CPU only (its entry's <c>providers</c> is <c>["cpu"]</c>: the int8 classifier, whose uint8 QDQ graph TensorRT refuses
    /// and CUDA runs slower than the float file) is swapped for the role's file for that provider
    /// (<see cref="ModelManifest.ForProvider"/>), verified against its sha256. The CPU always opens the file it is given, and
    /// so does every provider for a file outside the manifest (a configured override) or without a provider list.
    /// </summary>
    /// <exception cref="ModelException">The provider's file is listed but missing or altered (named, with the fix).</exception>
    public static string ForProvider(string modelPath, Runtime.ExecutionProviderKind provider)
    {
        if (provider is not (Runtime.ExecutionProviderKind.TensorRT or Runtime.ExecutionProviderKind.Cuda)) return modelPath;
        string full = Path.GetFullPath(modelPath);
        string directory = Path.GetDirectoryName(full)!;
        string manifestPath = Path.Combine(directory, "manifest.json");
        ModelManifest manifest;
        try
        {
            manifest = File.Exists(manifestPath) ? ModelManifest.Load(manifestPath) : ModelManifest.Embedded;
        }
        catch (ModelManifestException)
        {
            return modelPath; // not a models folder this program can read: the file is someone's own, opened as given
        }
        var entry = manifest.Models.FirstOrDefault(m => m.File == Path.GetFileName(full));
        if (entry?.Providers is not { Count: > 0 } providers || providers.Contains(Runtime.ExecutionProviderOptions.ToName(provider), StringComparer.Ordinal))
            return modelPath;
        var variant = manifest.ForProvider(entry.Role, provider);
        if (variant == entry) return modelPath;
        string path = Path.Combine(directory, variant.File);
        VerifyFile(path, variant.Sha256, InstallHint(variant));
        return path;
    }
}
