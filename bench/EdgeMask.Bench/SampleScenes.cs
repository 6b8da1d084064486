using System.Text.Json;
using EdgeMask.Core.Policy;

namespace EdgeMask.Bench;

/// <summary>The sample video's scene table (<c>../shared/samples/station-crowd-960x540.scenes.json</c>, see its README).</summary>
internal static class SampleScenes
{
    public static string TablePath => Path.Combine(BenchPaths.Shared, "samples", "station-crowd-960x540.scenes.json");

    public static IReadOnlyList<SceneExpectation> Load(string? path = null)
    {
        path ??= TablePath;
        if (!File.Exists(path)) throw new FileNotFoundException($"The scene table {path} is missing (it comes with ../shared/samples).", path);
        using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
        var scenes = new List<SceneExpectation>();
        foreach (var e in doc.RootElement.EnumerateArray())
        {
            scenes.Add(new SceneExpectation(
                e.GetProperty("image").GetString() ?? $"scene {scenes.Count}",
                e.GetProperty("start_frame").GetInt64(),
                e.GetProperty("frames").GetInt32(),
                e.GetProperty("unmasked_ge20px").GetInt32(),
                e.GetProperty("incorrect_ge20px").GetInt32(),
                e.TryGetProperty("faces", out var faces) ? faces.GetInt32() : 0));
        }
        return scenes;
    }

    /// <summary>The scene a frame of the (looping) video belongs to, or -1.</summary>
    public static int SceneOf(IReadOnlyList<SceneExpectation> scenes, long frame)
    {
        long length = scenes[^1].StartFrame + scenes[^1].Frames;
        frame %= length;
        for (int i = 0; i < scenes.Count; i++)
            if (frame >= scenes[i].StartFrame && frame < scenes[i].StartFrame + scenes[i].Frames) return i;
        return -1;
    }
}
