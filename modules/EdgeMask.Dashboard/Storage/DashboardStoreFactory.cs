using EdgeMask.Dashboard.Options;

namespace EdgeMask.Dashboard.Storage;

public static class DashboardStoreFactory
{
    /// <summary>Opens the store the connection string names (PostgreSQL when it has Host=/Server=, else SQLite).</summary>
    public static IDashboardStore Open(StoreOptions options) => options.Provider switch
    {
        StoreProvider.PostgreSql => new PostgresDashboardStore(options.ConnectionString),
        _ => new SqliteDashboardStore(options.ConnectionString),
    };
}
