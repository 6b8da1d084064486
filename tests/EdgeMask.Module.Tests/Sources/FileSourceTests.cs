using System.Diagnostics;
using EdgeMask.Module.Sources;
using EdgeMask.Tests.Shared;
using OpenCvSharp;

namespace EdgeMask.Module.Tests.Sources;

public class FileSourceTests
{
    [Fact]
    public void VideoCaptureSource_SampleVideo_BgrFramesAtFileRateWithPositions()
    {
        using var source = VideoCaptureSource.ForFile(SourceFixtures.SampleVideo);
        source.Open(CancellationToken.None);
        Assert.False(source.IsLive);
        Assert.Equal(15, source.NominalFps, 3);
        using var mat = new Mat();
        var positions = new List<TimeSpan>();
        for (int i = 0; i < 30; i++)
        {
            Assert.Equal(FrameReadStatus.Frame, source.Read(mat, out var position));
            Assert.Equal(MatType.CV_8UC3, mat.Type());
            Assert.Equal((960, 540), (mat.Width, mat.Height));
            Assert.True(mat.IsContinuous());
            positions.Add(Assert.NotNull(position));
        }
        // Frame i is shown at i/15 s (OpenCV reports the position after the frame it returned).
        Assert.InRange(positions[^1].TotalSeconds - positions[0].TotalSeconds, 29 / 15.0 - 0.01, 29 / 15.0 + 0.01);
        Assert.Equal(0, source.SkippedFrames);
    }

    [Fact]
    public void VideoCaptureSource_RepeatedReads_FillTheSameBufferWithoutAllocating()
    {
        using var source = VideoCaptureSource.ForFile(SourceFixtures.SampleVideo);
        source.Open(CancellationToken.None);
        using var mat = new Mat();
        for (int i = 0; i < 3; i++) Assert.Equal(FrameReadStatus.Frame, source.Read(mat, out _));
        nint buffer = mat.Data;
        bool allRead = true, sameBuffer = true;
        // No assertion inside the measured loop: xunit's comparers allocate.
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10; i++)
        {
            allRead &= source.Read(mat, out _) == FrameReadStatus.Frame;
            sameBuffer &= mat.Data == buffer;
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allRead);
        Assert.True(sameBuffer);
        // TimeSpan? positions are structs: nothing per frame on the managed heap either.
        Assert.Equal(0, allocated);
    }

    [Fact]
    public void PipeFrameSource_FfmpegOnSample_SamePicturesAsOpenCv()
    {
        using var pipe = FrameSourceFactory.Create("ffmpeg:" + SourceFixtures.SampleVideo);
        using var cv = VideoCaptureSource.ForFile(SourceFixtures.SampleVideo);
        pipe.Open(CancellationToken.None);
        cv.Open(CancellationToken.None);
        Assert.False(pipe.IsLive);
        Assert.Equal(15, pipe.NominalFps, 3);
        using var a = new Mat();
        using var b = new Mat();
        for (int i = 0; i < 5; i++)
        {
            Assert.Equal(FrameReadStatus.Frame, pipe.Read(a, out _));
            Assert.Equal(FrameReadStatus.Frame, cv.Read(b, out _));
            Assert.Equal(b.Size(), a.Size());
            Assert.Equal(MatType.CV_8UC3, a.Type());
            using var diff = new Mat();
            Cv2.Absdiff(a, b, diff);
            var mean = Cv2.Mean(diff);
            // Same decoder; only the YUV→BGR conversion differs (swscale vs OpenCV), by a few levels at most.
            Assert.True(mean.Val0 < 4 && mean.Val1 < 4 && mean.Val2 < 4, $"frame {i}: mean difference {mean.Val0:0.00},{mean.Val1:0.00},{mean.Val2:0.00}");
        }
    }

    [Fact]
    public void PipeFrameSource_ConfiguredSize_FfmpegScalesAndBufferIsReused()
    {
        using var pipe = (PipeFrameSource)FrameSourceFactory.Create("ffmpeg:" + SourceFixtures.SampleVideo, new FrameSourceOptions { Width = 480, Height = 270 });
        pipe.Open(CancellationToken.None);
        Assert.Equal((480, 270), pipe.FrameSize);
        using var mat = new Mat();
        for (int i = 0; i < 3; i++) Assert.Equal(FrameReadStatus.Frame, pipe.Read(mat, out _));
        nint buffer = mat.Data;
        bool allRead = true, sameBuffer = true;
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10; i++)
        {
            allRead &= pipe.Read(mat, out _) == FrameReadStatus.Frame;
            sameBuffer &= mat.Data == buffer;
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allRead);
        Assert.True(sameBuffer);
        Assert.Equal(0, allocated);
        Assert.Equal((480, 270), (mat.Width, mat.Height));
    }

    [Fact]
    public void PipeFrameSource_Dispose_KillsFfmpeg()
    {
        var pipe = (PipeFrameSource)FrameSourceFactory.Create("ffmpeg:" + SourceFixtures.SampleVideo);
        pipe.Open(CancellationToken.None);
        int pid = Assert.NotNull(pipe.ProcessId);
        using var ffmpeg = Process.GetProcessById(pid);
        pipe.Dispose();
        Assert.True(ffmpeg.WaitForExit(10_000), "ffmpeg still runs after Dispose");
        Assert.Null(pipe.ProcessId);
    }

    [Fact]
    public void ImageFolderSource_Folder_NameOrderUnreadableSkippedThenEnd()
    {
        var dir = SourceFixtures.ImageFolder(TestPaths.NewTempDirectory(), 4);
        using var source = new ImageFolderSource(dir);
        source.Open(CancellationToken.None);
        Assert.Equal(["frame-000.jpg", "frame-001.jpg", "frame-001b.jpg", "frame-002.jpg", "frame-003.jpg"], source.Files.Select(Path.GetFileName));
        using var mat = new Mat();
        string[] expected = ["frame-000.jpg", "frame-001.jpg", "frame-002.jpg", "frame-003.jpg"];
        foreach (var name in expected)
        {
            Assert.Equal(FrameReadStatus.Frame, source.Read(mat, out var position));
            Assert.Null(position);
            using var want = Cv2.ImRead(Path.Combine(dir, name));
            using var diff = new Mat();
            Cv2.Absdiff(mat, want, diff);
            Assert.Equal(0, Cv2.CountNonZero(diff.Reshape(1)));
        }
        Assert.Equal(FrameReadStatus.EndOfStream, source.Read(mat, out _));
        Assert.Equal(1, source.SkippedFrames);
    }
}
