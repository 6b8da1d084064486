using EdgeMask.Core.Detection;
using EdgeMask.Inference.Detection;
using EdgeMask.Inference.Imaging;
using EdgeMask.Tests.Shared;
using OpenCvSharp;

namespace EdgeMask.Inference.Tests.Detection;

/// <summary>
/// The border the detector may frame its input with (<see cref="InputSizing.BorderPad"/>): the network must see exactly
/// the photo placed in that border, and every box and landmark must come back in the photo's own pixels.
/// </summary>
public class DetectorBorderTests(DetectorFixture fixture) : IClassFixture<DetectorFixture>
{
    private const int Pad = 32;

    [Theory]
    [InlineData(BorderFill.Mean)]
    [InlineData(BorderFill.Replicate)]
    [InlineData(BorderFill.Reflect)]
    public void Detect_Border_SameFacesAsThePhotoFramedByHandShiftedBack(BorderFill fill)
    {
        using var photo = ImageLoader.LoadBgr(TestPaths.VocImage(5));
        // By hand: the photo framed as the detector is asked to frame it, then detected without a border.
        using var framed = new Mat();
        if (fill == BorderFill.Mean)
            Cv2.CopyMakeBorder(photo, framed, Pad, Pad, Pad, Pad, BorderTypes.Constant, new Scalar(104, 117, 123));
        else
            Cv2.CopyMakeBorder(photo, framed, Pad, Pad, Pad, Pad, fill == BorderFill.Replicate ? BorderTypes.Replicate : BorderTypes.Reflect101);
        var expected = new List<FaceDetection>();
        fixture.Native.Detect(framed, expected);

        using var detector = fixture.Open(new DetectorOptions { Sizing = new InputSizing { BorderPad = Pad, BorderFill = fill } });
        var faces = new List<FaceDetection>();
        detector.Detect(photo, faces);

        Assert.Equal((photo.Width + 2 * Pad, photo.Height + 2 * Pad), (detector.GeometryFor(photo.Width, photo.Height).InputWidth, detector.GeometryFor(photo.Width, photo.Height).InputHeight));
        Assert.True(faces.Count >= 3, $"photo 5 has faces; found {faces.Count}");
        // Faces wholly inside the photo: the same network output, so the same boxes less the border (to float rounding).
        var inside = expected.Where(f => f.Box.X1 >= Pad && f.Box.Y1 >= Pad && f.Box.X2 <= Pad + photo.Width && f.Box.Y2 <= Pad + photo.Height).ToList();
        Assert.NotEmpty(inside);
        foreach (var e in inside)
        {
            var match = Assert.Single(faces, f => MathF.Abs(f.Box.X1 - (e.Box.X1 - Pad)) < 0.01f && MathF.Abs(f.Box.Y1 - (e.Box.Y1 - Pad)) < 0.01f);
            Assert.Equal(e.Box.X2 - Pad, match.Box.X2, 0.01f);
            Assert.Equal(e.Box.Y2 - Pad, match.Box.Y2, 0.01f);
            Assert.Equal(e.Score, match.Score);
            Assert.Equal(e.Landmarks.Nose.X - Pad, match.Landmarks.Nose.X, 0.01f);
            Assert.Equal(e.Landmarks.Nose.Y - Pad, match.Landmarks.Nose.Y, 0.01f);
        }
        Assert.All(faces, f => Assert.True(f.Box.X1 >= 0 && f.Box.Y1 >= 0 && f.Box.X2 <= photo.Width && f.Box.Y2 <= photo.Height && f.Box.X2 > f.Box.X1,
            $"box {f.Box} is clipped to the {photo.Width}×{photo.Height} photo"));
    }

    [Fact]
    public void Detect_BorderAtTwiceTheScale_FindsTheFacesFoundWithoutBorderInThePhotosPixels()
    {
        using var photo = ImageLoader.LoadBgr(TestPaths.VocImage(5));
        using var plain = fixture.Open(new DetectorOptions { Sizing = new InputSizing { Scale = 2f } });
        using var bordered = fixture.Open(new DetectorOptions { Sizing = new InputSizing { Scale = 2f, BorderPad = Pad } });
        var expected = new List<FaceDetection>();
        var faces = new List<FaceDetection>();
        plain.Detect(photo, expected);
        bordered.Detect(photo, faces);
        // The border changes the receptive field at the edges only; faces well inside are found where they were.
        foreach (var e in expected.Where(f => f.Score > 0.9f && f.Box.X1 > 20 && f.Box.Y1 > 20 && f.Box.X2 < photo.Width - 20 && f.Box.Y2 < photo.Height - 20))
            Assert.Contains(faces, f => f.Box.IoU(e.Box) > 0.9f);
    }
}
