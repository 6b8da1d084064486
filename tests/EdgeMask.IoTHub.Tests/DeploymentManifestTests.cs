using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using EdgeMask.IoTHub.Mqtt;
using EdgeMask.IoTHub.Twin;
using EdgeMask.Messaging.Outbox;

namespace EdgeMask.IoTHub.Tests;

/// <summary>
/// The IoT Edge deployment manifests and Dockerfile.arm64 (they cannot be deployed or built here, so what can be checked
/// statically is checked: JSON, createOptions, routes against the outputs the code really sends, twin rules).
/// </summary>
public sealed partial class DeploymentManifestTests
{
    private static readonly string RepoRoot = FindRepoRoot();

    public static TheoryData<string> Manifests()
    {
        var data = new TheoryData<string> { "deployment.template.json" };
        foreach (var file in Directory.GetFiles(Path.Combine(RepoRoot, "deployment"), "*.json").Order())
        {
            data.Add(Path.GetRelativePath(RepoRoot, file));
        }

        return data;
    }

    private static JsonObject Load(string relative) =>
        JsonNode.Parse(File.ReadAllText(Path.Combine(RepoRoot, relative)))!.AsObject();

    private static JsonObject Agent(JsonObject manifest) => manifest["modulesContent"]!["$edgeAgent"]!["properties.desired"]!.AsObject();

    private static IEnumerable<(string Name, JsonObject Module)> AllModules(JsonObject manifest)
    {
        var agent = Agent(manifest);
        foreach (var (name, module) in agent["systemModules"]!.AsObject())
        {
            yield return (name, module!.AsObject());
        }

        foreach (var (name, module) in agent["modules"]!.AsObject())
        {
            yield return (name, module!.AsObject());
        }
    }

    /// <summary>edgeAgent concatenates createOptions, createOptions01, createOptions02 … in order.</summary>
    private static string CreateOptions(JsonObject module)
    {
        var settings = module["settings"]!.AsObject();
        var parts = settings.Where(p => p.Key == "createOptions" || CreateOptionsChunk().IsMatch(p.Key))
            .OrderBy(p => p.Key == "createOptions" ? 0 : int.Parse(p.Key["createOptions".Length..]))
            .Select(p => p.Value!.GetValue<string>())
            .ToArray();
        return string.Concat(parts);
    }

    [Fact]
    public void Manifests_AtLeastTheTemplateAndOneVariant_Exist()
    {
        Assert.True(Manifests().Count >= 2, "deployment.template.json and at least one variant in deployment/");
    }

    [Theory]
    [MemberData(nameof(Manifests))]
    public void Manifest_IotEdge15Schema_SystemModulesAndEdgeMaskModule(string file)
    {
        var manifest = Load(file);
        var agent = Agent(manifest);

        Assert.Equal("1.1", agent["schemaVersion"]!.GetValue<string>());
        Assert.Equal("docker", agent["runtime"]!["type"]!.GetValue<string>());
        Assert.Equal("mcr.microsoft.com/azureiotedge-agent:1.5", agent["systemModules"]!["edgeAgent"]!["settings"]!["image"]!.GetValue<string>());
        Assert.Equal("mcr.microsoft.com/azureiotedge-hub:1.5", agent["systemModules"]!["edgeHub"]!["settings"]!["image"]!.GetValue<string>());
        var edgemask = agent["modules"]!["edgemask"]!.AsObject();
        Assert.Equal("running", edgemask["status"]!.GetValue<string>());
        Assert.Equal("always", edgemask["restartPolicy"]!.GetValue<string>());
        Assert.Equal("${MODULES.edgemask}", edgemask["settings"]!["image"]!.GetValue<string>());
        Assert.NotNull(manifest["modulesContent"]!["$edgeHub"]!["properties.desired"]!["routes"]);
        Assert.NotNull(manifest["modulesContent"]!["edgemask"]!["properties.desired"]);
    }

    [Theory]
    [MemberData(nameof(Manifests))]
    public void Manifest_CreateOptions_ValidJsonObjectsInChunksOfAtMost512(string file)
    {
        foreach (var (name, module) in AllModules(Load(file)))
        {
            foreach (var (key, value) in module["settings"]!.AsObject().Where(p => p.Key.StartsWith("createOptions", StringComparison.Ordinal)))
            {
                Assert.True(value!.GetValueKind() == JsonValueKind.String, $"{file}: {name}.{key} must be a string");
                Assert.True(value.GetValue<string>().Length <= 512, $"{file}: {name}.{key} is longer than 512 characters");
            }

            var text = CreateOptions(module);
            var parsed = JsonNode.Parse(text);
            Assert.True(parsed is JsonObject, $"{file}: createOptions of {name} is not a JSON object: {text}");
        }
    }

