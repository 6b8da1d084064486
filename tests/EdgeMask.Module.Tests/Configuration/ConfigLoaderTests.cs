using EdgeMask.Module.Configuration;

namespace EdgeMask.Module.Tests.Configuration;

public class ConfigLoaderTests
{
    [Fact]
    public void Parse_Empty_AllDefaultsValid()
    {
        var o = ConfigLoader.Parse("{}", "test");
        Assert.Equal("edgemask", o.Device);
        Assert.Equal(1883, o.Mqtt.Port);
        Assert.True(o.Classifier.Enabled);
    }

    [Fact]
    public void Parse_FullDocument_Bound()
    {
        var o = ConfigLoader.Parse("""
        {
          // comments are allowed
          "device": "station-7",
          "cameras": { "gate": { "source": "rtsp://10.0.0.5/stream", "detectEveryNthFrame": 2 } },
          "detector": { "scoreThreshold": 0.6, "scale": 2 },
          "violation": { "windowFrames": 10, "startUnmaskedFrames": 6, "cooldown": "00:00:30",
                         "zones": [ { "name": "door", "points": [ {"x":0,"y":0}, {"x":1,"y":0}, {"x":1,"y":1} ] } ] },
          "mqtt": { "host": "broker.local", "port": 8883, "tls": false },
          "outbox": { "path": "/data/outbox.db", "maxMessages": 5000 },
          "stats": { "interval": "00:00:05" }
        }
        """, "test");
        Assert.Equal("station-7", o.Device);
        Assert.Equal("rtsp://10.0.0.5/stream", o.Cameras["gate"].Source);
        Assert.Equal(2, o.Cameras["gate"].DetectEveryNthFrame);
        Assert.Equal(0.6f, o.Detector.ScoreThreshold);
        Assert.Equal(TimeSpan.FromSeconds(30), o.Violation.Cooldown);
        Assert.Single(o.Violation.Zones);
        Assert.Equal("broker.local", o.Mqtt.Host);
        Assert.Equal(5000, o.Outbox.MaxMessages);
        Assert.Equal(TimeSpan.FromSeconds(5), o.Stats.Interval);
    }

    [Fact]
    public void Parse_IgnoreZonesAndStationary_BoundAndACameraTakesItsOwn()
    {
        var o = ConfigLoader.Parse("""
        {
          "cameras": {
            "gate": { "source": "rtsp://10.0.0.5/stream",
                      "ignoreZones": [ { "name": "poster", "points": [ {"x":0.6,"y":0.2}, {"x":0.8,"y":0.2}, {"x":0.8,"y":0.5}, {"x":0.6,"y":0.5} ] } ] },
            "hall": { "source": "rtsp://10.0.0.6/stream" }
          },
          "violation": { "stationary": { "after": "00:02:00", "tolerance": 0.1, "forgetAfter": "01:00:00" } }
        }
        """, "test");

        Assert.Equal(TimeSpan.FromMinutes(2), o.Violation.Stationary.After);
        Assert.Equal(0.1f, o.Violation.Stationary.Tolerance);
        Assert.Equal(TimeSpan.FromHours(1), o.Violation.Stationary.ForgetAfter);
        Assert.True(o.Violation.Stationary.Enabled);
        var gate = EdgeMask.Module.Hosting.CameraSupervisor.SettingsFor(o, "gate", o.Cameras["gate"], 1).Violation;
        var hall = EdgeMask.Module.Hosting.CameraSupervisor.SettingsFor(o, "hall", o.Cameras["hall"], 1).Violation;
        Assert.Equal("poster", Assert.Single(gate.IgnoreZones).Name);
        Assert.Equal(new EdgeMask.Core.Geometry.PointF2(0.8f, 0.5f), gate.IgnoreZones[0].Points[2]);
        Assert.Same(o.Violation.Stationary, gate.Stationary);
        Assert.Empty(hall.IgnoreZones);
    }

    [Theory]
    [InlineData("""{"detectr": {}}""", "detectr")]
    [InlineData("""{"detector": {"scoreTreshold": 0.5}}""", "detector:scoreTreshold")]
    [InlineData("""{"cameras": {"a": {"source": "x.mp4", "framerate": 3}}}""", "cameras:a:framerate")]
    [InlineData("""{"capture": {"stalTimeout": "00:00:05"}}""", "capture:stalTimeout")]
    [InlineData("""{"capture": {"realtime": true}}""", "capture:realtime")]
    public void Parse_UnknownKey_ErrorNamesTheKey(string json, string key)
    {
        var ex = Assert.Throws<ConfigurationException>(() => ConfigLoader.Parse(json, "cfg.json"));
        Assert.Equal(key, ex.Key);
        Assert.Contains($"unknown key '{key}'", ex.Message);
        Assert.Contains("cfg.json", ex.Message);
    }

    [Theory]
    [InlineData("""{"detector": {"scoreThreshold": "high"}}""", "detector:scoreThreshold")]
    [InlineData("""{"mqtt": {"port": true}}""", "mqtt:port")]
    [InlineData("""{"violation": {"incorrectCounts": "sometimes"}}""", "violation:incorrectCounts")]
    public void Parse_WrongType_ErrorNamesTheKey(string json, string key)
    {
        var ex = Assert.Throws<ConfigurationException>(() => ConfigLoader.Parse(json, "cfg.json"));
        Assert.Equal(key, ex.Key);
        Assert.Contains("bad value", ex.Message);
    }

