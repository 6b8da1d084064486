using System.Text.Json.Nodes;
using EdgeMask.Core.Geometry;
using EdgeMask.Core.Policy;
using EdgeMask.IoTHub.Tests.Infrastructure;
using EdgeMask.Module.Hosting;

namespace EdgeMask.Module.Tests.ModuleHost;

public class StationaryFaceReportTests
{
    private static readonly DateTimeOffset LearnedAt = new(2026, 12, 8, 7, 30, 0, TimeSpan.FromHours(1));

    [Fact]
    public void ToJson_LearntFaces_NormalizedBoxTimeAndHeldStarts()
    {
        var faces = new[]
        {
            new StationaryFace(new BoxF(480, 270, 576, 378), 960, 540, LearnedAt, 3),
            new StationaryFace(new BoxF(0, 0, 96, 54), 960, 540, LearnedAt.AddMinutes(1), 0),
        };

        JsonArray json = StationaryFaceReport.ToJson(faces);

        Assert.Equal(
            """[{"box":{"x1":0.5,"y1":0.5,"x2":0.6,"y2":0.7},"learnedAt":"2026-12-08T06:30:00.0000000Z","heldStarts":3},""" +
            """{"box":{"x1":0,"y1":0,"x2":0.1,"y2":0.1},"learnedAt":"2026-12-08T06:31:00.0000000Z","heldStarts":0}]""",
            json.ToJsonString());
    }

    [Fact]
    public void ToJson_AsACameraReports_EdgeHubAcceptsThePatch()
    {
        var faces = Enumerable.Range(0, StationaryFaceOptions.MaxSpots)
            .Select(i => new StationaryFace(new BoxF(i * 20, 10, i * 20 + 40, 50), 1920, 1080, LearnedAt.AddSeconds(i), i))
            .ToArray();
        var patch = new JsonObject
        {
            ["cameras"] = new JsonObject { ["platform-1"] = new JsonObject { ["stationaryFaces"] = StationaryFaceReport.ToJson(faces) } },
        };

        Assert.Null(EdgeHubReportedProperties.Refusal(patch));
    }
}
