using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace EdgeMask.Module.Hosting;

/// <summary>
/// The frame sizes cameras without a configured size delivered outside the TensorRT profile, kept in
/// <c>frame-sizes.json</c> beside the engines (the engine cache volume): the next start plans its profile with them and
/// loads the engine built for them from the cache instead of rebuilding at the first frame again. The most recent
/// <see cref="Capacity"/> are kept, so a camera replaced long ago stops widening the profile. Thread-safe.
/// </summary>
internal sealed class LearnedFrameSizes
{
    public const int Capacity = 8;
    public const string FileName = "frame-sizes.json";

    private readonly string _path;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private readonly List<(int Width, int Height)> _sizes = [];

    public LearnedFrameSizes(string cacheDirectory, ILogger logger)
    {
        _path = Path.Combine(cacheDirectory, FileName);
        _logger = logger;
        Load();
    }

    public IReadOnlyCollection<(int Width, int Height)> Sizes
    {
        get { lock (_gate) return _sizes.ToList(); }
    }

    /// <summary>Learns a size; false when it was known already.</summary>
    public bool Add(int width, int height)
    {
        List<(int, int)> snapshot;
        lock (_gate)
        {
            if (_sizes.Contains((width, height))) return false;
            _sizes.Add((width, height));
            if (_sizes.Count > Capacity) _sizes.RemoveAt(0);
            snapshot = [.. _sizes];
        }
        Save(snapshot);
        return true;
    }

    private void Load()
    {
        if (!File.Exists(_path)) return;
        try
        {
            var sizes = JsonSerializer.Deserialize<int[][]>(File.ReadAllText(_path)) ?? [];
            foreach (var s in sizes.Where(s => s is [>= 16 and <= 8192, >= 16 and <= 8192]).TakeLast(Capacity))
                if (!_sizes.Contains((s[0], s[1]))) _sizes.Add((s[0], s[1]));
        }
        catch (Exception ex) when (ex is JsonException or IOException or UnauthorizedAccessException)
        {
            // A damaged file only costs a rebuild at the first frame: planned without it.
            _logger.LogWarning("Learned frame sizes in {Path} cannot be read ({Error}); planning the TensorRT profile without them", _path, ex.Message);
        }
    }

    private void Save(List<(int Width, int Height)> sizes)
    {
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(_path)!);
            string temp = _path + ".tmp";
            File.WriteAllText(temp, JsonSerializer.Serialize(sizes.Select(s => new[] { s.Width, s.Height })));
            File.Move(temp, _path, overwrite: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            _logger.LogWarning("Learned frame sizes cannot be kept in {Path} ({Error}); the next start rebuilds at the first frame again", _path, ex.Message);
        }
    }
}
