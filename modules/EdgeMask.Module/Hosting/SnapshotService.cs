using EdgeMask.Module.Configuration;
using EdgeMask.Module.Snapshots;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace EdgeMask.Module.Hosting;

/// <summary>
/// The snapshot store of the process (folder, retention), when <c>snapshots.enabled</c>. A change of the
/// <c>snapshots</c> section makes a new store that the cameras' event stages pick up for their next snapshot (no camera
/// restarts); the replaced store is closed at stop, since a stage may be writing its last snapshot into it. Owns its stores.
/// </summary>
public sealed class SnapshotService : IHostedService, IDisposable
{
    private readonly DeviceHostSettings _host;
    private readonly ILoggerFactory _loggers;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private readonly List<SnapshotStore> _retired = [];
    private SnapshotOptions _options;
    private SnapshotStore? _store;

    public SnapshotService(EdgeMaskOptions options, DeviceHostSettings host, ILoggerFactory loggers, TimeProvider time)
    {
        _host = host;
        _loggers = loggers;
        _time = time;
        _options = Effective(options);
    }

    /// <summary>The store in force (null when snapshots are off). Read it per snapshot: it may be replaced.</summary>
    public SnapshotStore? Current => Volatile.Read(ref _store);

    /// <summary>The options with <c>--snapshots</c> (the run's folder) applied.</summary>
    public SnapshotOptions Effective(EdgeMaskOptions options) =>
        _host.Run.SnapshotDirectory is { } dir ? options.Snapshots with { Directory = dir } : options.Snapshots;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (_options.Enabled) Volatile.Write(ref _store, Create(_options));
        return Task.CompletedTask;
    }

    private SnapshotStore Create(SnapshotOptions options)
    {
        var store = new SnapshotStore(options, _loggers.CreateLogger<SnapshotStore>(), _time);
        store.Start();
        return store;
    }

    /// <summary>Applies the <c>snapshots</c> section: a new store when it changed (the options were validated with the configuration).</summary>
    public void Apply(EdgeMaskOptions next)
    {
        var options = Effective(next);
        if (SameOptions.As(options, _options)) return;
        var store = options.Enabled ? Create(options) : null;
        var old = Interlocked.Exchange(ref _store, store);
        _options = options;
        if (old is not null)
            lock (_gate) _retired.Add(old);
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        Dispose();
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        Interlocked.Exchange(ref _store, null)?.Dispose();
        lock (_gate)
        {
            foreach (var s in _retired) s.Dispose();
            _retired.Clear();
        }
    }
}
