using EdgeMask.Dashboard.Ingest;
using EdgeMask.Dashboard.Security;
using EdgeMask.Dashboard.Storage;
using Microsoft.AspNetCore.Builder;

namespace EdgeMask.Dashboard.Tests.Support;

/// <summary>
/// The real dashboard (Kestrel on 127.0.0.1, random port) built by <see cref="DashboardApp.Build"/> from command-line
/// settings, with a SQLite store in a temporary folder and MQTT ingest against the given broker port.
/// </summary>
internal sealed class DashboardHost : IAsyncDisposable
{
    public const string AdminUser = "admin";
    public const string AdminPassword = "correct horse battery staple";
    public const string ApiKey = "test-api-key-0123456789abcdef";
    // Few iterations keep sign-in fast in tests; the production default is PasswordHasher.DefaultIterations.
    private static readonly string PasswordHash = PasswordHasher.Hash(AdminPassword, iterations: 1000);

    private readonly TempDirectory _directory;
    private readonly WebApplication _app;

    private DashboardHost(TempDirectory directory, WebApplication app, Uri baseAddress)
    {
        _directory = directory;
        _app = app;
        BaseAddress = baseAddress;
    }

    public Uri BaseAddress { get; }
    public IServiceProvider Services => _app.Services;
    public IDashboardStore Store => Services.GetRequiredService<IDashboardStore>();
    public IngestPipeline Pipeline => Services.GetRequiredService<IngestPipeline>();
    public string DataDirectory => _directory.Path;
    public ICollection<string> Urls => _app.Urls;

    public static Task<DashboardHost> StartAsync(int? mqttPort, params string[] extraArgs) => StartAsync(mqttPort, null, extraArgs);

    /// <param name="configureServices">Replaces services after the defaults (e.g. wraps the store).</param>
    public static async Task<DashboardHost> StartAsync(int? mqttPort, Action<IServiceCollection>? configureServices, params string[] extraArgs)
    {
        var directory = new TempDirectory();
        string[] args =
        [
            "--Dashboard:Listen=http://127.0.0.1:0",
            $"--Dashboard:Store:ConnectionString=Data Source={Path.Combine(directory.Path, "dashboard.db")}",
            $"--Dashboard:Store:SnapshotDirectory={Path.Combine(directory.Path, "snapshots")}",
            $"--Dashboard:Store:KeysDirectory={Path.Combine(directory.Path, "keys")}",
            $"--Dashboard:Mqtt:Enabled={(mqttPort is null ? "false" : "true")}",
            $"--Dashboard:Mqtt:Port={mqttPort ?? 1883}",
            $"--Dashboard:Mqtt:ClientId=dashboard-test-{Guid.NewGuid():N}",
            "--Dashboard:Mqtt:ReconnectMinDelay=00:00:00.200",
            "--Dashboard:Mqtt:ReconnectMaxDelay=00:00:01",
            $"--Dashboard:Auth:AdminUser={AdminUser}",
            $"--Dashboard:Auth:AdminPasswordHash={PasswordHash}",
            $"--Dashboard:Auth:ApiKeyHashes:0={ApiKeyHasher.Hash(ApiKey)}",
            "--Logging:LogLevel:Default=Warning",
            // The samples are stamped at a fixed date (Samples.T0): with the default 30-day retention, the sweep at start
            // would delete them once the wall clock is a month past it, whenever the sweep runs after a test stored them.
            "--Dashboard:Retention:MaxAge=36500.00:00:00",
            .. extraArgs,
        ];
        var app = DashboardApp.Build(args, configureServices);
        await app.StartAsync();
        var address = app.Urls.Single();
        return new DashboardHost(directory, app, new Uri(address));
    }

    public async Task WaitForMqttAsync()
    {
        var mqtt = Services.GetRequiredService<MqttIngestService>();
        await Eventually.UntilAsync(() => Task.FromResult(mqtt.IsConnected), c => c, "the dashboard's MQTT connection");
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        _directory.Dispose();
    }
}