    [Theory]
    [InlineData("""{"mqtt": {"port": 70000}}""", "mqtt:port")]
    [InlineData("""{"device": "a/b"}""", "device")]
    [InlineData("""{"cameras": {"gate": {"source": ""}}}""", "cameras:gate:source")]
    [InlineData("""{"tracking": {"confirmHits": 0}}""", "tracking:ConfirmHits")]
    [InlineData("""{"violation": {"windowFrames": 4, "startUnmaskedFrames": 5}}""", "violation:StartUnmaskedFrames")]
    [InlineData("""{"stats": {"interval": "00:00:00.1"}}""", "stats:interval")]
    [InlineData("""{"violation": {"stationary": {"tolerance": 0}}}""", "violation:Stationary:Tolerance")]
    [InlineData("""{"violation": {"ignoreZones": [{"points": [{"x":0,"y":0},{"x":2,"y":0},{"x":0,"y":1}]}]}}""", "violation:IgnoreZones:0:Points:1")]
    [InlineData("""{"cameras": {"gate": {"source": "x.mp4", "ignoreZones": [{"points": [{"x":0,"y":0}]}]}}}""", "cameras:gate:IgnoreZones:0:Points")]
    [InlineData("""{"contract": {"version": 3}}""", "contract:version")]
    [InlineData("""{"inference": {"executionProvider": "opencl"}}""", "inference:executionProvider")]
    [InlineData("""{"sources": {"rtspTransport": "quic"}}""", "sources:rtspTransport")]
    [InlineData("""{"sources": {"width": 640}}""", "sources:height")]
    [InlineData("""{"sources": {"openTimeout": "00:00:00.2"}}""", "sources:openTimeout")]
    [InlineData("""{"capture": {"stallTimeout": "00:00:00.1"}}""", "capture:stallTimeout")]
    [InlineData("""{"capture": {"initialBackoff": "00:00:05", "maxBackoff": "00:00:02"}}""", "capture:maxBackoff")]
    [InlineData("""{"capture": {"channelCapacity": 0}}""", "capture:channelCapacity")]
    [InlineData("""{"cameras": {"gate": {"source": "rtsp://cam/1", "width": 8}}}""", "cameras:gate:width")]
    [InlineData("""{"cameras": {"gate": {"source": "rtsp://cam/1", "height": 480}}}""", "cameras:gate:width")]
    public void Parse_OutOfRange_ErrorNamesTheKey(string json, string key)
    {
        var ex = Assert.Throws<ConfigurationException>(() => ConfigLoader.Parse(json, "cfg.json"));
        Assert.Equal(key, ex.Key);
    }

    [Fact]
    public void Parse_SourcesAndCapture_ReachEachCamerasOptions()
    {
        var o = ConfigLoader.Parse("""
            {
              "sources": { "rtspTransport": "udp", "width": 1280, "height": 720, "openTimeout": "00:00:45", "ffmpegPath": "/opt/ffmpeg/bin/ffmpeg" },
              "capture": { "channelCapacity": 4, "stallTimeout": "00:00:03", "initialBackoff": "00:00:00.5", "maxBackoff": "00:01:00", "maxReconnectAttempts": 7 },
              "cameras": {
                "door": { "source": "rtsp://cam/door", "width": 640, "height": 360, "fps": 12.5 },
                "demo": { "source": "clip.mp4", "realtime": true, "loop": true }
              }
            }
            """, "cfg.json");

        var door = o.Cameras["door"].SourceOptionsFrom(o.Sources);
        Assert.Equal((640, 360, 12.5), (door.Width, door.Height, door.Fps));
        Assert.Equal(("udp", TimeSpan.FromSeconds(45), "/opt/ffmpeg/bin/ffmpeg"), (door.RtspTransport, door.OpenTimeout, door.FfmpegPath));
        var demoSource = o.Cameras["demo"].SourceOptionsFrom(o.Sources);
        Assert.Equal((1280, 720), (demoSource.Width, demoSource.Height));

        var demo = o.Capture.ToCaptureOptions(o.Cameras["demo"]);
        Assert.Equal((4, TimeSpan.FromSeconds(3), TimeSpan.FromMilliseconds(500), TimeSpan.FromMinutes(1), 7),
            (demo.ChannelCapacity, demo.StallTimeout, demo.InitialBackoff, demo.MaxBackoff, demo.MaxReconnectAttempts));
        Assert.True(demo.Realtime && demo.Loop && !demo.WaitForConsumerOnFiles);
        var doorCapture = o.Capture.ToCaptureOptions(o.Cameras["door"]);
        Assert.True(!doorCapture.Realtime && !doorCapture.Loop && doorCapture.WaitForConsumerOnFiles);
    }

    [Fact]
    public void Parse_IncorrectCountsAndContractVersion_Bound()
    {
        var o = ConfigLoader.Parse("""{"violation": {"incorrectCounts": "separate"}, "contract": {"version": 1}}""", "test");
        Assert.Equal(EdgeMask.Core.Policy.IncorrectMaskCounting.Separate, o.Violation.IncorrectCounts);
        Assert.Equal(1, o.Contract.Version);
        var defaults = ConfigLoader.Parse("{}", "test");
        Assert.Equal(EdgeMask.Core.Policy.IncorrectMaskCounting.Violation, defaults.Violation.IncorrectCounts);
        Assert.Equal(2, defaults.Contract.Version);
    }

    [Fact]
    public void Serialize_Defaults_RoundTrip()
    {
        var defaults = new EdgeMaskOptions();
        var again = ConfigLoader.Parse(ConfigLoader.Serialize(defaults), "roundtrip");
        Assert.Equal(ConfigLoader.Serialize(defaults), ConfigLoader.Serialize(again));
    }

    [Fact]
    public void Load_MissingFile_SaysSo()
    {
        var ex = Assert.Throws<ConfigurationException>(() => ConfigLoader.Load("/no/such/edgemask.json"));
        Assert.Contains("does not exist", ex.Message);
    }
}
