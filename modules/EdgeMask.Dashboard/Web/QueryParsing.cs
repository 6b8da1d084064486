using System.Globalization;
using EdgeMask.Core.Events;
using EdgeMask.Dashboard.Storage;

namespace EdgeMask.Dashboard.Web;

/// <summary>Reads the filters shared by the history page, its CSV export and the JSON API from the query string.</summary>
public sealed record EventFilter(string? Device, string? Camera, string? Type, DateTimeOffset? From, DateTimeOffset? To, int Page, int PageSize,
    string? Label = null)
{
    public const int MaxPageSize = 500;

    public EventQuery ToQuery() => new(Device, Camera, Type, From, To, (Page - 1) * PageSize, PageSize, Label);

    public static bool TryParse(IQueryCollection query, int defaultPageSize, out EventFilter filter, out string? error)
    {
        error = null;
        var device = Text(query, "device");
        var camera = Text(query, "camera");
        var type = Text(query, "type");
        if (type is not null && !EventTypes.All.Contains(type))
        {
            error = $"type must be one of {string.Join(", ", EventTypes.All)}";
        }
        // Any label the devices report can be asked for (labels are data); only its length is bounded, as at ingest.
        var label = Text(query, "label");
        if (label is { Length: > 64 })
        {
            error ??= "label is longer than 64 characters";
        }
        var from = ParseTime(query, "from", ref error);
        var to = ParseTime(query, "to", ref error);
        var page = ParseInt(query, "page", 1, 1, int.MaxValue / MaxPageSize, ref error);
        var pageSize = ParseInt(query, "pageSize", defaultPageSize, 1, MaxPageSize, ref error);
        filter = new EventFilter(device, camera, type, from, to, page, pageSize, label);
        return error is null;
    }

    public string QueryString(int? page = null)
    {
        var parts = new List<string>();
        void Add(string name, string? value)
        {
            if (!string.IsNullOrEmpty(value))
            {
                parts.Add($"{name}={Uri.EscapeDataString(value)}");
            }
        }
        Add("device", Device);
        Add("camera", Camera);
        Add("type", Type);
        Add("label", Label);
        Add("from", Format.InputTime(From));
        Add("to", Format.InputTime(To));
        if (page is { } p)
        {
            Add("page", p.ToString(CultureInfo.InvariantCulture));
            Add("pageSize", PageSize.ToString(CultureInfo.InvariantCulture));
        }
        return parts.Count == 0 ? "" : "?" + string.Join("&", parts);
    }

    internal static string? Text(IQueryCollection query, string name)
    {
        var value = query[name].ToString().Trim();
        return value.Length == 0 ? null : value;
    }

    /// <summary>ISO 8601; a time without offset (as a datetime-local input sends it) is UTC.</summary>
    internal static DateTimeOffset? ParseTime(IQueryCollection query, string name, ref string? error)
    {
        var text = Text(query, name);
        if (text is null)
        {
            return null;
        }
        if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var at))
        {
            return at;
        }
        error ??= $"{name} '{text}' is not an ISO 8601 time";
        return null;
    }

    private static int ParseInt(IQueryCollection query, string name, int fallback, int min, int max, ref string? error)
    {
        var text = Text(query, name);
        if (text is null)
        {
            return fallback;
        }
        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max)
        {
            return value;
        }
        error ??= $"{name} must be a whole number from {min} to {max}";
        return fallback;
    }
}

public sealed record ComplianceFilter(string? Device, string? Camera, BucketSize Bucket, DateTimeOffset From, DateTimeOffset To)
{
    public static bool TryParse(IQueryCollection query, DateTimeOffset now, out ComplianceFilter filter, out string? error)
    {
        error = null;
        var bucketText = EventFilter.Text(query, "bucket") ?? "hour";
        if (!Enum.TryParse<BucketSize>(bucketText, ignoreCase: true, out var bucket) || !Enum.IsDefined(bucket))
        {
            error = "bucket must be minute, hour or day";
            bucket = BucketSize.Hour;
        }
        var to = EventFilter.ParseTime(query, "to", ref error) ?? now;
        var defaultSpan = bucket switch
        {
            BucketSize.Minute => TimeSpan.FromHours(2),
            BucketSize.Hour => TimeSpan.FromDays(1),
            _ => TimeSpan.FromDays(30),
        };
        var from = EventFilter.ParseTime(query, "from", ref error) ?? to - defaultSpan;
        if (from >= to)
        {
            error ??= "from must be before to";
        }
        // Bound the number of buckets so one request cannot ask for millions of rows.
        if ((to - from).TotalMilliseconds / SqlDashboardStore.BucketMilliseconds(bucket) > 10_000)
        {
            error ??= "the range holds more than 10000 buckets: choose a coarser bucket or a shorter range";
        }
        filter = new ComplianceFilter(EventFilter.Text(query, "device"), EventFilter.Text(query, "camera"), bucket, from, to);
        return error is null;
    }

    public ComplianceQuery ToQuery() => new(Device, Camera, From, To, Bucket);
}
