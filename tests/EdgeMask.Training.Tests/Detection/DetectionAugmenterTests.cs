using EdgeMask.Core.Geometry;
using EdgeMask.Training.Detection;
using OpenCvSharp;

namespace EdgeMask.Training.Tests.Detection;

public sealed class DetectionAugmenterTests
{
    private static readonly Landmarks5 Marks = new(new PointF2(14, 25), new PointF2(26, 25), new PointF2(20, 30), new PointF2(15, 35), new PointF2(25, 35));

    [Fact]
    public void FlipFaces_FaceWithLandmarks_MirrorsBoxAndSwapsLeftAndRight()
    {
        var faces = new List<TrainingFace> { new(new BoxF(10, 20, 30, 40), Marks) };

        DetectionAugmenter.FlipFaces(faces, 100);

        Assert.Equal(new BoxF(70, 20, 90, 40), faces[0].Box);
        var m = faces[0].Landmarks!.Value;
        // The old right eye (x 26) becomes the new image-left eye at 100 − 26 = 74; likewise for the mouth corners.
        Assert.Equal(new PointF2(74, 25), m.LeftEye);
        Assert.Equal(new PointF2(86, 25), m.RightEye);
        Assert.Equal(new PointF2(80, 30), m.Nose);
        Assert.Equal(new PointF2(75, 35), m.LeftMouth);
        Assert.Equal(new PointF2(85, 35), m.RightMouth);
    }

    [Fact]
    public void Apply_WeightedFaces_KeepTheirWeightsThroughCropAndFlip()
    {
        using var photo = new Mat(120, 160, MatType.CV_8UC3, new Scalar(40, 40, 40));
        var faces = new[] { new TrainingFace(new BoxF(20, 20, 50, 50), null, 2.5f), new TrainingFace(new BoxF(100, 60, 130, 90), null) };
        var options = new AugmentOptions { Size = 128, MinScale = 0.5f, MaxScale = 0.7f, Photometric = false };
        using var output = new Mat();
        for (int seed = 0; seed < 20; seed++)
        {
            var kept = DetectionAugmenter.Apply(photo, faces, options, new Scalar(104, 117, 123), new Random(seed), output);

            // Zoomed out, both faces stay in every crop; the left one (flipped or not) is the weighted one.
            Assert.Equal(2, kept.Count);
            var weighted = Assert.Single(kept, f => f.Weight == 2.5f);
            Assert.Single(kept, f => f.Weight == 1f);
            Assert.True(weighted.Box.Width < 40 && weighted.Box.Width > 10);
        }
    }

    [Fact]
    public void Apply_ManySeeds_BoxesFollowThePixelsAndFlipSwapsLeftAndRightLandmarks()
    {
        // A grey photo with one face square, white on its left half and mid-grey on its right half. Wherever crop, scale
        // and flip put it, the returned box must cover those pixels; when the pixels show a flip (grey half on the left),
        // the image-left eye must still be left of the image-right eye (a flip without the swap would invert them).
        using var photo = new Mat(120, 160, MatType.CV_8UC3, new Scalar(40, 40, 40));
        var box = new BoxF(60, 40, 100, 80);
        Cv2.Rectangle(photo, new Rect(60, 40, 20, 40), Scalar.White, -1);
        Cv2.Rectangle(photo, new Rect(80, 40, 20, 40), new Scalar(160, 160, 160), -1);
        var marks = new Landmarks5(new PointF2(70, 52), new PointF2(90, 52), new PointF2(80, 60), new PointF2(72, 70), new PointF2(88, 70));
        var options = new AugmentOptions { Size = 128, MinScale = 0.5f, MaxScale = 2.5f, Photometric = false };
        using var output = new Mat();
        int flipped = 0;
        for (int seed = 0; seed < 60; seed++)
        {
            var faces = DetectionAugmenter.Apply(photo, [new TrainingFace(box, marks)], options, new Scalar(104, 117, 123), new Random(seed), output);
            var f = Assert.Single(faces);
            int x1 = (int)MathF.Ceiling(f.Box.X1) + 1, y1 = (int)MathF.Ceiling(f.Box.Y1) + 1;
            int half = (int)(f.Box.Width / 2) - 2, height = (int)f.Box.Height - 3;
            double left = Cv2.Mean(new Mat(output, new Rect(x1, y1, half, height))).Val0;
            double right = Cv2.Mean(new Mat(output, new Rect((int)MathF.Ceiling(f.Box.CenterX) + 1, y1, half, height))).Val0;
            Assert.True(Math.Min(left, right) > 140 && Math.Abs(left - right) > 60, $"seed {seed}: box {f.Box} covers {left:0}/{right:0}, not the face");
            if (left < right) flipped++;
            var m = f.Landmarks!.Value;
            Assert.True(m.LeftEye.X < m.RightEye.X && m.LeftMouth.X < m.RightMouth.X, $"seed {seed}: left/right landmarks not swapped");
            Assert.True(m.LeftEye.X > f.Box.X1 && m.RightEye.X < f.Box.X2, $"seed {seed}: landmarks {m} left the box {f.Box}");
        }
        Assert.InRange(flipped, 15, 45);
    }

