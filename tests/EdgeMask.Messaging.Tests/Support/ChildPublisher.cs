using System.Diagnostics;
using EdgeMask.Messaging.Mqtt;
using EdgeMask.Messaging.Outbox;

namespace EdgeMask.Messaging.Tests.Support;

/// <summary>
/// Entry point of this assembly when a test runs it as a separate process (<c>dotnet EdgeMask.Messaging.Tests.dll publish …</c>),
/// so the test can kill it with SIGKILL — the only honest way to test "process killed mid-run". The child produces events
/// continuously and prints <c>stored N</c> each time events 1..N are known to be in the outbox file.
/// </summary>
public static class ChildPublisher
{
    public static int Main(string[] args)
    {
        if (args.Length != 3 || args[0] != "publish") return 2;
        var db = args[1];
        var port = int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture);
        RunAsync(db, port).GetAwaiter().GetResult();
        return 0;
    }

    private static async Task RunAsync(string db, int port)
    {
        var options = new StoreAndForwardOptions
        {
            Device = "dev1",
            Outbox = new OutboxOptions { Path = db },
            Mqtt = new MqttPublisherOptions { Device = "dev1", Port = port, ReconnectMinDelay = TimeSpan.FromMilliseconds(100), ReconnectMaxDelay = TimeSpan.FromSeconds(1) },
        };
        await using var saf = await StoreAndForward.StartAsync(options);
        Console.WriteLine("started");
        for (var i = 1; ; i++)
        {
            saf.Publisher.Enqueue(TestData.Event(i % 2 == 0 ? "cam1" : "cam2", i));
            if (i % 10 == 0)
            {
                await saf.Publisher.FlushAsync(CancellationToken.None);
                Console.WriteLine($"stored {i} connected {saf.Mqtt!.IsConnected}");
            }
            await Task.Delay(5);
        }
    }

    /// <summary>Starts the child with the test assembly's own runtime configuration.</summary>
    public static Process Start(string db, int port)
    {
        var dll = typeof(ChildPublisher).Assembly.Location;
        var psi = new ProcessStartInfo("dotnet", ["exec", dll, "publish", db, port.ToString(System.Globalization.CultureInfo.InvariantCulture)])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        return Process.Start(psi) ?? throw new InvalidOperationException("could not start the child publisher");
    }
}
