using System.CommandLine;
using System.Runtime.InteropServices;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using System.Text.Json.Nodes;
using EdgeMask.IoTHub;
using EdgeMask.IoTHub.Edge;
using EdgeMask.IoTHub.Mqtt;
using EdgeMask.Module.Configuration;
using EdgeMask.Module.Hosting;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace EdgeMask.Module.Cli;

/// <summary>
/// <c>edgemask module</c>: the container's entry point. With the <c>IOTEDGE_*</c> environment (or a connection string)
/// it is an IoT Edge module configured by its twin; otherwise it runs the config file stand-alone until stopped.
/// SIGTERM / Ctrl+C stop it cleanly (exit 0); a configuration or start failure exits 2 so IoT Edge restarts the container.
/// </summary>
internal static class ModuleCommand
{
    public const string ConnectionStringVariable = "EDGEMASK_IOTHUB_CONNECTION_STRING";
    public const string ConfigVariable = "EDGEMASK_CONFIG";

    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var config = new Option<string?>("--config", "-c") { Description = $"JSON configuration file (default: ${ConfigVariable}); the twin's desired properties are merged over it." };
        var connectionString = new Option<string?>("--connection-string") { Description = $"Device or module connection string (default: ${ConnectionStringVariable}); without one the IOTEDGE_* environment is used when present." };
        var caFile = new Option<string?>("--ca-file") { Description = "PEM bundle that anchors the gateway's certificate (a connection string with GatewayHostName)." };
        var port = new Option<int>("--iothub-port") { Description = "MQTT over TLS port of IoT Hub / the gateway.", DefaultValueFactory = _ => 8883 };
        var reportInterval = new Option<int>("--report-interval") { Description = "Seconds between checks of the reported properties (sent only when changed).", DefaultValueFactory = _ => 15 };
        var snapshots = new Option<string?>("--snapshots") { Description = "Folder for snapshots (default ./snapshots)." };
        var verbose = new Option<bool>("--verbose", "-v") { Description = "Log at debug level." };
        var command = new Command("module", "Run as the IoT Edge module (twin configuration, direct methods, telemetry), or stand-alone from --config.")
        {
            config, connectionString, caFile, port, reportInterval, snapshots, verbose,
        };
        command.SetAction(async (r, ct) =>
        {
            using var loggers = CliLogging.Create(r.GetValue(verbose) ? LogLevel.Debug : LogLevel.Information);
            var logger = loggers.CreateLogger("edgemask.module");

            EdgeMaskOptions initial;
            ModuleHostOptions hostOptions;
            IoTHubMqttClient? client = null;
            try
            {
                string? path = r.GetValue(config) ?? NullIfEmpty(Environment.GetEnvironmentVariable(ConfigVariable));
                var baseDocument = path is null ? new JsonObject() : ReadDocument(path);
                string? cs = r.GetValue(connectionString) ?? NullIfEmpty(Environment.GetEnvironmentVariable(ConnectionStringVariable));
                if (cs is not null || IoTEdgeEnvironment.IsPresent())
                {
                    X509Certificate2Collection? trust = null;
                    if (r.GetValue(caFile) is { } ca)
                    {
                        trust = [];
                        trust.ImportFromPemFile(ca);
                    }
                    client = IoTHubMqttClient.Create(cs, trust, new IoTHubClientOptions { Port = r.GetValue(port) }, loggers);
                    // The device id of topics and events defaults to the IoT Edge device's own id.
                    if (!baseDocument.ContainsKey("device")) baseDocument["device"] = client.Identity.DeviceId;
                }
                initial = ConfigLoader.Parse(baseDocument.ToJsonString(), path ?? "defaults");
                hostOptions = new ModuleHostOptions
                {
                    BaseDocument = baseDocument,
                    ReportInterval = TimeSpan.FromSeconds(r.GetValue(reportInterval)),
                    Run = new RunSettings { LiveView = false, SnapshotDirectory = r.GetValue(snapshots) ?? "snapshots" },
                }.Validate();
                if (client is null && initial.Cameras.Count == 0)
                    throw new ConfigurationException("--config", "Stand-alone (no IoT Edge environment, no connection string) needs cameras in --config.");
            }
            catch (Exception ex) when (ex is ConfigurationException or Core.Tracking.InvalidOptionException or IoTHubConfigurationException or ArgumentException
                or FormatException or IOException or JsonException or System.Security.Cryptography.CryptographicException)
            {
                if (client is not null) await client.DisposeAsync();
                stderr.WriteLine($"error: {ex.Message}");
                return EdgeMaskCommandLine.ExitFatal;
            }

            // SIGTERM (docker stop, edgeAgent) and Ctrl+C stop the host (ConsoleLifetime) in the order DeviceHost documents.
            using var host = ModuleDevice.Build(initial, hostOptions, client, shouldDisposeClient: true,
                new DeviceHostSettings { Stdout = stdout, Stderr = stderr }, loggers, TimeProvider.System, useConsoleLifetime: true);
            return await HostedCommand.RunAsync(host, stderr, logger, "The module cannot start with its configuration: ", ct);
        });
        return command;
    }

    private static JsonObject ReadDocument(string path)
    {
        if (!File.Exists(path)) throw new ConfigurationException("--config", $"Config file {path} does not exist.");
        var node = JsonNode.Parse(File.ReadAllText(path), documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        return node as JsonObject ?? throw new ConfigurationException("--config", $"{path}: the configuration must be a JSON object.");
    }

    private static string? NullIfEmpty(string? s) => string.IsNullOrWhiteSpace(s) ? null : s;
}
