using System.Text.Json;
using EdgeMask.Dashboard.Storage;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace EdgeMask.Dashboard.Ingest;

/// <summary>The store answers a query and its schema is the one this dashboard expects.</summary>
internal sealed class StoreHealthCheck(IDashboardStore store) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            var versions = await store.SchemaVersionsAsync(cancellationToken);
            return versions.Count > 0 && versions[^1] == SchemaMigrations.Latest
                ? HealthCheckResult.Healthy($"{store.Info.Provider}, schema {versions[^1]}")
                : HealthCheckResult.Unhealthy($"{store.Info.Provider} schema is {(versions.Count == 0 ? "missing" : versions[^1])}, expected {SchemaMigrations.Latest}");
        }
        catch (System.Data.Common.DbException ex)
        {
            return HealthCheckResult.Unhealthy($"{store.Info.Provider} does not answer: {ex.Message}");
        }
    }
}

/// <summary>Every enabled ingest (MQTT, Event Hubs) is connected; with none enabled the dashboard only serves what it has.</summary>
internal sealed class IngestHealthCheck(IEnumerable<IIngestHealth> ingests) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var all = ingests.ToList();
        var description = all.Count == 0 ? "no ingest enabled" : string.Join("; ", all.Select(i => $"{i.Name}: {i.Describe()}"));
        return Task.FromResult(all.All(i => i.IsHealthy) ? HealthCheckResult.Healthy(description) : HealthCheckResult.Unhealthy(description));
    }
}

/// <summary>The health report as a small JSON document (status per check), for people and probes alike.</summary>
internal static class HealthReportWriter
{
    public static Task WriteAsync(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "application/json; charset=utf-8";
        var body = new
        {
            status = report.Status.ToString().ToLowerInvariant(),
            checks = report.Entries.ToDictionary(e => e.Key, e => new { status = e.Value.Status.ToString().ToLowerInvariant(), detail = e.Value.Description }),
        };
        return context.Response.WriteAsync(JsonSerializer.Serialize(body));
    }
}
