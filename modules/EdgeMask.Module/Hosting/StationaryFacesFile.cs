using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using EdgeMask.Core.Geometry;
using EdgeMask.Core.Policy;
using Microsoft.Extensions.Logging;

namespace EdgeMask.Module.Hosting;

/// <summary>
/// The cameras' learnt pictures (<see cref="StationaryFaces"/>), kept in <c>stationary-faces.json</c> beside the outbox
/// (the module's state volume), so that a restart — a deployment update, a reboot, a power cut — does not make every
/// poster start a violation again. Each camera's spots are stored with a hash of its source (never the source itself:
/// it may carry a password) and restored only to a camera with the same id and source; a camera pointed elsewhere
/// starts afresh. A damaged file costs one more start per picture, never the start of the module. Thread-safe.
/// </summary>
internal sealed class StationaryFacesFile
{
    public const string FileName = "stationary-faces.json";

    private readonly string _path;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private Dictionary<string, CameraEntry> _cameras = new(StringComparer.Ordinal);

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    private sealed record FileContent(int Version, Dictionary<string, CameraEntry> Cameras);
    private sealed record CameraEntry(string Source, List<Spot> Faces);
    private sealed record Spot(float X1, float Y1, float X2, float Y2, int FrameWidth, int FrameHeight, DateTimeOffset LearnedAt, int HeldStarts);

    public StationaryFacesFile(string stateDirectory, ILogger logger)
    {
        _path = Path.Combine(stateDirectory, FileName);
        _logger = logger;
        Load();
    }

    /// <summary>The "sha256:…" of a camera's source, as stored.</summary>
    public static string SourceHash(string source) =>
        "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(source)));

    /// <summary>The pictures learnt before by camera <paramref name="camera"/> on <paramref name="source"/>; empty when none or another source.</summary>
    public IReadOnlyList<StationaryFace> For(string camera, string source)
    {
        lock (_gate)
        {
            if (!_cameras.TryGetValue(camera, out CameraEntry? entry) || entry.Source != SourceHash(source)) return [];
            return entry.Faces.Select(f => new StationaryFace(new BoxF(f.X1, f.Y1, f.X2, f.Y2), f.FrameWidth, f.FrameHeight, f.LearnedAt, f.HeldStarts)).ToList();
        }
    }

    /// <summary>
    /// Stores the cameras' current pictures (every camera given; cameras not given are dropped) and writes the file when
    /// that changed anything. A camera with none is left out; no file is created while no camera ever learnt one.
    /// </summary>
    public void Save(IEnumerable<(string Camera, string Source, IReadOnlyList<StationaryFace> Faces)> cameras)
    {
        var next = new Dictionary<string, CameraEntry>(StringComparer.Ordinal);
        foreach (var (camera, source, faces) in cameras)
        {
            if (faces.Count == 0) continue;
            next[camera] = new CameraEntry(SourceHash(source),
                faces.Select(f => new Spot(f.Box.X1, f.Box.Y1, f.Box.X2, f.Box.Y2, f.FrameWidth, f.FrameHeight, f.LearnedAt, f.HeldStarts)).ToList());
        }
        lock (_gate)
        {
            string json = JsonSerializer.Serialize(new FileContent(1, next), Json);
            if (next.Count == 0 && _cameras.Count == 0 && !File.Exists(_path)) return;
            if (File.Exists(_path) && SameAsStored(next)) return;
            // Kept in memory even when the write fails: a camera restarted for a capture setting still takes its pictures along.
            _cameras = next;
            try
            {
                Directory.CreateDirectory(Path.GetDirectoryName(_path)!);
                // Written beside and renamed over: a power cut leaves the old file or the new one, never half of one.
                string temp = _path + ".tmp";
                File.WriteAllText(temp, json);
                File.Move(temp, _path, overwrite: true);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                _logger.LogWarning("Learnt pictures not saved to {Path} ({Error}); after a restart they are learnt again", _path, ex.Message);
            }
        }
    }

    private bool SameAsStored(Dictionary<string, CameraEntry> next) =>
        next.Count == _cameras.Count && next.All(e => _cameras.TryGetValue(e.Key, out CameraEntry? old)
            && old.Source == e.Value.Source && old.Faces.SequenceEqual(e.Value.Faces));

    private void Load()
    {
        if (!File.Exists(_path)) return;
        try
        {
            FileContent? content = JsonSerializer.Deserialize<FileContent>(File.ReadAllText(_path), Json);
            if (content is not { Version: 1, Cameras: not null })
                throw new JsonException($"version {content?.Version} is not 1");
            _cameras = new Dictionary<string, CameraEntry>(
                content.Cameras.Where(c => c.Value is { Source: not null, Faces: not null } && c.Value.Faces.All(Valid)), StringComparer.Ordinal);
        }
        catch (Exception ex) when (ex is JsonException or IOException or UnauthorizedAccessException or NotSupportedException)
        {
            _logger.LogWarning("Learnt pictures in {Path} cannot be read ({Error}); they are learnt again", _path, ex.Message);
        }
    }

    private static bool Valid(Spot s) =>
        s is { FrameWidth: >= 16 and <= 16384, FrameHeight: >= 16 and <= 16384, HeldStarts: >= 0 }
        && float.IsFinite(s.X1) && float.IsFinite(s.Y1) && s.X2 > s.X1 && s.Y2 > s.Y1;
}
