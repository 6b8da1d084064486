using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using EdgeMask.Core.Detection;

namespace EdgeMask.Inference.Models;

/// <summary>
/// <c>models/manifest.json</c>: every model the project runs, with its sha256, source and tensor contract. The code takes
/// the facts of a model (input name, mean, prior boxes, …) from here and nowhere else. A copy is embedded in this
/// assembly so a published program works with only the weights beside it; a manifest.json in the models folder wins.
/// </summary>
public sealed record ModelManifest
{
    public required string Schema { get; init; }
    public required IReadOnlyList<ModelEntry> Models { get; init; }

    public ModelEntry Get(string name) =>
        Models.FirstOrDefault(m => m.Name == name)
        ?? throw new ModelManifestException($"models/manifest.json has no model named '{name}'. Known: {string.Join(", ", Models.Select(m => m.Name))}.");

    /// <summary>The first required model of a role (else the first of it): the default, and what the CPU runs.</summary>
    public ModelEntry GetByRole(string role) =>
        Models.FirstOrDefault(m => m.Role == role && m.Required)
        ?? Models.FirstOrDefault(m => m.Role == role)
        ?? throw new ModelManifestException($"models/manifest.json lists no model with role '{role}'.");

    /// <summary>
    /// The model of a role made for an execution provider: the first entry whose <see cref="ModelEntry.Providers"/> names it,
    /// else the role's default (<see cref="GetByRole"/>). <see cref="ModelStore.ForProvider"/> applies it per provider tried. The classifier has two files: its int8 quantization for
    /// the CPU, whose integer kernels run it at about half the float cost, and the float file for TensorRT (built as FP16)
    /// and CUDA, which have no use for the CPU's uint8 QDQ graph (TensorRT's explicit INT8 takes only symmetric int8, and
    /// CUDA has no fused integer convolution).
    /// </summary>
    public ModelEntry ForProvider(string role, Runtime.ExecutionProviderKind provider)
    {
        string name = Runtime.ExecutionProviderOptions.ToName(provider);
        return Models.FirstOrDefault(m => m.Role == role && m.Providers is { } p && p.Contains(name, StringComparer.Ordinal))
            ?? GetByRole(role);
    }

    private static readonly string[] ProviderNames = ["tensorrt", "cuda", "cpu"];

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
    };

    public static ModelManifest Parse(string json, string origin)
    {
        ModelManifest? manifest;
        try
        {
            manifest = JsonSerializer.Deserialize<ModelManifest>(json, JsonOptions);
        }
        catch (JsonException ex)
        {
            throw new ModelManifestException($"{origin} is not a valid model manifest: {ex.Message}", ex);
        }
        if (manifest is null || manifest.Models.Count == 0)
            throw new ModelManifestException($"{origin} lists no models.");
        foreach (var m in manifest.Models)
        {
            if (string.IsNullOrWhiteSpace(m.File) || m.File.Contains('/') || m.File.Contains('\\'))
                throw new ModelManifestException($"{origin}: model '{m.Name}' needs a plain file name, not '{m.File}'.");
            if (m.Sha256 is not { Length: 64 })
                throw new ModelManifestException($"{origin}: model '{m.Name}' needs a 64-hex-digit sha256.");
            if (m.Providers?.FirstOrDefault(p => !ProviderNames.Contains(p, StringComparer.Ordinal)) is { } unknown)
                throw new ModelManifestException($"{origin}: model '{m.Name}' lists provider '{unknown}'; known: {string.Join(", ", ProviderNames)}.");
        }
        return manifest;
    }

    public static ModelManifest Load(string path)
    {
        if (!File.Exists(path)) throw new ModelManifestException($"Model manifest {path} does not exist.");
        return Parse(File.ReadAllText(path), path);
    }

    /// <summary>The copy of models/manifest.json compiled into this assembly.</summary>
    public static ModelManifest Embedded { get; } = LoadEmbedded();

    private static ModelManifest LoadEmbedded()
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("EdgeMask.models.manifest.json")
            ?? throw new ModelManifestException("The embedded model manifest is missing from EdgeMask.Inference (build problem).");
        using var reader = new StreamReader(stream);
        return Parse(reader.ReadToEnd(), "embedded models/manifest.json");
    }
}

public sealed record ModelEntry
{
    public required string Name { get; init; }
    /// <summary><c>detector</c> or <c>classifier</c>.</summary>
    public required string Role { get; init; }
    public required string File { get; init; }
    public required string Sha256 { get; init; }
    public long? Bytes { get; init; }
    public bool Required { get; init; } = true;
    public string? Licence { get; init; }
    public string? Description { get; init; }
    public ModelSource? Source { get; init; }
    public required ModelInputContract Input { get; init; }
    public IReadOnlyDictionary<string, string>? Outputs { get; init; }
    public PriorBoxSection? PriorBoxes { get; init; }
    /// <summary>
    /// The execution providers (<c>tensorrt</c>, <c>cuda</c>, <c>cpu</c>) this file is made for, when a role has one file
    /// per provider (<see cref="ModelManifest.ForProvider"/>); null: any.
    /// </summary>
    public IReadOnlyList<string>? Providers { get; init; }

    /// <summary>The manifest name of output <paramref name="role"/> (e.g. "loc"), or the role itself.</summary>
    public string OutputName(string role) => Outputs is not null && Outputs.TryGetValue(role, out var n) ? n : role;

    public PriorBoxConfig GetPriorBoxConfig()
    {
        if (PriorBoxes is null) throw new ModelManifestException($"Model '{Name}' has no priorBoxes section in models/manifest.json.");
        if (PriorBoxes.Variance.Count != 2) throw new ModelManifestException($"Model '{Name}': priorBoxes.variance must hold two numbers.");
        var config = new PriorBoxConfig
        {
            MinSizes = PriorBoxes.MinSizes,
            Steps = PriorBoxes.Steps,
            CenterVariance = PriorBoxes.Variance[0],
            SizeVariance = PriorBoxes.Variance[1],
        };
        try { config.Validate(); }
        catch (ArgumentException ex) { throw new ModelManifestException($"Model '{Name}': {ex.Message}", ex); }
        return config;
    }
}

public sealed record ModelSource
{
    /// <summary>The file name in a mirror folder (e.g. ../shared/models).</summary>
    public string? Mirror { get; init; }
    /// <summary>A public address of exactly this file, when one exists.</summary>
    public string? Url { get; init; }
    public string? Origin { get; init; }
}

public sealed record ModelInputContract
{
    public required string Name { get; init; }
    public string Layout { get; init; } = "NCHW";
    /// <summary><c>BGR</c> or <c>RGB</c>: the order of the channel planes.</summary>
    public string ColorOrder { get; init; } = "BGR";
    public bool DynamicSize { get; init; }
    public int? Width { get; init; }
    public int? Height { get; init; }
    /// <summary>Per-channel mean in the model's channel order, in 0–255 pixel units.</summary>
    public IReadOnlyList<float> Mean { get; init; } = [0, 0, 0];
    /// <summary>Per-channel std in 0–255 units (absent: 1, i.e. no division).</summary>
    public IReadOnlyList<float>? Std { get; init; }
    /// <summary>Multiplier applied after mean/std (e.g. 1/255).</summary>
    public float Scale { get; init; } = 1f;
}

public sealed record PriorBoxSection
{
    public required IReadOnlyList<IReadOnlyList<int>> MinSizes { get; init; }
    public required IReadOnlyList<int> Steps { get; init; }
    public required IReadOnlyList<float> Variance { get; init; }
}

