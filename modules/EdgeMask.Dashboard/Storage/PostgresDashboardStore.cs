using System.Data.Common;
using Npgsql;

namespace EdgeMask.Dashboard.Storage;

/// <summary>For a fleet: the same tables in PostgreSQL. Owns the <see cref="NpgsqlDataSource"/> (its connection pool).</summary>
public sealed class PostgresDashboardStore : SqlDashboardStore
{
    private readonly NpgsqlDataSource _dataSource;

    public PostgresDashboardStore(string connectionString)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        if (builder.MaxAutoPrepare == 0)
        {
            // The ingest runs the same few statements for every message: let Npgsql prepare them once per connection.
            builder.MaxAutoPrepare = 32;
        }
        _dataSource = NpgsqlDataSource.Create(builder);
        Info = new StoreProviderInfo("postgresql", $"{builder.Host}:{builder.Port}/{builder.Database}");
        try
        {
            Migrate();
        }
        catch (NpgsqlException)
        {
            _dataSource.Dispose();
            throw;
        }
    }

    public override StoreProviderInfo Info { get; }

    // Any constant shared by every dashboard: replicas starting together wait here for the first one's migration.
    private const long MigrationLockKey = 0x45444745_4D41534B; // "EDGEMASK"

    protected override async Task LockSchemaAsync(DbConnection connection, DbTransaction transaction, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "SELECT pg_advisory_xact_lock(@key)";
        AddParameters(command, ("key", MigrationLockKey));
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    protected override DbConnection OpenConnection() => _dataSource.OpenConnection();

    protected override async ValueTask<DbConnection> OpenConnectionAsync(CancellationToken cancellationToken) =>
        await _dataSource.OpenConnectionAsync(cancellationToken);

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _dataSource.Dispose();
        }
    }
}
