using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace EdgeMask.IoTHub.Twin;

/// <summary>What a validator makes of the desired properties: the options snapshot, or the errors per key path.</summary>
public sealed record TwinValidationResult<TOptions>(TOptions? Options, IReadOnlyDictionary<string, string> Errors)
    where TOptions : class
{
    public static TwinValidationResult<TOptions> Valid(TOptions options) => new(options, new Dictionary<string, string>());

    public static TwinValidationResult<TOptions> Invalid(IReadOnlyDictionary<string, string> errors) => new(null, errors);

    public bool IsValid => Options is not null && Errors.Count == 0;
}

/// <summary>The outcome of one <see cref="TwinConfigurationApplier{TOptions}.Apply"/>.</summary>
public sealed record TwinApplyResult<TOptions>(bool Applied, TOptions Current, long DesiredVersion,
    IReadOnlyDictionary<string, string> Errors) where TOptions : class;

/// <summary>The documented twin limits the applier enforces before the validator sees a document.</summary>
public sealed record TwinLimits
{
    /// <summary>"String values are UTF-8 encoded and can have a maximum length of 4 KB."</summary>
    public int MaxStringBytes { get; init; } = 4 * 1024;
    /// <summary>"The maximum depth of JSON objects in tags, desired properties, and reported properties is 10."</summary>
    public int MaxDepth { get; init; } = 10;
    /// <summary>"a 32-KB size limit each on the value of properties/desired and properties/reported".</summary>
    public int MaxDocumentBytes { get; init; } = 32 * 1024;
}

/// <summary>
/// Turns the twin's desired properties into one immutable options snapshot, independent of the concrete options type:
/// the host supplies a validator (desired JSON → options or per-key errors). A document that breaks the twin limits or
/// fails validation is rejected as a whole — the previous snapshot stays in force — and the errors are reported per key.
/// Thread-safe; <see cref="Apply"/> calls are serialized.
/// </summary>
public sealed class TwinConfigurationApplier<TOptions> where TOptions : class
{
    /// <summary>How much of the reported <c>configuration.errors</c> list may take: half of the 32 KB a report may be.</summary>
    public const int ReportedErrorBudgetBytes = 16 * 1024;

    private readonly Func<JsonElement, TwinValidationResult<TOptions>> _validator;
    private readonly TimeProvider _time;
    private readonly TwinLimits _limits;
    private readonly Lock _gate = new();
    private TOptions _current;
    private long? _appliedVersion;
    private long? _lastDesiredVersion;
    private IReadOnlyDictionary<string, string> _errors = new Dictionary<string, string>();
    private HashSet<string> _reportedErrorKeys = new(StringComparer.Ordinal);
    private DateTimeOffset? _lastAttemptAt;
    private string _status = "default";

    public TwinConfigurationApplier(TOptions initial, Func<JsonElement, TwinValidationResult<TOptions>> validator,
        TimeProvider? timeProvider = null, TwinLimits? limits = null)
    {
        _current = initial ?? throw new ArgumentNullException(nameof(initial));
        _validator = validator ?? throw new ArgumentNullException(nameof(validator));
        _time = timeProvider ?? TimeProvider.System;
        _limits = limits ?? new TwinLimits();
    }

    /// <summary>The options in force: the initial ones until a desired document is accepted.</summary>
    public TOptions Current
    {
        get
        {
            lock (_gate)
            {
                return _current;
            }
        }
    }

    /// <summary>Raised after a new snapshot is accepted (on the caller's thread, outside the lock).</summary>
    public event Action<TOptions>? Applied;

    /// <summary>Validates the FULL desired document (not a delta) of twin version <paramref name="version"/>.</summary>
    public TwinApplyResult<TOptions> Apply(JsonElement desired, long version)
    {
        var errors = new SortedDictionary<string, string>(StringComparer.Ordinal);
        TOptions? accepted = null;
        if (desired.ValueKind != JsonValueKind.Object)
        {
            errors[""] = $"the desired properties must be a JSON object, not {desired.ValueKind}.";
        }
        else
        {
            var clean = JsonMergePatch.WithoutMetadata(desired);
            var size = Encoding.UTF8.GetByteCount(clean.ToJsonString());
            if (size > _limits.MaxDocumentBytes)
            {
                errors[""] = $"the desired properties are {size} bytes, more than the twin limit of {_limits.MaxDocumentBytes}.";
            }

            // Values breaking the twin limits are reported at their key and removed, so the validator still judges
            // (and reports) every other key in the same pass; the document as a whole is rejected either way.
            Sanitize(clean, "", 1, errors);
            using var doc = JsonDocument.Parse(clean.ToJsonString());
            TwinValidationResult<TOptions> result;
            try
            {
                result = _validator(doc.RootElement);
            }
            catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException or ArgumentException or KeyNotFoundException)
            {
                // A validator that trips over a document it did not expect is still a rejected document, not a crash.
                result = TwinValidationResult<TOptions>.Invalid(new Dictionary<string, string> { [""] = $"validation failed: {e.Message}" });
            }

            foreach (var (key, message) in result.Errors)
            {
                errors.TryAdd(key, message);
            }

            if (errors.Count == 0)
            {
                accepted = result.Options ?? throw new InvalidOperationException("The twin validator returned neither options nor errors.");
            }
        }

