using EdgeMask.Inference.Models;
using EdgeMask.Inference.Runtime;
using EdgeMask.Module.Hosting;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace EdgeMask.Module.Cli;

/// <summary>How <c>run</c> and <c>module</c> run their device host: start (or say why not, exit 2), wait for the stop, exit 0.</summary>
internal static class HostedCommand
{
    /// <summary>What makes a start impossible (exit 2): a camera file that cannot be read, a model, a port, a GPIO line.</summary>
    public static bool IsStartFailure(Exception ex) => ex is ModelException or ExecutionProviderUnavailableException or CameraStartException
        or EdgeMask.Alarm.AlarmConfigurationException or EdgeMask.Alarm.GpioLineUnavailableException or EdgeMask.Alarm.AnnouncementRenderException
        or Microsoft.ML.OnnxRuntime.OnnxRuntimeException || MessagingService.IsStartFailure(ex);

    /// <param name="errorPrefix">Put before the reason of a failed start on stderr.</param>
    /// <param name="afterStop">Runs once the host has stopped (the run's summary).</param>
    public static async Task<int> RunAsync(IHost host, TextWriter stderr, ILogger logger, string errorPrefix, CancellationToken ct, Action? afterStop = null)
    {
        try
        {
            await DeviceHost.StartOrStopAsync(host, ct);
        }
        catch (Exception ex) when (IsStartFailure(ex))
        {
            stderr.WriteLine($"error: {errorPrefix}{ex.Message}");
            return EdgeMaskCommandLine.ExitFatal;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            logger.LogInformation("Stopped");
            return EdgeMaskCommandLine.ExitOk;
        }
        // Returns after SIGTERM / Ctrl+C (the console lifetime) or the end of a run, once every service has stopped.
        await host.WaitForShutdownAsync(CancellationToken.None);
        afterStop?.Invoke();
        logger.LogInformation("Stopped");
        return EdgeMaskCommandLine.ExitOk;
    }
}
