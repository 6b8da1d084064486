using EdgeMask.Core.Geometry;
using EdgeMask.Module.Snapshots;
using OpenCvSharp;

namespace EdgeMask.Module.Tests.Snapshots;

public sealed class SnapshotRendererTests : IDisposable
{
    private readonly VocPhoto _photo = new();

    public void Dispose() => _photo.Dispose();

    private static SnapshotOptions Options(SnapshotPrivacy privacy, SnapshotBlurMethod method = SnapshotBlurMethod.Pixelate) => new()
    {
        Privacy = privacy,
        BlurMethod = method,
        JpegQuality = 92,
        Images = SnapshotImages.Both,
    };

    [Fact]
    public void Render_FaceInsideTheFrame_CropIsTheBoxPlusMarginAndFrameIsFullSize()
    {
        using var renderer = new SnapshotRenderer(Options(SnapshotPrivacy.None) with { CropMargin = 0.5f });
        var violator = new BoxF(150, 100, 190, 150); // 40×50: the crop grows 20/25 px on each side

        RenderedSnapshot r = renderer.Render(_photo.Frame, violator, _photo.Faces.AsSpan());

        Assert.Equal(new PixelRect(130, 75, 80, 100), r.CropRect);
        using Mat crop = SnapshotFiles.Decode(r.CropJpeg!);
        Assert.Equal((80, 100), (crop.Width, crop.Height));
        using Mat frame = SnapshotFiles.Decode(r.FrameJpeg!);
        Assert.Equal((_photo.Frame.Width, _photo.Frame.Height), (frame.Width, frame.Height));
        Assert.Equal((400, 306), (r.FrameWidth, r.FrameHeight));
        Assert.Same(r.FrameJpeg, r.PublishJpeg);
        Assert.False(r.Blurred);
    }

    [Fact]
    public void Render_FaceNearTheTopEdge_CropClippedToTheFrame()
    {
        using var renderer = new SnapshotRenderer(Options(SnapshotPrivacy.None) with { CropMargin = 0.5f });
        BoxF v = _photo.Violator; // starts 16 px below the top: half its height of margin does not fit

        RenderedSnapshot r = renderer.Render(_photo.Frame, v, _photo.Faces.AsSpan());

        int x1 = (int)MathF.Floor(v.X1 - v.Width / 2), x2 = Math.Min(400, (int)MathF.Ceiling(v.X2 + v.Width / 2));
        int y2 = (int)MathF.Ceiling(v.Y2 + v.Height / 2);
        Assert.Equal(new PixelRect(x1, 0, x2 - x1, y2), r.CropRect);
        using Mat crop = SnapshotFiles.Decode(r.CropJpeg!);
        Assert.Equal((x2 - x1, y2), (crop.Width, crop.Height));
    }

    [Fact]
    public void Render_FullFrame_ViolatorBoxDrawnInRedAndCallersFrameUntouched()
    {
        using var renderer = new SnapshotRenderer(Options(SnapshotPrivacy.None));
        using Mat before = _photo.Frame.Clone();

        RenderedSnapshot r = renderer.Render(_photo.Frame, _photo.Violator, _photo.Faces.AsSpan(), "no_mask 0.97");

        using Mat frame = SnapshotFiles.Decode(r.FrameJpeg!);
        PixelRect box = r.ViolatorRect;
        // Along the left edge of the box (one column, the middle half of its height): red in the snapshot, not in the photo.
        double Redness(Mat m) => Enumerable.Range(box.Y + box.Height / 4, box.Height / 2)
            .Select(y => m.At<Vec3b>(y, box.X)).Average(p => p.Item2 - Math.Max(p.Item0, p.Item1));
        Assert.True(Redness(frame) > 80, $"box edge redness {Redness(frame):0.0}");
        Assert.True(Redness(before) < 40, $"photo redness {Redness(before):0.0}");
        Assert.Equal(0, Cv2.Norm(before, _photo.Frame, NormTypes.INF));
        // The crop is evidence, not annotation: no box in it.
        using Mat crop = SnapshotFiles.Decode(r.CropJpeg!);
        int cx = box.X - r.CropRect.X;
        double cropRedness = Enumerable.Range(box.Y + box.Height / 4 - r.CropRect.Y, box.Height / 2)
            .Select(y => crop.At<Vec3b>(y, cx)).Average(p => p.Item2 - Math.Max(p.Item0, p.Item1));
        Assert.True(cropRedness < 40, $"crop redness {cropRedness:0.0}");
    }