        TwinApplyResult<TOptions> outcome;
        lock (_gate)
        {
            _lastDesiredVersion = version;
            _lastAttemptAt = _time.GetUtcNow();
            _errors = errors;
            if (accepted is not null)
            {
                _current = accepted;
                _appliedVersion = version;
                _status = "applied";
            }
            else
            {
                _status = "rejected";
            }

            outcome = new TwinApplyResult<TOptions>(accepted is not null, _current, version, errors);
        }

        if (accepted is not null)
        {
            Applied?.Invoke(accepted);
        }

        return outcome;
    }

    /// <summary>
    /// The reported-properties patch: a <c>configuration</c> section (status, applied and last desired version, errors
    /// per key) plus the host's own status sections (execution provider, models, camera health …). Error keys that
    /// were reported before and are gone now are sent as <c>null</c> (or the whole <c>errors</c> member when none is
    /// left), because a twin patch merges objects and only a null member deletes one.
    /// </summary>
    public JsonObject BuildReported(IReadOnlyDictionary<string, JsonNode?>? statusSections = null)
    {
        var reported = new JsonObject();
        lock (_gate)
        {
            var errors = new JsonObject();
            var keys = new HashSet<string>(StringComparer.Ordinal);
            // Errors are listed up to a budget, so that a document with hundreds of bad keys still yields a report the hub
            // stores (32 KB in all); errorCount has them all, errorsNotShown says how many the list leaves out.
            int budget = ReportedErrorBudgetBytes;
            foreach (var (key, message) in _errors)
            {
                var safe = TwinKey(key);
                var text = Truncate(message, 512);
                int size = Encoding.UTF8.GetByteCount(safe) + Encoding.UTF8.GetByteCount(text) + 6;
                if (size > budget)
                {
                    break;
                }

                if (keys.Add(safe))
                {
                    errors[safe] = text;
                    budget -= size;
                }
            }

            // With no errors left the whole member is deleted (null); otherwise stale keys are nulled one by one.
            if (keys.Count > 0)
            {
                foreach (var old in _reportedErrorKeys)
                {
                    if (!keys.Contains(old))
                    {
                        errors[old] = null;
                    }
                }
            }

            _reportedErrorKeys = keys;
            reported["configuration"] = new JsonObject
            {
                ["status"] = _status,
                ["appliedVersion"] = _appliedVersion,
                ["desiredVersion"] = _lastDesiredVersion,
                ["errorCount"] = _errors.Count,
                ["errors"] = errors.Count == 0 ? null : errors,
                ["errorsNotShown"] = _errors.Count > keys.Count ? _errors.Count - keys.Count : null,
                ["at"] = _lastAttemptAt?.ToString("O"),
            };
        }

        if (statusSections is not null)
        {
            foreach (var (name, value) in statusSections)
            {
                if (name == "configuration")
                {
                    throw new ArgumentException("'configuration' is the applier's own section.", nameof(statusSections));
                }

                reported[TwinKey(name)] = value?.DeepClone();
            }
        }

        // Long camera errors, names with '#', nulls in arrays, a patch over 32 KB …: bent to what edgeHub stores, not refused.
        return ReportedPropertiesConformer.Conform(reported, _limits);
    }

    /// <summary>
    /// A twin key may not contain control characters, '.', '$', '#' or white space (the documented twin format, and
    /// edgeHub's reported-properties validator, which also reserves '#'), and is at most 1 KB; error paths such as
    /// <c>cameras/door.1/url</c> are made safe rather than rejected by the hub. The empty path (the whole document) is
    /// <c>document</c>.
    /// </summary>
    public static string TwinKey(string path) => path.Length == 0 ? "document" : ReportedPropertiesConformer.SafeName(path);

    /// <summary>Removes (and reports) strings over the size limit and objects nested too deep; returns false to drop <paramref name="node"/>.</summary>
    private bool Sanitize(JsonNode? node, string path, int depth, IDictionary<string, string> errors)
    {
        switch (node)
        {
            case JsonObject obj:
                if (depth > _limits.MaxDepth)
                {
                    errors[path] = $"nested deeper than the twin limit of {_limits.MaxDepth} levels.";
                    return false;
                }

                foreach (var name in obj.Select(p => p.Key).ToArray())
                {
                    if (!Sanitize(obj[name], TwinPath.Join(path, name), depth + 1, errors))
                    {
                        obj.Remove(name);
                    }
                }

                return true;
            case JsonArray array:
                for (var i = array.Count - 1; i >= 0; i--)
                {
                    if (!Sanitize(array[i], TwinPath.Join(path, i.ToString(System.Globalization.CultureInfo.InvariantCulture)), depth + 1, errors))
                    {
                        array.RemoveAt(i);
                    }
                }

                return true;
            case JsonValue value when value.GetValueKind() == JsonValueKind.String:
                var bytes = Encoding.UTF8.GetByteCount(value.GetValue<string>());
                if (bytes > _limits.MaxStringBytes)
                {
                    errors[path] = $"string of {bytes} bytes is longer than the twin limit of {_limits.MaxStringBytes}.";
                    return false;
                }

                return true;
            default:
                return true;
        }
    }

    private static string Truncate(string s, int max) => s.Length <= max ? s : s[..max];
}

/// <summary>Key paths of desired documents: members joined with '/', e.g. <c>cameras/door/url</c>.</summary>
public static class TwinPath
{
    public static string Join(string path, string name) => path.Length == 0 ? name : path + "/" + name;
}
