using System.Text.Json.Nodes;
using EdgeMask.Alarm;
using EdgeMask.IoTHub.Mqtt;
using EdgeMask.Module.Configuration;
using EdgeMask.Module.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMask.Module.Tests.ModuleHost;

/// <summary>The module's host built and started in-process, as <c>edgemask module</c> builds it, and stopped in its order on dispose.</summary>
internal sealed class HostedModule : IAsyncDisposable
{
    private HostedModule(IHost host)
    {
        Host = host;
        Module = host.Services.GetRequiredService<Hosting.ModuleHost>();
    }

    public IHost Host { get; }
    public Hosting.ModuleHost Module { get; }
    public DeviceRuntime Runtime => Module.Runtime;

    public static async Task<HostedModule> StartAsync(JsonObject baseDocument, ModuleHostOptions options, IoTHubMqttClient? client,
        Func<AlarmOptions, LocalAlarm>? alarm = null, ILoggerFactory? loggers = null)
    {
        var initial = ConfigLoader.Parse(baseDocument.ToJsonString(), "test");
        var host = ModuleDevice.Build(initial, options with { BaseDocument = baseDocument }, client, shouldDisposeClient: true,
            new DeviceHostSettings { AlarmFactory = alarm }, loggers ?? NullLoggerFactory.Instance, TimeProvider.System);
        try
        {
            await DeviceHost.StartOrStopAsync(host, CancellationToken.None);
        }
        catch
        {
            host.Dispose();
            throw;
        }
        return new HostedModule(host);
    }

    public async ValueTask DisposeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await Host.StopAsync(timeout.Token);
        Host.Dispose();
    }
}
