using EdgeMask.Module.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Hosting.Internal;
using Microsoft.Extensions.Logging;

namespace EdgeMask.Module.Hosting;

/// <summary>
/// The composition of the device runtime on the .NET Generic Host, for <c>edgemask run</c> and <c>edgemask module</c>
/// alike. What lives as long as the process is made once; a new configuration goes through <see cref="DeviceRuntime"/>,
/// which touches only what changed.
/// </summary>
/// <remarks>
/// <para><b>Ownership</b> — every native resource has one owner, and nothing is disposed while a thread can still use it:</para>
/// <list type="table">
/// <item><term><see cref="ModelService"/></term><description>the ONNX Runtime sessions. Each camera pipeline holds a
/// lease on the generation it runs; a generation's sessions are disposed only when its last lease is released, so a
/// camera thread that did not stop in time keeps them open (left to the process exit) instead of crashing in a
/// disposed session.</description></item>
/// <item><term><see cref="AlarmService"/></term><description>the GPIO lines and the audio player.</description></item>
/// <item><term>the IoT Hub client (module)</term><description>owned by the module's client service, registered before
/// messaging so that it outlives the outbox's last drain.</description></item>
/// <item><term><see cref="MessagingService"/></term><description>the SQLite outbox, the embedded broker, the MQTT
/// client, the drainers, the publisher.</description></item>
/// <item><term><see cref="SnapshotService"/></term><description>the snapshot stores.</description></item>
/// <item><term><see cref="MetricsService"/></term><description>the Kestrel server of /metrics and /healthz.</description></item>
/// <item><term><see cref="CameraSupervisor"/></term><description>the cameras: each <see cref="CameraWorker"/> owns its
/// capture (thread, source, child process, frame pool), its pipeline (detector and classifier buffers, its model lease)
/// on its own thread, its event stage and its frame tap.</description></item>
/// </list>
/// <para><b>Start order</b> (the order of registration): models → alarm (lines opened off) → [IoT Hub client] →
/// messaging → snapshots → metrics → cameras → [module: twin, methods, reports | run: console view].</para>
/// <para><b>Stop order</b> (the reverse, as the Generic Host stops services): the module stops taking configuration
/// changes → the cameras stop (capture at once, the frame in flight completes, open episodes end with
/// <c>shutdown</c> and their events go through each camera's stage into the outbox; bounded by
/// <see cref="DeviceHostSettings.CameraStopTimeout"/>) → metrics → snapshot stores → messaging (queued events stored,
/// destinations given <see cref="DeviceHostSettings.StopDrainTimeout"/> to take the backlog, the rest stays on disk;
/// offline status; broker stopped) → IoT Hub client → alarm (every line to its off state) → models (sessions closed,
/// unless a camera thread still holds them). On SIGTERM or Ctrl+C this ends within about a second.</para>
/// </remarks>
public static class DeviceHost
{
    /// <summary>
    /// Builds the host. <paramref name="beforeMessaging"/> and <paramref name="afterCameras"/> add the hosted services of
    /// a mode (the module's IoT Hub client before messaging; its twin service, or the run's console, after the cameras).
    /// </summary>
    /// <param name="useConsoleLifetime">SIGTERM, SIGINT and SIGQUIT stop the host (the program); false in tests.</param>
    public static IHost Build(EdgeMaskOptions options, DeviceHostSettings settings, ILoggerFactory loggers, TimeProvider time,
        Action<IServiceCollection>? beforeMessaging = null, Action<IServiceCollection>? afterCameras = null, bool useConsoleLifetime = false)
    {
        ArgumentNullException.ThrowIfNull(options);
        settings.Validate();
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        var services = builder.Services;
        services.Replace(ServiceDescriptor.Singleton(loggers));
        services.AddSingleton(options.Validate());
        services.AddSingleton(settings);
        services.AddSingleton(time);
        services.Configure<HostOptions>(o =>
        {
            o.ShutdownTimeout = settings.ShutdownTimeout;
            // The order above is the point: one after the other, stopped in reverse.
            o.ServicesStartConcurrently = false;
            o.ServicesStopConcurrently = false;
        });
        if (useConsoleLifetime)
        {
            services.Configure<ConsoleLifetimeOptions>(o => o.SuppressStatusMessages = true);
            services.AddSingleton<IHostLifetime, ConsoleLifetime>();
        }
        else
        {
            services.AddSingleton<IHostLifetime, ProcessLifetime>();
        }

        services.AddSingleton<CameraHealthBoard>();
        services.AddSingleton<ModelService>();
        services.AddSingleton<AlarmService>();
        services.AddSingleton<MessagingService>();
        services.AddSingleton<SnapshotService>();
        services.AddSingleton<MetricsService>();
        services.AddSingleton<CameraSupervisor>();
        services.AddSingleton<DeviceRuntime>();

        services.AddHostedService(sp => sp.GetRequiredService<ModelService>());
        services.AddHostedService(sp => sp.GetRequiredService<AlarmService>());
        beforeMessaging?.Invoke(services);
        services.AddHostedService(sp => sp.GetRequiredService<MessagingService>());
        services.AddHostedService(sp => sp.GetRequiredService<SnapshotService>());
        services.AddHostedService(sp => sp.GetRequiredService<MetricsService>());
        services.AddHostedService(sp => sp.GetRequiredService<CameraSupervisor>());
        afterCameras?.Invoke(services);
        return builder.Build();
    }

    /// <summary>
    /// Starts the host; when a service cannot start, stops the ones that did (in reverse order) and rethrows, so a
    /// failed start leaves no broker, outbox lock or GPIO line behind.
    /// </summary>
    public static async Task StartOrStopAsync(IHost host, CancellationToken cancellationToken)
    {
        try
        {
            await host.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            using var stop = new CancellationTokenSource(host.Services.GetRequiredService<DeviceHostSettings>().ShutdownTimeout);
            await host.StopAsync(stop.Token).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>A lifetime that does not touch process signals (tests, and hosts stopped by their owner).</summary>
    private sealed class ProcessLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
