using EdgeMask.Core.Geometry;
using EdgeMask.Core.Policy;
using EdgeMask.Module.Cli;
using OpenCvSharp;

namespace EdgeMask.Module.Tests.Cli;

/// <summary>The <c>--annotate</c> video's overlay of where faces count: what an operator sets zones up with.</summary>
public class AnnotatorTests
{
    private static readonly ZoneOptions LeftHalf = new() { Name = "queue", Points = [new(0, 0), new(0.5f, 0), new(0.5f, 1), new(0, 1)] };
    private static readonly ZoneOptions Poster = new() { Name = "poster", Units = ZoneUnits.Pixels, Points = [new(600, 100), new(800, 100), new(800, 300), new(600, 300)] };

    /// <summary>Whether a pixel within 1 px of (x, y) has about <paramref name="colour"/> (anti-aliased lines blend a little).</summary>
    private static bool Near(Mat image, int x, int y, Scalar colour)
    {
        for (int dy = -1; dy <= 1; dy++)
        for (int dx = -1; dx <= 1; dx++)
        {
            Vec3b p = image.At<Vec3b>(y + dy, x + dx);
            if (Math.Abs(p.Item0 - colour.Val0) + Math.Abs(p.Item1 - colour.Val1) + Math.Abs(p.Item2 - colour.Val2) < 60) return true;
        }
        return false;
    }

    [Fact]
    public void DrawPolicyOverlay_ZonesIgnoreZonesAndPictures_EachOutlinedInItsColour()
    {
        using var image = new Mat(540, 960, MatType.CV_8UC3, Scalar.All(60));
        var policy = new ViolationPolicyOptions { Zones = [LeftHalf], IgnoreZones = [Poster] };
        // A picture learnt on 1920×1080 frames is drawn at half its pixel coordinates here.
        var picture = new StationaryFace(new BoxF(200, 400, 400, 600), 1920, 1080, DateTimeOffset.UnixEpoch, 0);

        Annotator.DrawPolicyOverlay(image, policy, [picture]);

        Assert.True(Near(image, 480, 270, Annotator.ZoneColour), "the zone's right edge at x = 0.5 of the frame");
        Assert.True(Near(image, 600, 200, Annotator.IgnoreZoneColour), "the ignore zone's left edge");
        Assert.True(Near(image, 700, 200, Annotator.IgnoreZoneColour), "the ignore zone crossed out");
        Assert.True(Near(image, 100, 250, Annotator.PictureColour), "the picture's left edge, scaled to this frame");
        Assert.False(Near(image, 300, 100, Annotator.PictureColour), "nothing where the picture's unscaled box would be");
        Assert.False(Near(image, 700, 450, Annotator.IgnoreZoneColour), "nothing outside the zones");
    }

    [Fact]
    public void DrawPolicyOverlay_NothingConfigured_FrameUnchanged()
    {
        using var image = new Mat(540, 960, MatType.CV_8UC3, Scalar.All(60));

        Annotator.DrawPolicyOverlay(image, new ViolationPolicyOptions(), []);

        Assert.Equal(0, Cv2.CountNonZero(image.Reshape(1) - new Scalar(60)));
    }
}
