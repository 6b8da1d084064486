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
        _dataSource = NpgsqlDataSource.Create(builder);
        Info = new StoreProviderInfo("postgresql", $"{builder.Host}:{builder.Port}/{builder.Database}");
        try
        {
            CreateSchema();
        }
        catch (NpgsqlException)
        {
            _dataSource.Dispose();
            throw;
        }
    }

    public override StoreProviderInfo Info { get; }

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
