using System.Globalization;
using System.Text.Json.Nodes;
using EdgeMask.Core.Geometry;
using EdgeMask.Core.Policy;

namespace EdgeMask.Module.Hosting;

/// <summary>
/// A camera's learnt stationary faces as /healthz and the reported properties show them: where (fractions of the frame,
/// the units of a normalized zone), since when, and how many starts each has held back — what an operator needs to
/// decide whether it is a poster to put into <c>violation.ignoreZones</c>.
/// </summary>
internal static class StationaryFaceReport
{
    public static JsonArray ToJson(IReadOnlyList<StationaryFace> faces)
    {
        var list = new JsonArray();
        foreach (StationaryFace face in faces)
        {
            BoxF n = face.NormalizedBox;
            list.Add(new JsonObject
            {
                ["box"] = new JsonObject { ["x1"] = n.X1, ["y1"] = n.Y1, ["x2"] = n.X2, ["y2"] = n.Y2 },
                ["learnedAt"] = face.LearnedAt.UtcDateTime.ToString("O", CultureInfo.InvariantCulture),
                ["heldStarts"] = face.HeldStarts,
            });
        }
        return list;
    }
}
