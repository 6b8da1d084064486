using System.Diagnostics;
using System.Globalization;
using EdgeMask.Alarm.Announcements;
using EdgeMask.Alarm.Engine;
using EdgeMask.Core.Events;
using static EdgeMask.Alarm.Tests.AlarmFixture;

namespace EdgeMask.Alarm.Tests;

/// <summary>The spoken announcement: real espeak-ng rendering, a file-sink player on the fake clock.</summary>
public sealed class AnnouncementTests : IDisposable
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(60);
    private readonly string _dir = Directory.CreateTempSubdirectory("edgemask-alarm-tests-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Cache => Path.Combine(_dir, "cache");

    private AlarmOptions Announcing(TimeSpan minInterval, QuietHoursOptions? quiet = null) =>
        With(Light("light", 5), Light("amp", 6) with { Kind = AlarmOutputKind.Sound }) with
        {
            // The amplifier is not driven by violations, only held on while the announcement plays.
            Cameras = [new CameraMapping { Camera = "door", Outputs = ["light"], Announce = true }],
            Announcement = new AnnouncementOptions
            {
                Enabled = true,
                Text = "Please wear a mask.",
                CacheDirectory = Cache,
                MinInterval = minInterval,
                EnableOutputs = ["amp"],
            },
            QuietHours = quiet ?? new QuietHoursOptions(),
        };

    [Fact]
    public async Task PrepareAnnouncementAsync_Text_RendersOnceWithEspeakAndHasSound()
    {
        var f = new AlarmFixture();
        using var alarm = new LocalAlarm(Announcing(TimeSpan.Zero), f.Chips, new FileSinkAudioPlayer(Path.Combine(_dir, "sink"), f.Time), f.Time);

        string? wav = await alarm.PrepareAnnouncementAsync();
        Assert.NotNull(wav);
        var written = File.GetLastWriteTimeUtc(wav);
        string? again = await alarm.PrepareAnnouncementAsync();

        Assert.Equal(wav, again);
        Assert.Equal(written, File.GetLastWriteTimeUtc(wav));
        Assert.StartsWith(Cache, wav);
        // Both announcements are rendered at start (no mask, and a mask worn incorrectly), each once.
        Assert.Equal(2, Directory.GetFiles(Cache).Length);
        var info = WavInfo.Read(wav);
        Assert.InRange(info.Duration, TimeSpan.FromSeconds(0.5), TimeSpan.FromSeconds(5));
        Assert.True(SoxRms(wav) > 0.01, "the rendered announcement is silent");
        Assert.True(PcmRms(wav) > 0.01, "the rendered announcement is silent (own PCM reading)");
    }

    [Fact]
    public async Task Handle_ViolationWhileAnnouncementPlays_SecondDroppedAndNeverOverlapped()
    {
        var f = new AlarmFixture();
        var sink = new FileSinkAudioPlayer(Path.Combine(_dir, "sink"), f.Time);
        using var alarm = new LocalAlarm(Announcing(TimeSpan.Zero), f.Chips, sink, f.Time);
        f.OpenWrites = f.Chip0.Changes.Count;
        var t0 = f.Time.GetUtcNow();

        var first = NextPlayStarted(sink);
        alarm.Handle(Begin("v1"));
        await first.WaitAsync(Generous);
        alarm.Handle(Begin("v2")); // while v1's announcement plays
        var duringFirst = alarm.Snapshot();
        var firstPlaying = alarm.CurrentAnnouncement;
        var length = WavInfo.Read(sink.Plays[0].File).Duration;
        f.Advance(alarm, length + TimeSpan.FromMilliseconds(1));
        await firstPlaying.WaitAsync(Generous);

        var second = NextPlayStarted(sink);
        alarm.Handle(Begin("v3"));
        await second.WaitAsync(Generous);
        var secondPlaying = alarm.CurrentAnnouncement;
        f.Advance(alarm, length + TimeSpan.FromMilliseconds(1));
        await secondPlaying.WaitAsync(Generous);

        Assert.True(duringFirst.Announcement!.Playing);
        Assert.True(duringFirst.Lines[1].On);
        Assert.Equal(AlarmOutputReason.Announcement, duringFirst.Lines[1].Reason);
        var plays = sink.Plays;
        Assert.Equal(2, plays.Count);
        Assert.Equal(1, sink.MaxConcurrent);
        Assert.True(plays[0].EndedAt <= plays[1].StartedAt, "the second play started before the first ended");
        var end = alarm.Snapshot().Announcement!;
        Assert.Equal((2, 1, false), (end.Played, end.DroppedBusy, end.Playing));
        foreach (var play in plays)
        {
            Assert.True(SoxRms(play.File) > 0.01, $"{play.File} is silent");
            Assert.Equal(File.ReadAllBytes(end.Wav), File.ReadAllBytes(play.File));
        }
        // The amplifier enable line is on exactly while each announcement plays.
        var ampChanges = f.ChangesAfterStart().Where(w => w.Line == 6).ToArray();
        var firstEnd = t0 + length + TimeSpan.FromMilliseconds(1);
        Assert.Equal([new(t0, 6, true), new(firstEnd, 6, false), new(firstEnd, 6, true), new(firstEnd + length + TimeSpan.FromMilliseconds(1), 6, false)], ampChanges);
    }

    [Fact]
    public async Task Handle_NewViolationWithinMinInterval_DroppedByInterval()
    {
        var f = new AlarmFixture();
        var sink = new FileSinkAudioPlayer(Path.Combine(_dir, "sink"), f.Time, takeRealDuration: false);
        using var alarm = new LocalAlarm(Announcing(TimeSpan.FromSeconds(30)), f.Chips, sink, f.Time);

        alarm.Handle(Begin("v1"));
        await alarm.CurrentAnnouncement.WaitAsync(Generous);
        f.Advance(alarm, TimeSpan.FromSeconds(10));
        alarm.Handle(Begin("v2"));
        await alarm.CurrentAnnouncement.WaitAsync(Generous);
        f.Advance(alarm, TimeSpan.FromSeconds(25));
        alarm.Handle(Begin("v3"));
        await alarm.CurrentAnnouncement.WaitAsync(Generous);

        Assert.Equal(2, sink.Plays.Count);
        Assert.Equal(1, alarm.Snapshot().Announcement!.DroppedInterval);
    }

    [Fact]
    public async Task Handle_ClockSetBackAnHour_NextViolationAfterMinIntervalAnnounced()
    {
        var f = new AlarmFixture();
        var clock = new SettableWallClock(f.Time);
        var sink = new FileSinkAudioPlayer(Path.Combine(_dir, "sink"), f.Time, takeRealDuration: false);
        using var alarm = new LocalAlarm(Announcing(TimeSpan.FromSeconds(30)), f.Chips, sink, clock);

        alarm.Handle(Begin("v1"));
        await alarm.CurrentAnnouncement.WaitAsync(Generous);
        f.Time.Advance(TimeSpan.FromSeconds(1));
        clock.Offset = TimeSpan.FromHours(-1);
        f.Time.Advance(TimeSpan.FromSeconds(30));
        alarm.Handle(Begin("v2"));
        await alarm.CurrentAnnouncement.WaitAsync(Generous);

        // Before: the interval measured on the wall clock, so nothing was announced for the hour the clock went back.
        Assert.Equal(2, sink.Plays.Count);
        Assert.Equal(0, alarm.Snapshot().Announcement!.DroppedInterval);
    }

    [Fact]
    public async Task Handle_ViolationInQuietHours_NotAnnounced()
    {
        var f = new AlarmFixture(new DateTimeOffset(2026, 3, 2, 23, 0, 0, TimeSpan.Zero));
        var sink = new FileSinkAudioPlayer(Path.Combine(_dir, "sink"), f.Time, takeRealDuration: false);
        var quiet = new QuietHoursOptions { Ranges = [new QuietHoursRange { Start = new TimeOnly(22, 0), End = new TimeOnly(6, 0), CrossesMidnight = true }] };
        using var alarm = new LocalAlarm(Announcing(TimeSpan.Zero, quiet), f.Chips, sink, f.Time);

        alarm.Handle(Begin("v1"));
        await alarm.CurrentAnnouncement.WaitAsync(Generous);

        Assert.Empty(sink.Plays);
        Assert.Equal(1, alarm.Snapshot().Announcement!.DroppedQuiet);
        Assert.True(alarm.Snapshot().Lines[0].On);
    }

    [Fact]
    public async Task TestAsync_WithAnnouncement_PlaysOnce()
    {
        var f = new AlarmFixture();
        var sink = new FileSinkAudioPlayer(Path.Combine(_dir, "sink"), f.Time, takeRealDuration: false);
        using var alarm = new LocalAlarm(Announcing(TimeSpan.FromMinutes(5)), f.Chips, sink, f.Time);

        var test = alarm.TestAsync(TimeSpan.FromSeconds(3));
        await alarm.CurrentAnnouncement.WaitAsync(Generous);
        f.Advance(alarm, TimeSpan.FromSeconds(3));
        var result = await test.WaitAsync(Generous);

        Assert.Equal(AnnouncementOutcome.Started, result.Announcement);
        Assert.Single(sink.Plays);
    }

    [Fact]
    public async Task Constructor_WavFileFromConfig_PlaysThatFile()
    {
        string wav = await new EspeakNgRenderer(Cache).RenderAsync("Mask please.", "en", 150, CancellationToken.None);
        var f = new AlarmFixture();
        var sink = new FileSinkAudioPlayer(Path.Combine(_dir, "sink"), f.Time, takeRealDuration: false);
        var options = Announcing(TimeSpan.Zero) with { Announcement = Announcing(TimeSpan.Zero).Announcement with { WavFile = wav } };
        using var alarm = new LocalAlarm(options, f.Chips, sink, f.Time);

        alarm.Handle(Begin("v1"));
        await alarm.CurrentAnnouncement.WaitAsync(Generous);

        Assert.Equal(File.ReadAllBytes(wav), File.ReadAllBytes(Assert.Single(sink.Plays).File));
    }

    [Theory]
    [InlineData(EventTypes.IncorrectStart, "incorrect")]   // violation.incorrectCounts: separate
    [InlineData(EventTypes.ViolationStart, "incorrect")]   // counted as a violation, labelled incorrect
    public async Task Handle_BadlyWornMask_PlaysTheIncorrectMaskAnnouncement(string type, string label)
    {
        var f = new AlarmFixture();
        var sink = new FileSinkAudioPlayer(Path.Combine(_dir, "sink"), f.Time, takeRealDuration: false);
        using var alarm = new LocalAlarm(Announcing(TimeSpan.Zero), f.Chips, sink, f.Time);
        var e = Event(type, "v1") with { Mask = new EventMask(label, 0.9f, 8, 6) };

        alarm.Handle(e);
        await alarm.CurrentAnnouncement.WaitAsync(Generous);

        var snapshot = alarm.Snapshot();
        Assert.True(snapshot.Lines[0].On, "an incorrect-mask episode drives the light like any violation");
        Assert.NotEqual(snapshot.Announcement!.Wav, snapshot.Announcement.IncorrectWav);
        byte[] played = File.ReadAllBytes(Assert.Single(sink.Plays).File);
        Assert.Equal(File.ReadAllBytes(snapshot.Announcement.IncorrectWav!), played);
        Assert.NotEqual(File.ReadAllBytes(await new EspeakNgRenderer(Cache).RenderAsync("Please wear a mask.", "en", 150, CancellationToken.None)), played);
        Assert.True(SoxRms(Assert.Single(sink.Plays).File) > 0.01);

        alarm.Handle(Event(EventTypes.IsIncorrect(type) ? EventTypes.IncorrectEnd : EventTypes.ViolationEnd, "v1", sequence: 1));
        Assert.False(alarm.Snapshot().Lines[0].On);
    }

    [Fact]
    public async Task Handle_BadlyWornMaskWithoutIncorrectText_PlaysTheNoMaskAnnouncement()
    {
        var f = new AlarmFixture();
        var sink = new FileSinkAudioPlayer(Path.Combine(_dir, "sink"), f.Time, takeRealDuration: false);
        var options = Announcing(TimeSpan.Zero) with { Announcement = Announcing(TimeSpan.Zero).Announcement with { IncorrectText = "" } };
        using var alarm = new LocalAlarm(options, f.Chips, sink, f.Time);

        alarm.Handle(Event(EventTypes.IncorrectStart, "v1"));
        await alarm.CurrentAnnouncement.WaitAsync(Generous);

        Assert.Equal(File.ReadAllBytes(alarm.Snapshot().Announcement!.Wav), File.ReadAllBytes(Assert.Single(sink.Plays).File));
    }

    [Fact]
    public async Task RenderAsync_UnknownVoice_ThrowsRenderExceptionAndCachesNothing()
    {
        var renderer = new EspeakNgRenderer(Cache);

        var e = await Assert.ThrowsAsync<AnnouncementRenderException>(() => renderer.RenderAsync("Hello", "qqzz", 150, CancellationToken.None));

        Assert.Contains("qqzz", e.Message);
        Assert.Empty(Directory.GetFiles(Cache));
    }

    [Fact]
    public void CachePath_DifferentVoiceOrText_DifferentFile()
    {
        var renderer = new EspeakNgRenderer(Cache);

        string a = renderer.CachePath("Please wear a mask.", "en", 150);

        Assert.Equal(a, renderer.CachePath("Please wear a mask.", "en", 150));
        Assert.NotEqual(a, renderer.CachePath("Please wear a mask.", "de", 150));
        Assert.NotEqual(a, renderer.CachePath("Please wear a mask!", "en", 150));
        Assert.NotEqual(a, renderer.CachePath("Please wear a mask.", "en", 160));
    }

    [Fact]
    public async Task AplayAudioPlayer_UnknownAlsaDevice_ThrowsPlaybackException()
    {
        string wav = await new EspeakNgRenderer(Cache).RenderAsync("Test.", "en", 150, CancellationToken.None);
        var player = new AplayAudioPlayer("edgemask_no_such_device");

        var e = await Assert.ThrowsAsync<AudioPlaybackException>(() => player.PlayAsync(wav, CancellationToken.None).WaitAsync(Generous));

        Assert.Contains("aplay exited", e.Message);
    }

    private static Task NextPlayStarted(FileSinkAudioPlayer sink)
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void Handler(FileSinkAudioPlayer.PlayRecord _)
        {
            sink.Started -= Handler;
            started.TrySetResult();
        }
        sink.Started += Handler;
        return started.Task;
    }

    /// <summary>The RMS amplitude sox reports for the whole file (0..1).</summary>
    private static double SoxRms(string wav)
    {
        var psi = new ProcessStartInfo("sox") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (string a in (string[])[wav, "-n", "stat"])
            psi.ArgumentList.Add(a);
        using var sox = Process.Start(psi)!;
        string stats = sox.StandardError.ReadToEnd();
        sox.WaitForExit();
        Assert.Equal(0, sox.ExitCode);
        string line = stats.Split('\n').Single(l => l.StartsWith("RMS     amplitude:", StringComparison.Ordinal));
        return double.Parse(line.Split(':')[1].Trim(), CultureInfo.InvariantCulture);
    }

    /// <summary>RMS of 16-bit PCM samples, read from the data chunk directly (a check independent of sox).</summary>
    private static double PcmRms(string wav)
    {
        var info = WavInfo.Read(wav);
        Assert.Equal(16, info.BitsPerSample);
        byte[] bytes = File.ReadAllBytes(wav);
        var samples = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, short>(bytes.AsSpan((int)info.DataOffset, (int)info.DataLength & ~1));
        double sum = 0;
        foreach (short s in samples)
            sum += (double)s * s;
        return Math.Sqrt(sum / samples.Length) / 32768.0;
    }
}