    [Theory]
    [MemberData(nameof(Manifests))]
    public void Manifest_EdgeMaskCreateOptions_NvidiaRuntimeGpioDeviceAndVolumes(string file)
    {
        var module = Agent(Load(file))["modules"]!["edgemask"]!.AsObject();
        var host = JsonNode.Parse(CreateOptions(module))!["HostConfig"]!.AsObject();

        Assert.Equal("nvidia", host["Runtime"]!.GetValue<string>());
        var devices = host["Devices"]!.AsArray().Select(d => d!["PathOnHost"]!.GetValue<string>()).ToArray();
        Assert.Contains("/dev/gpiochip0", devices);
        var binds = host["Binds"]!.AsArray().Select(b => b!.GetValue<string>()).ToArray();
        Assert.Contains(binds, b => b.EndsWith(":/models:ro", StringComparison.Ordinal));
        Assert.Contains(binds, b => b.Contains(":/var/lib/edgemask/trt-cache", StringComparison.Ordinal));
        Assert.Contains(binds, b => b.Contains(":/var/lib/edgemask/snapshots", StringComparison.Ordinal));
        Assert.Equal(["gpio", "video"], host["GroupAdd"]!.AsArray().Select(g => g!.GetValue<string>()).Order().ToArray());
        Assert.Equal("/models", module["env"]!["EDGEMASK_MODELS"]!["value"]!.GetValue<string>());
    }

    [Fact]
    public void Template_UsbCamera_DeviceMappedAndConfigured()
    {
        var manifest = Load("deployment.template.json");
        var host = JsonNode.Parse(CreateOptions(Agent(manifest)["modules"]!["edgemask"]!.AsObject()))!["HostConfig"]!;
        var desired = manifest["modulesContent"]!["edgemask"]!["properties.desired"]!;

        Assert.Contains("/dev/video0", host["Devices"]!.AsArray().Select(d => d!["PathOnHost"]!.GetValue<string>()));
        Assert.Equal("/dev/video0", desired["cameras"]!["cam0"]!["source"]!.GetValue<string>());
    }

    [Fact]
    public void FourCameraVariant_FourRtspSources()
    {
        var cameras = Load(Path.Combine("deployment", "four-rtsp-cameras.deployment.json"))["modulesContent"]!["edgemask"]!["properties.desired"]!["cameras"]!.AsObject();

        Assert.Equal(4, cameras.Count);
        Assert.All(cameras, c => Assert.StartsWith("rtsp://", c.Value!["source"]!.GetValue<string>()));
    }

    [Theory]
    [MemberData(nameof(Manifests))]
    public void Routes_EachEdgeMaskSourceIsAnOutputTheModuleSends(string file)
    {
        var manifest = Load(file);
        // The outputs the outbox transport really maps events and stats to, not a list copied into the test.
        var sent = new HashSet<string>
        {
            IoTHubOutboxTransport.ToTelemetry(OutboxTransportTests.Row(OutboxKinds.Event, IoTHubMqttClientTests.SampleEvent("cam0")), "iothub").OutputName,
            IoTHubOutboxTransport.ToTelemetry(OutboxTransportTests.Row(OutboxKinds.Stats, IoTHubMqttClientTests.SampleStats("cam0")), "iothub").OutputName,
        };
        var modules = Agent(manifest)["modules"]!.AsObject().Select(p => p.Key).ToHashSet();
        var routes = manifest["modulesContent"]!["$edgeHub"]!["properties.desired"]!["routes"]!.AsObject();
        var usedOutputs = new HashSet<string>();

        foreach (var (name, value) in routes)
        {
            var text = value is JsonObject o ? o["route"]!.GetValue<string>() : value!.GetValue<string>();
            var from = RouteSource().Match(text);
            Assert.True(from.Success, $"{file}: route {name} has no FROM /messages/modules/<module>/outputs/<output>: {text}");
            Assert.True(modules.Contains(from.Groups["module"].Value), $"{file}: route {name} reads from an unknown module");
            if (from.Groups["module"].Value == "edgemask")
            {
                Assert.True(sent.Contains(from.Groups["output"].Value), $"{file}: route {name} reads output '{from.Groups["output"].Value}', which EdgeMask never sends");
                usedOutputs.Add(from.Groups["output"].Value);
            }

            var into = BrokeredEndpoint().Match(text);
            if (into.Success)
            {
                Assert.True(modules.Contains(into.Groups["module"].Value), $"{file}: route {name} delivers to a module that is not deployed");
            }
            else
            {
                Assert.EndsWith("INTO $upstream", text);
            }
        }

        Assert.Equal(sent.Order(), usedOutputs.Order()); // events and stats both reach the cloud
        Assert.Contains(routes, r => (r.Value is JsonObject o ? o["route"]!.GetValue<string>() : r.Value!.GetValue<string>())
            .Contains("outputs/events INTO BrokeredEndpoint", StringComparison.Ordinal));
    }

    [Theory]
    [MemberData(nameof(Manifests))]
    public void DesiredProperties_RespectTwinRulesAndTheApplierAcceptsThem(string file)
    {
        var desired = Load(file)["modulesContent"]!["edgemask"]!["properties.desired"]!.AsObject();
        var problems = new List<string>();
        Walk(desired, "", problems);
        Assert.Empty(problems);

        using var doc = JsonDocument.Parse(desired.ToJsonString());
        var applier = new TwinConfigurationApplier<object>(new object(), _ => TwinValidationResult<object>.Valid(new object()));
        var result = applier.Apply(doc.RootElement, 1);
        Assert.True(result.Applied, string.Join("; ", result.Errors.Select(e => $"{e.Key}: {e.Value}")));
    }

