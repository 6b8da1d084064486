using System.Text.Json;
using Json.Schema;

namespace EdgeMask.Messaging.Schemas;

/// <summary>The result of validating one document: valid, or the failing locations with their messages.</summary>
public sealed record SchemaValidationResult(bool IsValid, IReadOnlyList<string> Errors)
{
    public override string ToString() => IsValid ? "valid" : string.Join("; ", Errors);
}

/// <summary>
/// Validates documents against the published JSON Schemas of the contract (repository folder <c>schemas/</c>, embedded in this
/// assembly so there is one copy). Formats (<c>date-time</c>) are checked. Thread-safe; schemas are built once.
/// </summary>
public static class ContractSchemas
{
    /// <summary>Resource names, also the file names in <c>schemas/</c>: the current versions…</summary>
    public const string EventSchemaFile = "edgemask.event.v2.schema.json";
    public const string StatsSchemaFile = "edgemask.stats.v2.schema.json";
    public const string StatusSchemaFile = "edgemask.status.v1.schema.json";

    /// <summary>…and the first versions, which devices still publish with <c>contract.version: 1</c>.</summary>
    public const string EventSchemaV1File = "edgemask.event.v1.schema.json";
    public const string StatsSchemaV1File = "edgemask.stats.v1.schema.json";

    /// <summary>Every published schema file.</summary>
    public static readonly IReadOnlyList<string> AllFiles = [EventSchemaFile, EventSchemaV1File, StatsSchemaFile, StatsSchemaV1File, StatusSchemaFile];

    private static readonly Lazy<JsonSchema> EventSchema = new(() => Load(EventSchemaFile));
    private static readonly Lazy<JsonSchema> EventSchemaV1 = new(() => Load(EventSchemaV1File));
    private static readonly Lazy<JsonSchema> StatsSchema = new(() => Load(StatsSchemaFile));
    private static readonly Lazy<JsonSchema> StatsSchemaV1 = new(() => Load(StatsSchemaV1File));
    private static readonly Lazy<JsonSchema> StatusSchema = new(() => Load(StatusSchemaFile));

    /// <summary>The schema text, e.g. to serve it or write it next to exported data.</summary>
    public static string GetSchemaText(string file)
    {
        using var stream = typeof(ContractSchemas).Assembly.GetManifestResourceStream("EdgeMask.Schemas." + file)
            ?? throw new ArgumentException($"No embedded schema '{file}'.", nameof(file));
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    /// <summary>Against the current event schema (<c>edgemask.event/2</c>).</summary>
    public static SchemaValidationResult ValidateEvent(ReadOnlySpan<byte> utf8Json) => Validate(EventSchema.Value, utf8Json);
    /// <summary>Against the first event schema (<c>edgemask.event/1</c>): what a consumer written for version 1 accepts.</summary>
    public static SchemaValidationResult ValidateEventV1(ReadOnlySpan<byte> utf8Json) => Validate(EventSchemaV1.Value, utf8Json);
    /// <summary>Against the current stats schema (<c>edgemask.stats/2</c>).</summary>
    public static SchemaValidationResult ValidateStats(ReadOnlySpan<byte> utf8Json) => Validate(StatsSchema.Value, utf8Json);
    /// <summary>Against the first stats schema (<c>edgemask.stats/1</c>).</summary>
    public static SchemaValidationResult ValidateStatsV1(ReadOnlySpan<byte> utf8Json) => Validate(StatsSchemaV1.Value, utf8Json);
    public static SchemaValidationResult ValidateStatus(ReadOnlySpan<byte> utf8Json) => Validate(StatusSchema.Value, utf8Json);

    /// <summary>Picks the schema from the document's <c>schema</c> member (<c>edgemask.event/1|2</c>, <c>edgemask.stats/1|2</c>, <c>edgemask.status/1</c>).</summary>
    public static SchemaValidationResult ValidateAny(ReadOnlySpan<byte> utf8Json)
    {
        string? kind;
        try
        {
            var reader = new Utf8JsonReader(utf8Json);
            using var doc = JsonDocument.ParseValue(ref reader);
            kind = doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("schema", out var s) && s.ValueKind == JsonValueKind.String
                ? s.GetString()
                : null;
        }
        catch (JsonException ex)
        {
            return new SchemaValidationResult(false, [$"not JSON: {ex.Message}"]);
        }
        return kind switch
        {
            Core.Events.MaskEvent.SchemaName => ValidateEvent(utf8Json),
            Core.Events.MaskEvent.SchemaNameV1 => ValidateEventV1(utf8Json),
            Core.Events.CameraStats.SchemaName => ValidateStats(utf8Json),
            Core.Events.CameraStats.SchemaNameV1 => ValidateStatsV1(utf8Json),
            Core.Events.DeviceStatus.SchemaName => ValidateStatus(utf8Json),
            _ => new SchemaValidationResult(false, [$"unknown or missing 'schema' member: '{kind}'"]),
        };
    }

    private static SchemaValidationResult Validate(JsonSchema schema, ReadOnlySpan<byte> utf8Json)
    {
        JsonDocument doc;
        try
        {
            var reader = new Utf8JsonReader(utf8Json);
            doc = JsonDocument.ParseValue(ref reader);
        }
        catch (JsonException ex)
        {
            return new SchemaValidationResult(false, [$"not JSON: {ex.Message}"]);
        }
        using (doc)
        {
            var results = schema.Evaluate(doc.RootElement, new EvaluationOptions { OutputFormat = OutputFormat.List, RequireFormatValidation = true });
            if (results.IsValid) return new SchemaValidationResult(true, []);
            var errors = new List<string>();
            Collect(results, errors);
            if (errors.Count == 0) CollectDeepestFailures(results, errors);
            if (errors.Count == 0) errors.Add("invalid");
            return new SchemaValidationResult(false, errors);
        }
    }

    private static void Collect(EvaluationResults r, List<string> errors)
    {
        // A failing "if" only selects a branch, and whatever fails inside "not" is what was wanted: neither is an error.
        var path = r.EvaluationPath.ToString();
        if (path.Contains("/if", StringComparison.Ordinal) || path.Contains("/not/", StringComparison.Ordinal)) return;
        if (r.Errors is { Count: > 0 })
            foreach (var (keyword, message) in r.Errors)
                errors.Add($"{(r.InstanceLocation.ToString() is { Length: > 0 } loc ? loc : "/")} ({keyword}): {message}");
        if (r.Details is null) return;
        foreach (var d in r.Details) Collect(d, errors);
    }

    /// <summary>Keywords such as <c>not</c> fail without a message: name the deepest failing schema location instead.</summary>
    private static void CollectDeepestFailures(EvaluationResults r, List<string> errors)
    {
        if (r.IsValid || r.EvaluationPath.ToString().Contains("/if", StringComparison.Ordinal)) return;
        var failingChildren = r.Details?.Where(d => !d.IsValid && !d.EvaluationPath.ToString().Contains("/if", StringComparison.Ordinal)).ToList() ?? [];
        if (failingChildren.Count == 0)
        {
            errors.Add($"{(r.InstanceLocation.ToString() is { Length: > 0 } loc ? loc : "/")}: fails schema rule {r.EvaluationPath}");
            return;
        }
        foreach (var d in failingChildren) CollectDeepestFailures(d, errors);
    }

    private static JsonSchema Load(string file) =>
        // A private registry per schema: the global one would refuse a second registration of the same $id.
        JsonSchema.FromText(GetSchemaText(file), new BuildOptions { SchemaRegistry = new SchemaRegistry() });
}
