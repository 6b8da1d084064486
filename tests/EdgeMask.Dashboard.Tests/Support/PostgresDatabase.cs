using Npgsql;

namespace EdgeMask.Dashboard.Tests.Support;

/// <summary>
/// A fresh schema in the PostgreSQL server named by EDGEMASK_TEST_POSTGRES, used through the connection string's
/// search path so every test starts empty and nothing is shared between parallel tests. Without the variable the
/// tests fail (CI sets it); they never pass silently.
/// </summary>
internal sealed class PostgresDatabase : IDisposable
{
    public const string Variable = "EDGEMASK_TEST_POSTGRES";
    private readonly string _adminConnectionString;
    private readonly string _schema;

    public PostgresDatabase()
    {
        _adminConnectionString = Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } value
            ? value
            : throw new InvalidOperationException(
                $"{Variable} is not set: these tests need a real PostgreSQL server, e.g. " +
                $"{Variable}='Host=127.0.0.1;Username=postgres;Password=postgres;Database=edgemask_test' (.ci/run starts one).");
        _schema = "t_" + Guid.NewGuid().ToString("N");
        using var connection = new NpgsqlConnection(_adminConnectionString);
        connection.Open();
        using var command = new NpgsqlCommand($"CREATE SCHEMA {_schema}", connection);
        command.ExecuteNonQuery();
        ConnectionString = new NpgsqlConnectionStringBuilder(_adminConnectionString) { SearchPath = _schema }.ConnectionString;
    }

    public string ConnectionString { get; }

    public void Dispose()
    {
        NpgsqlConnection.ClearAllPools();
        using var connection = new NpgsqlConnection(_adminConnectionString);
        connection.Open();
        using var command = new NpgsqlCommand($"DROP SCHEMA IF EXISTS {_schema} CASCADE", connection);
        command.ExecuteNonQuery();
    }
}
