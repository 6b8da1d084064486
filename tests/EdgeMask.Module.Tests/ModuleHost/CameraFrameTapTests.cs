using EdgeMask.Core.Geometry;
using EdgeMask.Module.Hosting;
using EdgeMask.Module.Snapshots;
using EdgeMask.Module.Tests.Snapshots;

namespace EdgeMask.Module.Tests.ModuleHost;

/// <summary>
/// The frames kept for <c>captureSnapshot</c> leave the device like violation snapshots, so they follow
/// <c>snapshots.privacy</c>: the faces of the frame are anonymized before the JPEG is made.
/// </summary>
public sealed class CameraFrameTapTests : IDisposable
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);
    private readonly VocPhoto _photo = new();

    public void Dispose() => _photo.Dispose();

    private FrameJpeg Keep(SnapshotPrivacy privacy)
    {
        using var tap = new CameraFrameTap(new ManualTimeProvider(T0), new SnapshotOptions { Privacy = privacy });
        tap.Offer(_photo.Frame, T0, _photo.Faces.AsSpan());
        return Kept(tap);
    }

    /// <summary>The frame is copied and encoded on the thread pool, never on the camera thread: wait for it.</summary>
    private static FrameJpeg Kept(CameraFrameTap tap)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (tap.Last is null && DateTime.UtcNow < deadline) Thread.Sleep(5);
        return tap.Last ?? throw new InvalidOperationException("the first frame offered is always kept");
    }

    [Theory]
    [InlineData(SnapshotPrivacy.BlurOthers)]   // with no violator, "others" is every face
    [InlineData(SnapshotPrivacy.BlurAll)]
    public void Offer_PrivacyOn_EveryFaceAnonymizedRestOfTheFrameKept(SnapshotPrivacy privacy)
    {
        FrameJpeg kept = Keep(privacy);
        FrameJpeg plain = Keep(SnapshotPrivacy.None);

        Assert.Equal(privacy, kept.Privacy);
        Assert.Equal(_photo.Faces.Length, kept.BlurredFaces);
        Assert.Equal((_photo.Frame.Width, _photo.Frame.Height), (kept.Width, kept.Height));
        using var blurred = SnapshotFiles.Decode(kept.Jpeg);
        using var original = SnapshotFiles.Decode(plain.Jpeg);
        foreach (BoxF face in _photo.Faces)
            Assert.True(SnapshotFiles.MeanAbsDiff(blurred, original, SnapshotFiles.Inner(face, 4)) > 6, $"face {face} not anonymized");
        // A corner far from every face is the same picture (JPEG noise only).
        Assert.True(SnapshotFiles.MeanAbsDiff(blurred, original, new OpenCvSharp.Rect(0, 0, 24, 24)) < 3);
    }

    [Fact]
    public void Offer_PrivacyNone_FrameAsCaptured()
    {
        FrameJpeg plain = Keep(SnapshotPrivacy.None);
        Assert.Equal(SnapshotPrivacy.None, plain.Privacy);
        Assert.Equal(0, plain.BlurredFaces);
        using var decoded = SnapshotFiles.Decode(plain.Jpeg);
        foreach (BoxF face in _photo.Faces)
            Assert.True(SnapshotFiles.MeanAbsDiff(decoded, _photo.Frame, SnapshotFiles.Inner(face, 4)) < 4, $"face {face} changed");
    }

    [Fact]
    public async Task NextAsync_WaitsForTheNextOfferedFrame_NotEncodedOtherwiseUntilTheRefreshInterval()
    {
        var time = new ManualTimeProvider(T0);
        using var tap = new CameraFrameTap(time);
        tap.Offer(_photo.Frame, T0, ReadOnlySpan<BoxF>.Empty);
        FrameJpeg first = Kept(tap);
        tap.Offer(_photo.Frame, T0.AddSeconds(1), ReadOnlySpan<BoxF>.Empty);
        Assert.Same(first, tap.Last);                                   // not due: nothing encoded

        var next = tap.NextAsync(TimeSpan.FromSeconds(5), CancellationToken.None);
        tap.Offer(_photo.Frame, T0.AddSeconds(2), _photo.Faces.AsSpan());
        FrameJpeg? answered = await next;
        Assert.NotNull(answered);
        Assert.Equal(T0.AddSeconds(2), answered.CapturedAt);
        Assert.Same(answered, tap.Last);
        Assert.Equal(_photo.Faces.Length, answered.BlurredFaces);     // default privacy: BlurOthers
    }
}