    [Fact]
    public void DrawCrop_ManyRandomScenes_NeverCutsAKeptFaceAndNeverCutsADroppedOne()
    {
        var options = new AugmentOptions { Size = 256, MinScale = 0.4f, MaxScale = 4f, CropAttempts = 30 };
        for (int seed = 0; seed < 400; seed++)
        {
            var rng = new Random(seed);
            int w = rng.Next(120, 700), h = rng.Next(120, 700);
            var faces = new List<BoxF>();
            int n = rng.Next(0, 12);
            for (int i = 0; i < n; i++)
            {
                float s = rng.Next(4, 90), x = rng.Next(0, Math.Max(1, w - (int)s)), y = rng.Next(0, Math.Max(1, h - (int)s));
                faces.Add(new BoxF(x, y, Math.Min(w, x + s), Math.Min(h, y + s * 1.2f)));
            }

            var (window, kept) = DetectionAugmenter.DrawCrop(w, h, faces, options, rng);

            var wb = window.Box;
            for (int i = 0; i < faces.Count; i++)
            {
                var f = faces[i];
                bool inside = f.X1 >= wb.X1 && f.Y1 >= wb.Y1 && f.X2 <= wb.X2 && f.Y2 <= wb.Y2;
                bool disjoint = f.X2 <= wb.X1 || f.X1 >= wb.X2 || f.Y2 <= wb.Y1 || f.Y1 >= wb.Y2;
                if (kept.Contains(i)) Assert.True(inside, $"seed {seed}: kept face {f} is not wholly inside {wb}");
                else Assert.True(disjoint, $"seed {seed}: dropped face {f} is cut by {wb}");
            }
            if (faces.Count > 0) Assert.NotEmpty(kept);
        }
    }

    [Theory]
    [InlineData(1f, false)]      // the default: a crop never cuts a face
    [InlineData(0.5f, true)]     // 60 % of the face inside ≥ 50 %: kept
    [InlineData(0.7f, false)]    // 60 % < 70 %: the crop is refused
    public void TryKeep_CropCutsAFaceWith60PercentInside_KeptOnlyWhenMinVisibleAllows(float minVisible, bool expected)
    {
        var window = new CropWindow(0, 0, 100);
        var faces = new[] { new BoxF(10, 10, 30, 30), new BoxF(88, 40, 108, 60) };   // the second: x 88–108, 12 of 20 px inside

        bool ok = DetectionAugmenter.TryKeep(window, faces, out var kept, minVisible);

        Assert.Equal(expected, ok);
        if (ok) Assert.Equal([0, 1], kept);
    }

    [Theory]
    [InlineData(25f, true)]     // the cut face's short side, 20 px, is within the bound
    [InlineData(15f, false)]    // 20 px > 15 px: the crop is refused
    public void TryKeep_CutFaceAndSizeBound_KeptOnlyWhenSmallEnough(float maxCutSide, bool expected)
    {
        var window = new CropWindow(0, 0, 100);
        var faces = new[] { new BoxF(10, 10, 30, 30), new BoxF(88, 40, 108, 60) };

        bool ok = DetectionAugmenter.TryKeep(window, faces, out _, 0.5f, maxCutSide);

        Assert.Equal(expected, ok);
        // A face wholly inside is kept whatever its size.
        Assert.True(DetectionAugmenter.TryKeep(window, [new BoxF(10, 10, 90, 90)], out var whole, 0.5f, 15f));
        Assert.Equal([0], whole);
    }

    [Fact]
    public void Apply_CutFaceKept_BoxClippedToTheCropAndLandmarksDropped()
    {
        using var photo = new Mat(100, 100, MatType.CV_8UC3, Scalar.All(128));
        using var output = new Mat();
        // A 100 px crop of a 100 px photo at scale 1 is the whole photo; a face reaching past the right border is cut.
        var faces = new List<TrainingFace> { new(new BoxF(80, 40, 110, 70), Marks), new(new BoxF(10, 10, 40, 40), Marks) };
        var options = new AugmentOptions { Size = 100, MinScale = 1f, MaxScale = 1f, Flip = false, Photometric = false, MinVisible = 0.5f };

        var result = DetectionAugmenter.Apply(photo, faces, options, Scalar.All(0), new Random(1), output);

        Assert.Equal(2, result.Count);
        Assert.Equal(new BoxF(80, 40, 100, 70), result[0].Box);
        Assert.Null(result[0].Landmarks);
        Assert.NotNull(result[1].Landmarks);
    }

    [Fact]
    public void ColourJitter_ManySeeds_KeepsSizeAndTypeAndChangesSomeImages()
    {
        using var photo = new Mat(40, 50, MatType.CV_8UC3, new Scalar(30, 120, 200));
        int changed = 0;
        for (int seed = 0; seed < 20; seed++)
        {
            using var j = DetectionAugmenter.ColourJitter(photo, new Random(seed));
            Assert.Equal(photo.Size(), j.Size());
            Assert.Equal(MatType.CV_8UC3, j.Type());
            using var diff = new Mat();
            Cv2.Absdiff(photo, j, diff);
            if (Cv2.Sum(diff).Val0 + Cv2.Sum(diff).Val1 + Cv2.Sum(diff).Val2 > 0) changed++;
        }
        Assert.InRange(changed, 10, 20);
    }
}
