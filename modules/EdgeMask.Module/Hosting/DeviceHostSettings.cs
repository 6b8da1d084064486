using System.Text.Json;
using EdgeMask.Alarm;
using EdgeMask.Messaging.Outbox;
using EdgeMask.Module.Configuration;

namespace EdgeMask.Module.Hosting;

/// <summary>What <c>edgemask run</c> adds to the configuration: outputs of this one run.</summary>
public sealed record RunSettings
{
    public string? AnnotatePath { get; init; }
    public long? MaxFrames { get; init; }
    /// <summary>Overrides <c>snapshots.directory</c> of the configuration when set (<c>--snapshots</c>).</summary>
    public string? SnapshotDirectory { get; init; }
    public bool LiveView { get; init; } = true;
    /// <summary>When every source has ended (files), how long to wait for the destinations to acknowledge what is queued.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(15);
    /// <summary>Whether the process stops once every camera has ended (files, <c>--max-frames</c>): <c>run</c> does, the module keeps running.</summary>
    public bool StopWhenCamerasEnd { get; init; } = true;
}

/// <summary>
/// What the device host is built with besides the configuration: the run's outputs, the module's extra outbox
/// destinations, and the stop budget. Immutable.
/// </summary>
public sealed record DeviceHostSettings
{
    public RunSettings Run { get; init; } = new();

    /// <summary>More outbox destinations beside MQTT (the module's IoT Hub transport). Not owned by the host.</summary>
    public IReadOnlyList<IOutboxTransport> AdditionalTransports { get; init; } = [];

    /// <summary>Builds the alarm over given GPIO drivers (tests); null: the real chips, from <c>alarm</c>.</summary>
    public Func<AlarmOptions, LocalAlarm>? AlarmFactory { get; init; }

    /// <summary>
    /// The whole stop must fit in the container's stop timeout (IoT Edge and Docker give 10 s, then SIGKILL; the target
    /// is 2 s). Cameras get this long to finish the frame in flight and end their episodes…
    /// </summary>
    public TimeSpan CameraStopTimeout { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>…the destinations this long to acknowledge the backlog (the rest stays in the outbox for the next start)…</summary>
    public TimeSpan StopDrainTimeout { get; init; } = TimeSpan.FromMilliseconds(300);

    /// <summary>…and the host this long in all before it gives up waiting (nothing a camera thread may still use is disposed then).</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Where the console view and events go.</summary>
    public TextWriter Stdout { get; init; } = TextWriter.Null;
    public TextWriter Stderr { get; init; } = TextWriter.Null;

    public DeviceHostSettings Validate()
    {
        if (CameraStopTimeout <= TimeSpan.Zero || StopDrainTimeout < TimeSpan.Zero || ShutdownTimeout <= CameraStopTimeout + StopDrainTimeout)
            throw new ArgumentException("The shutdown timeout must exceed the camera stop and drain timeouts together.", nameof(ShutdownTimeout));
        return this;
    }
}

/// <summary>Compares option records by their JSON (records holding lists or dictionaries compare those by reference).</summary>
public static class SameOptions
{
    public static bool As<T>(T a, T b) =>
        ReferenceEquals(a, b) || JsonSerializer.Serialize(a, ConfigLoader.JsonOptions) == JsonSerializer.Serialize(b, ConfigLoader.JsonOptions);
}
