using EdgeMask.Core.Tracking;
using EdgeMask.Module.Sources;
using EdgeMask.Tests.Shared;

namespace EdgeMask.Module.Tests.Sources;

public class FrameSourceSpecTests
{
    [Theory]
    [InlineData("rtsp://cam.local:554/stream1", FrameSourceKind.Ffmpeg, "rtsp://cam.local:554/stream1")]
    [InlineData("rtsps://user:pw@cam/s", FrameSourceKind.Ffmpeg, "rtsps://user:pw@cam/s")]
    [InlineData("http://127.0.0.1:8080/live.ts", FrameSourceKind.Ffmpeg, "http://127.0.0.1:8080/live.ts")]
    [InlineData("https://example.org/a.m3u8", FrameSourceKind.Ffmpeg, "https://example.org/a.m3u8")]
    [InlineData("udp://239.0.0.1:1234", FrameSourceKind.Ffmpeg, "udp://239.0.0.1:1234")]
    [InlineData("ffmpeg:/videos/a.mkv", FrameSourceKind.Ffmpeg, "/videos/a.mkv")]
    [InlineData("/dev/video0", FrameSourceKind.Device, "/dev/video0")]
    [InlineData("2", FrameSourceKind.Device, "2")]
    [InlineData("gst:rtspsrc location=rtsp://cam/s ! decodebin", FrameSourceKind.GStreamer, "rtspsrc location=rtsp://cam/s ! decodebin")]
    [InlineData("gstreamer: videotestsrc ", FrameSourceKind.GStreamer, "videotestsrc")]
    [InlineData("clips/in.mp4", FrameSourceKind.File, "clips/in.mp4")]
    [InlineData("file:clips/in.mp4", FrameSourceKind.File, "clips/in.mp4")]
    [InlineData("file:///tmp/in.mp4", FrameSourceKind.File, "/tmp/in.mp4")]
    public void Parse_SourceString_SelectsReader(string source, FrameSourceKind kind, string target)
    {
        var spec = FrameSourceSpec.Parse(source);
        Assert.Equal(kind, spec.Kind);
        Assert.Equal(target, spec.Target);
    }

    [Fact]
    public void Parse_ExistingFolder_ImageFolder()
    {
        var dir = TestPaths.NewTempDirectory();
        Assert.Equal(new FrameSourceSpec(FrameSourceKind.ImageFolder, dir), FrameSourceSpec.Parse(dir));
    }

    [Theory]
    [InlineData("")]
    [InlineData("  ")]
    [InlineData("gst:")]
    public void Parse_Empty_ArgumentException(string source) =>
        Assert.Throws<ArgumentException>(() => FrameSourceSpec.Parse(source));

    [Fact]
    public void Create_EachKind_RightSourceType()
    {
        var opts = new FrameSourceOptions { Width = 640, Height = 360 };
        using var a = FrameSourceFactory.Create("rtsp://cam/s", opts);
        using var b = FrameSourceFactory.Create(SourceFixtures.SampleVideo, opts);
        using var c = FrameSourceFactory.Create("/dev/video0", opts);
        using var d = FrameSourceFactory.Create("gst:videotestsrc", opts);
        Assert.IsType<PipeFrameSource>(a);
        Assert.True(a.IsLive);
        Assert.IsType<VideoCaptureSource>(b);
        Assert.False(b.IsLive);
        Assert.IsType<VideoCaptureSource>(c);
        Assert.True(c.IsLive);
        Assert.IsType<PipeFrameSource>(d);
    }

    [Fact]
    public void Redact_UrlWithPassword_PasswordHidden()
    {
        using var source = FrameSourceFactory.Create("rtsp://admin:s3cret@10.0.0.7:554/h264");
        Assert.Equal("rtsp://admin:***@10.0.0.7:554/h264", source.Description);
        Assert.DoesNotContain("s3cret", source.Description);
    }

    [Fact]
    public void FfmpegArguments_RtspWithSize_TcpTransportScaleRawBgrToStdout()
    {
        var args = PipeFrameSource.FfmpegArguments("rtsp://cam/s", new FrameSourceOptions { Width = 640, Height = 360 });
        string line = string.Join(' ', args);
        Assert.StartsWith("-nostdin", line);
        Assert.Contains("-rtsp_transport tcp -i rtsp://cam/s", line);
        Assert.Contains("-vf scale=640:360", line);
        Assert.EndsWith("-f rawvideo -pix_fmt bgr24 pipe:1", line);
        Assert.DoesNotContain("-rtsp_transport", string.Join(' ', PipeFrameSource.FfmpegArguments("http://h/x.ts", new FrameSourceOptions())));
    }

    [Fact]
    public void GStreamerArguments_JetsonPipeline_QuietBgrAtSizeToStdout()
    {
        const string jetson = "rtspsrc location=rtsp://cam/s latency=200 ! rtph264depay ! h264parse ! nvv4l2decoder ! nvvidconv ! video/x-raw,format=BGRx ! videoconvert ! video/x-raw,format=BGR";
        var args = PipeFrameSource.GStreamerArguments(jetson, 1280, 720);
        Assert.Equal("-q", args[0]);
        Assert.Equal(2, args.Count);
        Assert.StartsWith(jetson, args[1]);
        Assert.EndsWith("video/x-raw,format=BGR,width=1280,height=720 ! fdsink fd=1 sync=false", args[1]);
    }

    [Fact]
    public void ForGStreamer_NoSize_InvalidOptionNamingWidth()
    {
        var ex = Assert.Throws<InvalidOptionException>(() => PipeFrameSource.ForGStreamer("videotestsrc"));
        Assert.Equal("sources:width", ex.Key);
    }

    [Theory]
    [InlineData("rtspTransport")]
    [InlineData("width")]
    [InlineData("height")]
    [InlineData("imageFolderFps")]
    [InlineData("openTimeout")]
    public void FrameSourceOptions_BadValue_ErrorNamesKey(string key)
    {
        var bad = key switch
        {
            "rtspTransport" => new FrameSourceOptions { RtspTransport = "quic" },
            "width" => new FrameSourceOptions { Width = 4, Height = 100 },
            "height" => new FrameSourceOptions { Width = 100 },
            "imageFolderFps" => new FrameSourceOptions { ImageFolderFps = 0 },
            _ => new FrameSourceOptions { OpenTimeout = TimeSpan.Zero },
        };
        var ex = Assert.Throws<InvalidOptionException>(() => bad.Validate());
        Assert.Equal($"sources:{key}", ex.Key);
    }

    [Theory]
    [InlineData("channelCapacity")]
    [InlineData("stallTimeout")]
    [InlineData("maxBackoff")]
    [InlineData("maxReconnectAttempts")]
    public void CameraCaptureOptions_BadValue_ErrorNamesKey(string key)
    {
        var bad = key switch
        {
            "channelCapacity" => new CameraCaptureOptions { ChannelCapacity = 0 },
            "stallTimeout" => new CameraCaptureOptions { StallTimeout = TimeSpan.FromMilliseconds(10) },
            "maxBackoff" => new CameraCaptureOptions { InitialBackoff = TimeSpan.FromSeconds(5), MaxBackoff = TimeSpan.FromSeconds(1) },
            _ => new CameraCaptureOptions { MaxReconnectAttempts = 0 },
        };
        var ex = Assert.Throws<InvalidOptionException>(() => new CameraCapture("cam", new ImageFolderSource("/nowhere"), bad));
        Assert.Equal($"capture:{key}", ex.Key);
    }
}
