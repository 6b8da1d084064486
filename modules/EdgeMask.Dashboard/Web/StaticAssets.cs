using System.Reflection;

namespace EdgeMask.Dashboard.Web;

/// <summary>
/// Serves the front end (our app.js/app.css and uPlot from npm) from resources embedded at build time, so the
/// executable needs no wwwroot folder beside it.
/// </summary>
internal static class StaticAssets
{
    private static readonly Dictionary<string, string> ContentTypes = new(StringComparer.Ordinal)
    {
        ["app.js"] = "text/javascript; charset=utf-8",
        ["app.css"] = "text/css; charset=utf-8",
        ["uPlot.iife.min.js"] = "text/javascript; charset=utf-8",
        ["uPlot.min.css"] = "text/css; charset=utf-8",
    };

    public static void Map(WebApplication app)
    {
        var assembly = typeof(StaticAssets).Assembly;
        var files = ContentTypes.ToDictionary(kv => kv.Key, kv => Read(assembly, kv.Key), StringComparer.Ordinal);
        app.MapGet("/static/{name}", (string name, HttpContext context) =>
        {
            if (!files.TryGetValue(name, out var bytes))
            {
                return Results.NotFound();
            }
            context.Response.Headers.CacheControl = "public, max-age=300";
            return Results.Bytes(bytes, ContentTypes[name]);
        }).AllowAnonymous().ExcludeFromDescription();
    }

    private static byte[] Read(Assembly assembly, string name)
    {
        using var stream = assembly.GetManifestResourceStream("static/" + name)
            ?? throw new InvalidOperationException($"The embedded front-end file static/{name} is missing: rebuild with npm available (see README).");
        using var memory = new MemoryStream();
        stream.CopyTo(memory);
        return memory.ToArray();
    }
}
