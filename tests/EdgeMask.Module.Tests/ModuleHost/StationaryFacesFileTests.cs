using EdgeMask.Core.Geometry;
using EdgeMask.Core.Policy;
using EdgeMask.Module.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using LogLevel = Microsoft.Extensions.Logging.LogLevel;
using Paths = EdgeMask.Tests.Shared.TestPaths;
using TestLoggerFactory = EdgeMask.Messaging.Tests.Support.TestLoggerFactory;

namespace EdgeMask.Module.Tests.ModuleHost;

public class StationaryFacesFileTests
{
    private const string Source = "rtsp://admin:secret@10.0.0.5/stream";
    private static readonly StationaryFace Poster = new(new BoxF(600.5f, 120, 700, 240), 960, 540, new DateTimeOffset(2026, 12, 8, 6, 0, 0, TimeSpan.Zero), 4);

    [Fact]
    public void Save_ThenLoadedByANewInstance_SameCameraAndSourceGetTheFacesBack()
    {
        string dir = Paths.NewTempDirectory();
        new StationaryFacesFile(dir, NullLogger.Instance).Save([("gate", Source, [Poster]), ("hall", "x.mp4", [])]);

        var reloaded = new StationaryFacesFile(dir, NullLogger.Instance);

        Assert.Equal([Poster], reloaded.For("gate", Source));
        Assert.Empty(reloaded.For("gate", "rtsp://10.0.0.6/stream"));
        Assert.Empty(reloaded.For("hall", "x.mp4"));
        string json = File.ReadAllText(Path.Combine(dir, StationaryFacesFile.FileName));
        Assert.DoesNotContain("secret", json, StringComparison.Ordinal);
        Assert.Contains(StationaryFacesFile.SourceHash(Source), json, StringComparison.Ordinal);
    }

    [Fact]
    public void Save_NothingEverLearnt_NoFileWritten()
    {
        string dir = Paths.NewTempDirectory();

        new StationaryFacesFile(dir, NullLogger.Instance).Save([("gate", Source, [])]);

        Assert.False(File.Exists(Path.Combine(dir, StationaryFacesFile.FileName)));
    }

    [Fact]
    public void Save_CameraRemoved_DroppedFromTheFile()
    {
        string dir = Paths.NewTempDirectory();
        var file = new StationaryFacesFile(dir, NullLogger.Instance);
        file.Save([("gate", Source, [Poster])]);

        file.Save([("hall", "x.mp4", [])]);

        Assert.Empty(new StationaryFacesFile(dir, NullLogger.Instance).For("gate", Source));
    }

    [Theory]
    [InlineData("{ not json")]
    [InlineData("""{"version": 7, "cameras": {}}""")]
    public void Load_DamagedFile_WarnsLearnsAfreshAndTheNextSaveReplacesIt(string content)
    {
        string dir = Paths.NewTempDirectory();
        File.WriteAllText(Path.Combine(dir, StationaryFacesFile.FileName), content);
        using var logs = new TestLoggerFactory(null);

        var file = new StationaryFacesFile(dir, logs.CreateLogger("t"));

        Assert.Empty(file.For("gate", Source));
        Assert.Contains(logs.Entries, e => e.Level == LogLevel.Warning && e.Message.Contains("cannot be read", StringComparison.Ordinal));
        file.Save([("gate", Source, [Poster])]);
        Assert.Equal([Poster], new StationaryFacesFile(dir, NullLogger.Instance).For("gate", Source));
    }
}