    [Theory]
    [InlineData(SnapshotBlurMethod.Pixelate)]
    [InlineData(SnapshotBlurMethod.Gaussian)]
    public void Render_BlurOthers_ViolatorPixelsUnchangedOtherFacesAnonymized(SnapshotBlurMethod method)
    {
        using var plain = new SnapshotRenderer(Options(SnapshotPrivacy.None));
        using var blurring = new SnapshotRenderer(Options(SnapshotPrivacy.BlurOthers, method));
        using Mat before = _photo.Frame.Clone();

        RenderedSnapshot a = plain.Render(_photo.Frame, _photo.Violator, _photo.Faces.AsSpan());
        RenderedSnapshot b = blurring.Render(_photo.Frame, _photo.Violator, _photo.Faces.AsSpan());

        Assert.Equal(2, b.BlurredFaces);
        Assert.True(b.Blurred);
        Assert.Equal(0, Cv2.Norm(before, _photo.Frame, NormTypes.INF));
        using Mat fa = SnapshotFiles.Decode(a.FrameJpeg!);
        using Mat fb = SnapshotFiles.Decode(b.FrameJpeg!);
        // Same pixels in, same JPEG blocks out: inside the violator's box the two snapshots agree.
        double violatorDiff = SnapshotFiles.MeanAbsDiff(fa, fb, SnapshotFiles.Inner(_photo.Violator, 8));
        Assert.True(violatorDiff < 0.5, $"violator changed by {violatorDiff:0.00}");
        foreach (BoxF other in _photo.Others)
        {
            double d = SnapshotFiles.MeanAbsDiff(fa, fb, SnapshotFiles.Inner(other, 4));
            Assert.True(d > 6, $"face {other} changed by only {d:0.00}");
            // Detail gone: neighbouring pixels mostly equal (flat blocks, or a blur wider than the features).
            Assert.True(Flatness(fb, other) > Flatness(fa, other) + 0.3, $"face {other} still detailed: flatness {Flatness(fb, other):0.000} vs {Flatness(fa, other):0.000}");
        }
        using Mat ca = SnapshotFiles.Decode(a.CropJpeg!);
        using Mat cb = SnapshotFiles.Decode(b.CropJpeg!);
        var inCrop = new BoxF(_photo.Violator.X1 - b.CropRect.X, _photo.Violator.Y1 - b.CropRect.Y,
            _photo.Violator.X2 - b.CropRect.X, _photo.Violator.Y2 - b.CropRect.Y);
        Assert.True(SnapshotFiles.MeanAbsDiff(ca, cb, SnapshotFiles.Inner(inCrop, 8)) < 0.5);
    }

    [Fact]
    public void Render_BlurAll_EveryFaceAnonymizedTheViolatorsToo()
    {
        using var plain = new SnapshotRenderer(Options(SnapshotPrivacy.None));
        using var blurring = new SnapshotRenderer(Options(SnapshotPrivacy.BlurAll));

        RenderedSnapshot a = plain.Render(_photo.Frame, _photo.Violator, _photo.Faces.AsSpan());
        RenderedSnapshot b = blurring.Render(_photo.Frame, _photo.Violator, _photo.Faces.AsSpan());

        Assert.Equal(3, b.BlurredFaces);
        using Mat fa = SnapshotFiles.Decode(a.FrameJpeg!);
        using Mat fb = SnapshotFiles.Decode(b.FrameJpeg!);
        foreach (BoxF face in _photo.Faces)
        {
            double d = SnapshotFiles.MeanAbsDiff(fa, fb, SnapshotFiles.Inner(face, 4));
            Assert.True(d > 6, $"face {face} changed by only {d:0.00}");
        }
    }