    [Theory]
    [MemberData(nameof(Manifests))]
    public void DesiredProperties_TopLevelSectionsAsAssumedFromEdgeMaskOptions(string file)
    {
        // The sections of EdgeMaskOptions (modules/EdgeMask.Module/Configuration) when the manifests were written; the
        // exact key-by-key match against the options type belongs in the module's tests, which can reference it.
        string[] expected = ["alarm", "capture", "classifier", "cameras", "contract", "detector", "device", "inference", "metrics", "mqtt", "outbox", "snapshots", "sources", "stats", "tracking", "violation"];
        var desired = Load(file)["modulesContent"]!["edgemask"]!["properties.desired"]!.AsObject();

        Assert.Equal(expected.Order(), desired.Select(p => p.Key).Order());
        Assert.Equal(9464, desired["metrics"]!["port"]!.GetValue<int>());
    }

    [Fact]
    public void Dockerfile_EntryPointAndHealthCheckMatchTheProgram()
    {
        var dockerfile = File.ReadAllText(Path.Combine(RepoRoot, "Dockerfile.arm64"));
        var csproj = XDocument.Load(Path.Combine(RepoRoot, "modules", "EdgeMask.Module", "EdgeMask.Module.csproj"));
        var assemblyName = csproj.Descendants("AssemblyName").Single().Value;
        var desired = Load("deployment.template.json")["modulesContent"]!["edgemask"]!["properties.desired"]!["metrics"]!;

        var entry = Regex.Match(dockerfile, @"^ENTRYPOINT\s+(\[.*\])\s*$", RegexOptions.Multiline);
        Assert.True(entry.Success);
        Assert.Equal(["/opt/edgemask/" + assemblyName, "module"], JsonSerializer.Deserialize<string[]>(entry.Groups[1].Value)!);
        Assert.Contains($"test -x /out/{assemblyName}", dockerfile);
        Assert.Contains($"http://{desired["address"]!.GetValue<string>()}:{desired["port"]!.GetValue<int>()}/healthz", dockerfile);
        Assert.Matches(@"(?m)^USER edgemask$", dockerfile);
        Assert.Contains("--groups video,gpio", dockerfile);
        Assert.Contains("-r linux-arm64", dockerfile);
        Assert.Matches(@"(?m)^VOLUME \[.*""/models"".*""/var/lib/edgemask/trt-cache"".*\]$", dockerfile);
    }

    [Fact]
    public void Dockerfile_CopiedSourcesExist()
    {
        var dockerfile = File.ReadAllText(Path.Combine(RepoRoot, "Dockerfile.arm64"));
        foreach (Match copy in Regex.Matches(dockerfile, @"^COPY (?!--from)(?<args>.+)$", RegexOptions.Multiline))
        {
            var parts = copy.Groups["args"].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            foreach (var source in parts[..^1])
            {
                Assert.True(File.Exists(Path.Combine(RepoRoot, source)) || Directory.Exists(Path.Combine(RepoRoot, source)),
                    $"Dockerfile.arm64 copies '{source}', which is not in the repository");
            }
        }

        Assert.True(File.Exists(Path.Combine(RepoRoot, "modules/EdgeMask.Module/EdgeMask.Module.csproj")));
    }

    private static void Walk(JsonNode? node, string path, List<string> problems)
    {
        var depth = path.Count(c => c == '/') + 1;
        switch (node)
        {
            case null:
                problems.Add($"{path}: null (a null in a twin patch deletes the key)");
                break;
            case JsonObject obj:
                if (depth > 10) problems.Add($"{path}: deeper than 10 levels");
                foreach (var (name, child) in obj)
                {
                    if (name.IndexOfAny(['.', '$', ' ']) >= 0 || name.Any(char.IsControl))
                    {
                        problems.Add($"{path}/{name}: twin keys may not contain '.', '$', spaces or control characters");
                    }

                    Walk(child, path.Length == 0 ? name : $"{path}/{name}", problems);
                }

                break;
            case JsonArray array:
                for (var i = 0; i < array.Count; i++)
                {
                    Walk(array[i], $"{path}/{i}", problems);
                }

                break;
            case JsonValue value when value.GetValueKind() == JsonValueKind.String && value.GetValue<string>().Length > 4096:
                problems.Add($"{path}: string longer than 4 KB");
                break;
        }
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "EdgeMask.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("EdgeMask.sln not found above " + AppContext.BaseDirectory);
    }

    [GeneratedRegex(@"^createOptions\d{2}$")]
    private static partial Regex CreateOptionsChunk();

    [GeneratedRegex(@"^FROM /messages/modules/(?<module>[^/]+)/outputs/(?<output>[^/\s]+) ")]
    private static partial Regex RouteSource();

    [GeneratedRegex(@"INTO BrokeredEndpoint\(""/modules/(?<module>[^/]+)/inputs/[^""]+""\)$")]
    private static partial Regex BrokeredEndpoint();
}
