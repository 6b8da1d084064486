using System.Text.Json;
using System.Text.Json.Nodes;
using EdgeMask.Module.Configuration;
using Shared = EdgeMask.Tests.Shared.TestPaths;

namespace EdgeMask.Module.Tests.Deployment;

/// <summary>The deployment manifests' desired properties and <see cref="EdgeMaskOptions"/> describe the same configuration.</summary>
public class ManifestOptionsTests
{
    public static TheoryData<string> Manifests()
    {
        var data = new TheoryData<string> { "deployment.template.json" };
        foreach (var f in Directory.EnumerateFiles(Path.Combine(Shared.RepoRoot, "deployment"), "*.json").Order())
            data.Add(Path.GetRelativePath(Shared.RepoRoot, f));
        return data;
    }

    private static JsonObject Desired(string manifest)
    {
        var root = JsonNode.Parse(File.ReadAllText(Path.Combine(Shared.RepoRoot, manifest)))!.AsObject();
        var desired = root["modulesContent"]!["edgemask"]!["properties.desired"]!.AsObject();
        return desired;
    }

    /// <summary>Key paths of leaves (objects recursed into; arrays and cameras' contents are values).</summary>
    private static SortedSet<string> Keys(JsonNode? node, string path = "")
    {
        var keys = new SortedSet<string>(StringComparer.Ordinal);
        if (node is JsonObject o && path != "cameras")
        {
            foreach (var (k, v) in o)
            {
                string p = path.Length == 0 ? k : $"{path}.{k}";
                if (v is JsonObject) keys.UnionWith(Keys(v, p));
                else keys.Add(p);
            }
        }
        else keys.Add(path);
        return keys;
    }

    [Theory]
    [MemberData(nameof(Manifests))]
    public void DesiredProperties_ParseStrictlyAsTheModuleConfiguration(string manifest)
    {
        var desired = Desired(manifest);
        var options = ConfigLoader.Parse(desired.ToJsonString(), manifest);
        Assert.NotEmpty(options.Cameras);
    }

    [Theory]
    [MemberData(nameof(Manifests))]
    public void DesiredProperties_EveryOptionHasADefaultAndEveryKeyIsAnOption(string manifest)
    {
        var fromOptions = Keys(JsonNode.Parse(ConfigLoader.Serialize(new EdgeMaskOptions())));
        var fromManifest = Keys(Desired(manifest));
        // Null defaults cannot be written in a twin (null deletes a key); the manifests may set these paths though.
        var optional = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { "inference.modelsDirectory", "inference.tensorRtCacheDirectory" };
        var missing = fromOptions.Where(k => !fromManifest.Contains(k)).ToList();
        var unknown = fromManifest.Where(k => !fromOptions.Contains(k) && !optional.Contains(k) && !k.StartsWith("cameras", StringComparison.Ordinal)).ToList();
        Assert.True(missing.Count == 0, $"{manifest} lacks defaults for: {string.Join(", ", missing)}");
        Assert.True(unknown.Count == 0, $"{manifest} has keys the module does not know: {string.Join(", ", unknown)}");
    }

    [Theory]
    [MemberData(nameof(Manifests))]
    public void CreateOptions_StopTimeout_CoversTheModulesWholeStop(string manifest)
    {
        var root = JsonNode.Parse(File.ReadAllText(Path.Combine(Shared.RepoRoot, manifest)))!.AsObject();
        var settings = root["modulesContent"]!["$edgeAgent"]!["properties.desired"]!["modules"]!["edgemask"]!["settings"]!.AsObject();
        // edgeAgent concatenates createOptions, createOptions01, … (each at most 512 characters).
        var chunks = settings.Where(kv => kv.Key.StartsWith("createOptions", StringComparison.Ordinal)).OrderBy(kv => kv.Key.Length).ThenBy(kv => kv.Key, StringComparer.Ordinal).ToList();
        Assert.All(chunks, c => Assert.True(c.Value!.GetValue<string>().Length <= 512, $"{c.Key} is longer than 512 characters"));
        var createOptions = JsonNode.Parse(string.Concat(chunks.Select(c => c.Value!.GetValue<string>())))!.AsObject();

        int stopTimeout = createOptions["StopTimeout"]!.GetValue<int>();
        // The host gives up waiting on its own stop after ShutdownTimeout; the container must not be killed before that.
        Assert.True(TimeSpan.FromSeconds(stopTimeout) > new Hosting.DeviceHostSettings().ShutdownTimeout,
            $"{manifest}: StopTimeout {stopTimeout} s does not cover the module's shutdown timeout");
    }
}