    [Fact]
    public void Render_BlurAllViolatorNotAmongTheFaces_ViolatorStillAnonymized()
    {
        using var plain = new SnapshotRenderer(Options(SnapshotPrivacy.None));
        using var blurring = new SnapshotRenderer(Options(SnapshotPrivacy.BlurAll));

        RenderedSnapshot a = plain.Render(_photo.Frame, _photo.Violator, ReadOnlySpan<BoxF>.Empty);
        RenderedSnapshot b = blurring.Render(_photo.Frame, _photo.Violator, ReadOnlySpan<BoxF>.Empty);

        Assert.Equal(1, b.BlurredFaces);
        using Mat ca = SnapshotFiles.Decode(a.CropJpeg!);
        using Mat cb = SnapshotFiles.Decode(b.CropJpeg!);
        var inCrop = new BoxF(_photo.Violator.X1 - b.CropRect.X, _photo.Violator.Y1 - b.CropRect.Y,
            _photo.Violator.X2 - b.CropRect.X, _photo.Violator.Y2 - b.CropRect.Y);
        Assert.True(SnapshotFiles.MeanAbsDiff(ca, cb, SnapshotFiles.Inner(inCrop, 4)) > 6);
    }

    [Fact]
    public void Render_BlurOthersWithOnlyTheViolator_NothingBlurred()
    {
        using var renderer = new SnapshotRenderer(Options(SnapshotPrivacy.BlurOthers));
        RenderedSnapshot r = renderer.Render(_photo.Frame, _photo.Violator, new[] { _photo.Violator }.AsSpan());
        Assert.Equal(0, r.BlurredFaces);
        Assert.False(r.Blurred);
    }

    [Fact]
    public void Render_FrameLargerThanThePublishLimit_PublishedJpegReencodedToFit()
    {
        using var big = new Mat();
        Cv2.Resize(_photo.Frame, big, new Size(1600, 1224), 0, 0, InterpolationFlags.Cubic);
        var scale = 4f;
        using var renderer = new SnapshotRenderer(Options(SnapshotPrivacy.None) with { JpegQuality = 100, MaxPublishBytes = 40_000 });

        RenderedSnapshot r = renderer.Render(big, _photo.Violator.Scale(scale), ReadOnlySpan<BoxF>.Empty);

        Assert.True(r.FrameJpeg!.Length > 40_000, $"stored frame {r.FrameJpeg.Length} bytes keeps full quality");
        Assert.NotNull(r.PublishJpeg);
        Assert.InRange(r.PublishJpeg!.Length, 1, 40_000);
        using Mat published = SnapshotFiles.Decode(r.PublishJpeg);
        Assert.True(published.Width <= 1600);
    }

    [Fact]
    public void Render_PublishCropOnlyStoreFrame_PublishesTheCropStoresNoCrop()
    {
        using var renderer = new SnapshotRenderer(Options(SnapshotPrivacy.None) with { Images = SnapshotImages.Frame, Publish = SnapshotPublishImage.Crop });
        RenderedSnapshot r = renderer.Render(_photo.Frame, _photo.Violator, _photo.Faces.AsSpan());
        Assert.Null(r.CropJpeg);
        Assert.NotNull(r.FrameJpeg);
        using Mat published = SnapshotFiles.Decode(r.PublishJpeg!);
        Assert.Equal((r.CropRect.Width, r.CropRect.Height), (published.Width, published.Height));
    }

    [Fact]
    public void Render_GreyFrame_ArgumentExceptionNamingTheType()
    {
        using var renderer = new SnapshotRenderer(Options(SnapshotPrivacy.None));
        using var grey = new Mat(100, 100, MatType.CV_8UC1, Scalar.All(128));
        var ex = Assert.Throws<ArgumentException>(() => renderer.Render(grey, new BoxF(10, 10, 50, 50), ReadOnlySpan<BoxF>.Empty));
        Assert.Contains("CV_8UC3", ex.Message);
    }

    /// <summary>Share of horizontally neighbouring pixels (grey) that differ by at most 2: pixelation makes faces flat.</summary>
    private static double Flatness(Mat image, BoxF face)
    {
        using var roi = new Mat(image, SnapshotFiles.Inner(face, 4));
        using var grey = new Mat();
        Cv2.CvtColor(roi, grey, ColorConversionCodes.BGR2GRAY);
        int flat = 0, total = 0;
        int rows = grey.Rows, cols = grey.Cols;
        for (int y = 0; y < rows; y++)
            for (int x = 1; x < cols; x++, total++)
                if (Math.Abs(grey.At<byte>(y, x) - grey.At<byte>(y, x - 1)) <= 2) flat++;
        return (double)flat / total;
    }
}
