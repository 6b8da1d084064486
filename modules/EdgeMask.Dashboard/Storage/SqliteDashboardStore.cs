using System.Data.Common;
using Microsoft.Data.Sqlite;

namespace EdgeMask.Dashboard.Storage;

/// <summary>The embedded default: one SQLite file in WAL mode, so the pages read while ingest writes.</summary>
public sealed class SqliteDashboardStore : SqlDashboardStore
{
    private readonly string _connectionString;

    public SqliteDashboardStore(string connectionString)
    {
        var builder = new SqliteConnectionStringBuilder(connectionString)
        {
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = true,
            // Writers wait for each other instead of failing with SQLITE_BUSY (seconds).
            DefaultTimeout = 30,
        };
        if (string.IsNullOrWhiteSpace(builder.DataSource))
        {
            throw new ArgumentException("The SQLite connection string names no Data Source.", nameof(connectionString));
        }
        var directory = Path.GetDirectoryName(Path.GetFullPath(builder.DataSource));
        if (!string.IsNullOrEmpty(directory))
        {
            Directory.CreateDirectory(directory);
        }
        _connectionString = builder.ToString();
        Info = new StoreProviderInfo("sqlite", Path.GetFullPath(builder.DataSource));
        using (var connection = OpenConnection())
        using (var command = connection.CreateCommand())
        {
            // WAL is a property of the file and survives reopening; set once here.
            command.CommandText = "PRAGMA journal_mode=WAL;";
            command.ExecuteNonQuery();
        }
        Migrate();
    }

    public override StoreProviderInfo Info { get; }

    public string JournalMode()
    {
        using var connection = OpenConnection();
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA journal_mode;";
        return (string)command.ExecuteScalar()!;
    }

    // The migration transaction is BEGIN IMMEDIATE (Microsoft.Data.Sqlite's default): it holds the write lock already.
    protected override Task LockSchemaAsync(DbConnection connection, DbTransaction transaction, CancellationToken cancellationToken) =>
        Task.CompletedTask;

    protected override DbConnection OpenConnection()
    {
        var connection = new SqliteConnection(_connectionString);
        connection.Open();
        Tune(connection);
        return connection;
    }

    protected override async ValueTask<DbConnection> OpenConnectionAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        await connection.OpenAsync(cancellationToken);
        Tune(connection);
        return connection;
    }

    // With WAL, synchronous=NORMAL cannot corrupt the file; a power cut may lose the last commits (the device's
    // outbox still has them). It removes an fsync per commit, which otherwise bounds ingest to a few hundred events/s.
    private static void Tune(SqliteConnection connection)
    {
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA synchronous=NORMAL;";
        command.ExecuteNonQuery();
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            // Pooled connections keep the file open; release them so the file can be moved or deleted.
            using var connection = new SqliteConnection(_connectionString);
            SqliteConnection.ClearPool(connection);
        }
    }
}
