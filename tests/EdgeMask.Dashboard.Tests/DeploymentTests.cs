using System.Diagnostics;
using System.Reflection;
using System.Text.Json;
using System.Text.RegularExpressions;
using EdgeMask.Dashboard.Options;
using EdgeMask.Dashboard.Tests.Support;
using YamlDotNet.RepresentationModel;

namespace EdgeMask.Dashboard.Tests;

/// <summary>
/// The cloud deployment as files CI can check without Docker or Azure: the compose file parses (YamlDotNet) and its
/// services, volumes and env files hang together; the Bicep template compiles with the real Bicep compiler; the
/// Dockerfile is multi-stage, multi-architecture, non-root and health-checked. Both deployments must name exactly
/// the settings the dashboard reads, derived from the options binding (<see cref="DashboardOptions"/>) itself.
/// </summary>
public sealed partial class DeploymentTests
{
    private static readonly string Root = RepositoryRoot.Path;
    private static readonly string Cloud = Path.Combine(Root, "deployment", "cloud");

    /// <summary>Every key the configuration binder fills in <see cref="DashboardOptions"/>, as an environment variable name.</summary>
    internal static SortedSet<string> SettingsTheAppReads()
    {
        var keys = new SortedSet<string>(StringComparer.Ordinal);
        void Walk(Type type, string prefix)
        {
            foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.SetMethod?.IsPublic == true))
            {
                var key = $"{prefix}__{property.Name}";
                var t = property.PropertyType;
                if (t.IsArray)
                {
                    keys.Add(key + "__0");
                }
                else if (t.IsClass && t != typeof(string) && t.Namespace == typeof(DashboardOptions).Namespace)
                {
                    Walk(t, key);
                }
                else
                {
                    keys.Add(key);
                }
            }
        }
        Walk(typeof(DashboardOptions), DashboardOptions.SectionName);
        return keys;
    }

    [Fact]
    public void SettingsTheAppReads_FromTheOptionsBinding_IncludeNestedSectionsAndArrays()
    {
        var settings = SettingsTheAppReads();
        Assert.Contains("Dashboard__Listen", settings);
        Assert.Contains("Dashboard__Store__ConnectionString", settings);
        Assert.Contains("Dashboard__EventHubs__OwnershipExpiration", settings);
        Assert.Contains("Dashboard__Auth__ApiKeyHashes__0", settings);
        // Computed properties are not settings.
        Assert.DoesNotContain("Dashboard__ListenUrls", settings);
        Assert.DoesNotContain("Dashboard__Store__Provider", settings);
        Assert.True(settings.Count > 35, string.Join(", ", settings));
    }

    [Fact]
    public void ComposeFile_Parses_ServicesVolumesAndEnvFilesHangTogether()
    {
        var compose = LoadYaml(Path.Combine(Cloud, "compose.yaml"));
        var services = (YamlMappingNode)compose["services"];
        Assert.Equal(["dashboard", "mosquitto", "postgres"], services.Children.Keys.Select(k => k.ToString()).Order(StringComparer.Ordinal));
        var declaredVolumes = ((YamlMappingNode)compose["volumes"]).Children.Keys.Select(k => k.ToString()).ToHashSet();

        foreach (var (name, node) in services.Children.Select(kv => (kv.Key.ToString(), (YamlMappingNode)kv.Value)))
        {
            foreach (var mount in Sequence(node, "volumes"))
            {
                var source = mount.Split(':')[0];
                if (source.StartsWith("./", StringComparison.Ordinal))
                {
                    Assert.True(File.Exists(Path.Combine(Cloud, source)), $"{name} mounts {source}, which does not exist");
                }
                else
                {
                    Assert.Contains(source, declaredVolumes);
                }
            }
            foreach (var envFile in Sequence(node, "env_file"))
            {
                // Secrets are not committed: their documented templates are.
                var path = Path.Combine(Cloud, envFile);
                Assert.True(File.Exists(path) || File.Exists(path + ".example"), $"{name} reads {envFile}, and neither it nor {envFile}.example exists");
            }
            Assert.True(node.Children.ContainsKey("restart"), $"{name} has no restart policy");
        }

        var dashboard = (YamlMappingNode)services["dashboard"];
        var build = (YamlMappingNode)dashboard["build"];
        Assert.True(File.Exists(Path.Combine(Cloud, build["context"].ToString(), build["dockerfile"].ToString())), "the dashboard's Dockerfile");
        Assert.Equal("service_healthy", ((YamlMappingNode)((YamlMappingNode)dashboard["depends_on"])["postgres"])["condition"].ToString());
        Assert.Contains("/data", Sequence(dashboard, "volumes").Single(v => v.StartsWith("dashboard-data", StringComparison.Ordinal)));
        Assert.Contains(Sequence(dashboard, "ports"), p => p.StartsWith("127.0.0.1:", StringComparison.Ordinal) && p.EndsWith(":8080", StringComparison.Ordinal));
        Assert.True(((YamlMappingNode)services["postgres"]).Children.ContainsKey("healthcheck"));
        Assert.Contains("./mosquitto/mosquitto.conf:/mosquitto/config/mosquitto.conf:ro", Sequence((YamlMappingNode)services["mosquitto"], "volumes"));
    }

    [Fact]
    public void ComposeFile_DashboardEnvFiles_NameExactlyTheSettingsTheAppReads()
    {
        var compose = LoadYaml(Path.Combine(Cloud, "compose.yaml"));
        var dashboard = (YamlMappingNode)((YamlMappingNode)compose["services"])["dashboard"];
        var named = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var envFile in Sequence(dashboard, "env_file"))
        {
            var path = Path.Combine(Cloud, envFile);
            foreach (var line in File.ReadAllLines(File.Exists(path) ? path : path + ".example"))
            {
                // "KEY=value" sets a key; "# KEY=value" names it at the default shown.
                var match = EnvAssignment().Match(line);
                if (match.Success && match.Groups["key"].Value.StartsWith(DashboardOptions.SectionName + "__", StringComparison.Ordinal))
                {
                    named.Add(match.Groups["key"].Value);
                }
            }
        }
        if (dashboard.Children.TryGetValue("environment", out var environment))
        {
            named.UnionWith(((YamlMappingNode)environment).Children.Keys.Select(k => k.ToString()));
        }
        var expected = SettingsTheAppReads();
        Assert.Equal(expected, named);
    }

    [Fact]
    public void ComposeFile_DashboardEnv_BindsAndValidatesAsTheDashboardWould()
    {
        // The values in dashboard.env (with the secret templates' placeholders for what is secret) are accepted by the
        // same binder and validation the dashboard runs at start.
        var values = new Dictionary<string, string?>();
        foreach (var line in File.ReadAllLines(Path.Combine(Cloud, "dashboard.env")))
        {
            var match = EnvAssignment().Match(line);
            if (match.Success && !line.StartsWith('#'))
            {
                values[match.Groups["key"].Value.Replace("__", ":", StringComparison.Ordinal)] = match.Groups["value"].Value;
            }
        }
        values["Dashboard:Auth:AdminPasswordHash"] = Security.PasswordHasher.Hash("a password of enough length", 1000);
        var configuration = Microsoft.Extensions.Configuration.MemoryConfigurationBuilderExtensions.AddInMemoryCollection(new Microsoft.Extensions.Configuration.ConfigurationBuilder(), values).Build();
        var options = Microsoft.Extensions.Configuration.ConfigurationBinder.Get<DashboardOptions>(configuration.GetSection("Dashboard"))!.Validate();
        Assert.Equal(StoreProvider.PostgreSql, options.Store.Provider);
        Assert.Equal(("mosquitto", "edgemask-dashboard"), (options.Mqtt.Host, options.Mqtt.ClientId));
    }

    [Fact]
    public void MosquittoConf_HasTheSettingsAFleetNeeds()
    {
        var settings = File.ReadAllLines(Path.Combine(Cloud, "mosquitto", "mosquitto.conf"))
            .Where(l => l.Length > 0 && !l.StartsWith('#'))
            .Select(l => l.Split(' ', 2)).GroupBy(p => p[0]).ToDictionary(g => g.Key, g => g.Last().ElementAtOrDefault(1) ?? "");
        // A large count, never 0 (mosquitto 2.0 mishandles "no maximum": see the comment in the file).
        Assert.True(long.Parse(settings["max_queued_messages"], System.Globalization.CultureInfo.InvariantCulture) >= 100_000);
        Assert.True(long.Parse(settings["max_queued_bytes"], System.Globalization.CultureInfo.InvariantCulture) >= 64L << 20);
        Assert.True(int.Parse(settings["max_inflight_messages"], System.Globalization.CultureInfo.InvariantCulture) >= new MqttIngestOptions().BatchSize);
        Assert.Equal("true", settings["persistence"]);
        Assert.Equal("false", settings["allow_anonymous"]);
        Assert.True(int.Parse(settings["max_packet_size"], System.Globalization.CultureInfo.InvariantCulture) > new StoreOptions().MaxSnapshotBytes);
    }

    [Fact]
    public async Task BicepTemplate_CompilesWithTheBicepCompiler_AndDeclaresTheCloudService()
    {
        var template = await CompileBicepAsync();
        var resources = template.RootElement.GetProperty("resources");
        var types = resources.EnumerateArray().Select(r => r.GetProperty("type").GetString()!).ToHashSet();
        Assert.Superset(new HashSet<string>
        {
            "Microsoft.App/containerApps", "Microsoft.App/managedEnvironments", "Microsoft.App/managedEnvironments/storages",
            "Microsoft.DBforPostgreSQL/flexibleServers", "Microsoft.DBforPostgreSQL/flexibleServers/databases",
            "Microsoft.Devices/IotHubs/eventHubEndpoints/ConsumerGroups",
        }, types);

        var app = resources.EnumerateArray().Single(r => r.GetProperty("type").GetString() == "Microsoft.App/containerApps");
        var container = app.GetProperty("properties").GetProperty("template").GetProperty("containers")[0];
        Assert.Equal(8080, app.GetProperty("properties").GetProperty("configuration").GetProperty("ingress").GetProperty("targetPort").GetInt32());
        var probes = container.GetProperty("probes").EnumerateArray()
            .ToDictionary(p => p.GetProperty("type").GetString()!, p => p.GetProperty("httpGet").GetProperty("path").GetString());
        Assert.Equal("/healthz", probes["Readiness"]);
        Assert.Equal("/livez", probes["Liveness"]);
        Assert.Equal("/data", container.GetProperty("volumeMounts")[0].GetProperty("mountPath").GetString());
    }

    [Fact]
    public async Task BicepTemplate_ContainerEnv_NamesExactlyTheSettingsTheAppReads()
    {
        var template = await CompileBicepAsync();
        // Every Dashboard__ name anywhere in the compiled template (the optional API key's entry is in a variable).
        var named = new SortedSet<string>(SettingName().Matches(template.RootElement.GetRawText()).Select(m => m.Value), StringComparer.Ordinal);
        Assert.Equal(SettingsTheAppReads(), named);
    }

    [Fact]
    public void Dockerfile_MultiStageMultiArchNonRootWithHealthCheck()
    {
        var dockerfile = File.ReadAllLines(Path.Combine(Root, "modules", "EdgeMask.Dashboard", "Dockerfile"));
        var instructions = JoinContinuations(dockerfile).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();
        var froms = instructions.Where(l => l.StartsWith("FROM ", StringComparison.Ordinal)).ToList();
        Assert.True(froms.Count >= 2, "multi-stage");
        Assert.Contains("--platform=$BUILDPLATFORM", froms[0]);
        var publish = instructions.Single(l => l.StartsWith("RUN ", StringComparison.Ordinal) && l.Contains("dotnet publish", StringComparison.Ordinal));
        Assert.Contains("amd64) rid=linux-x64", publish);
        Assert.Contains("arm64) rid=linux-arm64", publish);
        // Everything the build copies exists.
        foreach (var copy in instructions.Where(l => l.StartsWith("COPY ", StringComparison.Ordinal) && !l.Contains("--from", StringComparison.Ordinal)))
        {
            var parts = copy.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1..^1];
            Assert.All(parts, p => Assert.True(File.Exists(Path.Combine(Root, p)) || Directory.Exists(Path.Combine(Root, p)), p));
        }
        var final = instructions.SkipWhile(l => l != froms[^1]).ToList();
        var user = final.Last(l => l.StartsWith("USER ", StringComparison.Ordinal))["USER ".Length..].Trim();
        Assert.NotEqual("root", user);
        Assert.NotEqual("0", user);
        Assert.Contains(final, l => l.StartsWith("HEALTHCHECK ", StringComparison.Ordinal) && l.Contains("\"healthcheck\"", StringComparison.Ordinal));
        Assert.Contains(final, l => l == "EXPOSE 8080");
        Assert.Contains(final, l => l.Contains("Dashboard__Listen=http://0.0.0.0:8080", StringComparison.Ordinal));
        Assert.Contains(final, l => l.StartsWith("ENTRYPOINT [\"/app/edgemask-dashboard\"]", StringComparison.Ordinal));
    }

    [Fact]
    public async Task HealthCheckCommand_HealthyDashboard_ExitsZeroAndAnAbsentOneExitsOne()
    {
        await using var host = await DashboardHost.StartAsync(mqttPort: null);
        var output = new StringWriter();
        var error = new StringWriter();
        Assert.Equal(0, await DashboardCli.RunAsync(["healthcheck", $"--Dashboard:Listen={host.BaseAddress}"], TextReader.Null, output, error));
        Assert.Contains("\"status\":\"healthy\"", output.ToString());

        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var closedPort = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        Assert.Equal(1, await DashboardCli.RunAsync(["healthcheck", $"--Dashboard:Listen=http://0.0.0.0:{closedPort}"], TextReader.Null, output, error));
    }

    [Fact]
    public async Task Healthz_IngestNotConnected_Answers503NamingTheIngest()
    {
        // MQTT ingest enabled against a port where no broker listens.
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        await using var host = await DashboardHost.StartAsync(port);
        using var client = new HttpClient { BaseAddress = host.BaseAddress };
        using var response = await client.GetAsync("/healthz");
        Assert.Equal(System.Net.HttpStatusCode.ServiceUnavailable, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("healthy", json.RootElement.GetProperty("checks").GetProperty("store").GetProperty("status").GetString());
        Assert.Contains("mqtt: not connected", json.RootElement.GetProperty("checks").GetProperty("ingest").GetProperty("detail").GetString());
        Assert.Equal("alive", await client.GetStringAsync("/livez"));
    }

    private static async Task<JsonDocument> CompileBicepAsync()
    {
        var bicep = typeof(DeploymentTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "BicepCli").Value!;
        Assert.True(File.Exists(bicep), $"the Bicep compiler is missing at {bicep} (restored from NuGet by this test project)");
        var start = new ProcessStartInfo(bicep, ["build", Path.Combine(Cloud, "main.bicep"), "--stdout"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, stderr);
        // Warnings are defects too: the linter's findings (unused parameters, secrets in outputs, …) fail the test.
        Assert.True(stderr.Trim().Length == 0, stderr);
        return JsonDocument.Parse(await stdout);
    }

    private static YamlMappingNode LoadYaml(string path)
    {
        var stream = new YamlStream();
        using var reader = new StreamReader(path);
        stream.Load(reader);
        return (YamlMappingNode)Assert.Single(stream.Documents).RootNode;
    }

    private static IEnumerable<string> Sequence(YamlMappingNode node, string key) =>
        node.Children.TryGetValue(key, out var value) ? ((YamlSequenceNode)value).Children.Select(c => c.ToString()) : [];

    private static IEnumerable<string> JoinContinuations(IEnumerable<string> lines)
    {
        var current = "";
        foreach (var raw in lines)
        {
            var line = raw.Trim();
            if (line.EndsWith('\\'))
            {
                current += line[..^1] + " ";
                continue;
            }
            yield return current + line;
            current = "";
        }
    }

    [GeneratedRegex(@"^(?:# )?(?<key>[A-Za-z_][A-Za-z0-9_]*)=(?<value>.*)$")]
    private static partial Regex EnvAssignment();

    [GeneratedRegex(@"Dashboard__[A-Za-z0-9_]+")]
    private static partial Regex SettingName();
}
