using System.Text.RegularExpressions;
using EdgeMask.Core.Tracking;
using EdgeMask.Module.Snapshots;
using EdgeMask.Tests.Shared;
using Microsoft.Extensions.Logging;

namespace EdgeMask.Module.Tests.Snapshots;

public sealed class SnapshotStoreTests : IDisposable
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 28, 23, 59, 58, TimeSpan.Zero);
    private readonly string _root = Path.Combine(TestPaths.NewTempDirectory("edgemask-snapshots"), "snaps");
    private readonly ManualTimeProvider _time = new(T0);
    private readonly RecordingLogger<SnapshotStore> _log = new();

    public void Dispose() => Directory.Delete(Path.GetDirectoryName(_root)!, recursive: true);

    private SnapshotOptions Options() => new() { Directory = _root, RetentionInterval = TimeSpan.FromMinutes(5) };

    /// <summary>Snapshot images of fixed, known sizes (the store does not look inside them).</summary>
    private static RenderedSnapshot Rendered(int cropBytes = 1000, int frameBytes = 3000, int blurred = 1)
    {
        byte[] crop = new byte[cropBytes], frame = new byte[frameBytes];
        Random.Shared.NextBytes(crop);
        Random.Shared.NextBytes(frame);
        return new RenderedSnapshot(cropBytes > 0 ? crop : null, frameBytes > 0 ? frame : null, frame,
            new PixelRect(0, 0, 10, 10), new PixelRect(2, 2, 5, 5), 100, 100, SnapshotPrivacy.BlurOthers, blurred);
    }

    private SnapshotStore NewStore(SnapshotOptions? options = null, ISnapshotFileSystem? fs = null)
    {
        var store = new SnapshotStore(options ?? Options(), _log, _time, fs);
        store.Start();
        return store;
    }

    [Fact]
    public void Save_TwoImages_WrittenUnderCameraAndUtcDateWithNoTemporaryFilesLeft()
    {
        using var store = NewStore();
        RenderedSnapshot r = Rendered();

        SnapshotResult result = store.Save("door-1", r);

        Assert.True(result.Available);
        Assert.Equal(SnapshotStatus.Stored, result.Status);
        Assert.Equal(4000, result.Bytes);
        Assert.True(result.Blurred);
        Assert.Equal(
            [$"door-1/2026-11-28/{result.Id}-crop.jpg", $"door-1/2026-11-28/{result.Id}-frame.jpg"],
            SnapshotFiles.All(_root));
        Assert.Equal(r.CropJpeg, File.ReadAllBytes(result.CropPath!));
        Assert.Equal(r.FrameJpeg, File.ReadAllBytes(result.FramePath!));
        Assert.Equal((2, 4000L, 1), (store.FileCount, store.TotalBytes, store.SnapshotCount));
    }

    [Fact]
    public void Read_ById_ReturnsTheStoredBytesOfEachImage()
    {
        using var store = NewStore();
        RenderedSnapshot r = Rendered();
        string id = store.Save("cam", r).Id!;

        Assert.Equal(r.CropJpeg, store.Read(id, SnapshotImageKind.Crop));
        Assert.Equal(r.FrameJpeg, store.Read(id, SnapshotImageKind.Frame));
        StoredSnapshot found = store.Find(id)!;
        Assert.Equal(("cam", T0, 4000L), (found.Camera, found.CreatedAt, found.Bytes));
    }

    [Fact]
    public void Read_OnlyFrameStored_CropIsNull()
    {
        using var store = NewStore(Options() with { Images = SnapshotImages.Frame });
        string id = store.Save("cam", Rendered(cropBytes: 0)).Id!;
        Assert.Null(store.Read(id, SnapshotImageKind.Crop));
        Assert.NotNull(store.Read(id, SnapshotImageKind.Frame));
    }

    [Theory]
    [InlineData("../../../../etc/passwd")]
    [InlineData("")]
    [InlineData(null)]
    [InlineData("20261128T235958000Z-AAAAAAAA")]
    [InlineData("20261128T235958000Z-aaaaaaaa/../x")]
    [InlineData("20261128T235958000Z-aaaaaaaa")]
    public void Read_NotAnIdOrUnknownId_Null(string? id)
    {
        using var store = NewStore();
        store.Save("cam", Rendered());
        Assert.Null(store.Read(id, SnapshotImageKind.Frame));
        Assert.Null(store.Find(id));
    }

    [Fact]
    public void Find_WrittenByAnotherStoreAfterThisOneScanned_FoundOnDisk()
    {
        using var reader = NewStore();
        using var writer = NewStore();
        RenderedSnapshot r = Rendered();
        string id = writer.Save("cam-2", r).Id!;

        StoredSnapshot? found = reader.Find(id);

        Assert.NotNull(found);
        Assert.Equal("cam-2", found!.Camera);
        Assert.Equal(r.FrameJpeg, reader.Read(id, SnapshotImageKind.Frame));
    }

    [Fact]
    public void NewId_TenThousandAtTheSameInstant_AllDistinctUrlSafeAndParsable()
    {
        var ids = Enumerable.Range(0, 10_000).Select(_ => SnapshotId.New(T0)).ToList();
        Assert.Equal(ids.Count, ids.Distinct(StringComparer.Ordinal).Count());
        Assert.All(ids, id =>
        {
            Assert.Matches(new Regex("^[0-9]{8}T[0-9]{9}Z-[a-z2-7]{8}$"), id);
            Assert.Equal(Uri.EscapeDataString(id), id);
            Assert.True(SnapshotId.TryParse(id, out DateTimeOffset t));
            Assert.Equal(T0, t);
        });
    }

    [Fact]
    public void Save_ManyAtTheSameInstant_DistinctIdsAllReadable()
    {
        using var store = NewStore();
        var ids = Enumerable.Range(0, 50).Select(_ => store.Save("cam", Rendered(100, 100)).Id!).ToList();
        Assert.Equal(50, ids.Distinct().Count());
        Assert.All(ids, id => Assert.NotNull(store.Read(id, SnapshotImageKind.Crop)));
    }

    [Fact]
    public void Save_OverTheFileLimit_OldestSnapshotsDeletedNewerKept()
    {
        using var store = NewStore(Options() with { MaxFiles = 6 });
        var ids = new List<string>();
        for (int i = 0; i < 5; i++)
        {
            ids.Add(store.Save(i % 2 == 0 ? "a" : "b", Rendered()).Id!);
            _time.Advance(TimeSpan.FromSeconds(1));
        }

        Assert.Equal(6, store.FileCount);
        Assert.Equal(6, SnapshotFiles.All(_root).Length);
        Assert.All(ids.Take(2), id => Assert.Null(store.Find(id)));
        Assert.All(ids.Skip(2), id => Assert.NotNull(store.Read(id, SnapshotImageKind.Frame)));
    }

    [Fact]
    public void Save_OverTheByteLimit_OldestDeletedUntilTheNewOneFits()
    {
        // Each snapshot is 4000 bytes; 10000 bytes hold two.
        using var store = NewStore(Options() with { MaxTotalBytes = 10_000 });
        var ids = new List<string>();
        for (int i = 0; i < 4; i++)
        {
            ids.Add(store.Save("cam", Rendered()).Id!);
            _time.Advance(TimeSpan.FromMilliseconds(10));
        }

        Assert.Equal(8000, store.TotalBytes);
        Assert.Equal(8000, SnapshotFiles.All(_root).Sum(f => new FileInfo(Path.Combine(_root, f)).Length));
        Assert.All(ids.Take(2), id => Assert.Null(store.Find(id)));
        Assert.All(ids.Skip(2), id => Assert.NotNull(store.Find(id)));
    }

    [Fact]
    public void Save_LargerThanTheWholeByteLimit_FailedAndNothingDeleted()
    {
        using var store = NewStore(Options() with { MaxTotalBytes = 5000 });
        string kept = store.Save("cam", Rendered()).Id!;

        SnapshotResult r = store.Save("cam", Rendered(3000, 3000));

        Assert.False(r.Available);
        Assert.NotNull(store.Find(kept));
    }

    [Fact]
    public void Constructor_NotStarted_NoTimerRunsUntilStart()
    {
        using var store = new SnapshotStore(Options(), _log, _time);
        Assert.Equal(0, _time.ActiveTimers);
        store.Start();
        Assert.Equal(1, _time.ActiveTimers);
        Assert.Throws<InvalidOperationException>(store.Start);
    }

    [Fact]
    public void Retention_AgeLimit_PeriodicSweepDeletesExpiredOnlyAndEmptyDayFolders()
    {
        using var store = NewStore(Options() with { MaxAge = TimeSpan.FromMinutes(10), RetentionInterval = TimeSpan.FromMinutes(1) });
        string first = store.Save("cam", Rendered()).Id!;          // 23:59:58 on the 28th
        _time.Advance(TimeSpan.FromMinutes(5));
        string second = store.Save("cam", Rendered()).Id!;         // 00:04:58 on the 29th
        _time.Advance(TimeSpan.FromMinutes(3));
        string third = store.Save("cam", Rendered()).Id!;

        _time.Advance(TimeSpan.FromMinutes(3)); // 11 min after the first: the next timer tick deletes it

        Assert.Null(store.Find(first));
        Assert.NotNull(store.Find(second));
        Assert.NotNull(store.Find(third));
        Assert.False(Directory.Exists(Path.Combine(_root, "cam", "2026-11-28")), "the emptied day folder is removed");
        Assert.Equal(4, SnapshotFiles.All(_root).Length);

        _time.Advance(TimeSpan.FromMinutes(6)); // 17 min after the first: the second (at 5 min) has expired, the third (at 8) not
        Assert.Null(store.Find(second));
        Assert.NotNull(store.Find(third));
    }

    [Fact]
    public void Constructor_ExistingFolder_IndexesSnapshotsRemovesStaleTempFilesAndAppliesLimits()
    {
        var ids = new List<string>();
        using (var first = NewStore())
        {
            for (int i = 0; i < 3; i++)
            {
                ids.Add(first.Save("cam", Rendered()).Id!);
                _time.Advance(TimeSpan.FromSeconds(1));
            }
        }
        string day = Path.Combine(_root, "cam", "2026-11-28");
        File.WriteAllBytes(Path.Combine(day, $".{ids[2]}x-crop.jpg.tmp"), new byte[10]);
        File.WriteAllText(Path.Combine(day, "notes.txt"), "not a snapshot");

        using var second = NewStore(Options() with { MaxFiles = 4 });

        Assert.Equal(4, second.FileCount);
        Assert.Null(second.Find(ids[0]));
        Assert.NotNull(second.Find(ids[1]));
        Assert.NotNull(second.Find(ids[2]));
        Assert.DoesNotContain(SnapshotFiles.All(_root), f => f.EndsWith(".tmp"));
        Assert.True(File.Exists(Path.Combine(day, "notes.txt")), "files that are not snapshots are left alone");
    }

    [Fact]
    public void Save_DiskFull_FailedWithoutThrowingNothingLeftBehindLoggedOnceThenRecovers()
    {
        var fs = new DiskFullFileSystem();
        using var store = NewStore(Options() with { FailureLogInterval = TimeSpan.FromMinutes(1) }, fs);
        string before = store.Save("cam", Rendered()).Id!;
        fs.DiskFull = true;

        SnapshotResult failed = store.Save("cam", Rendered(500, 3000)); // crop fits in the 1000 bytes left, the frame does not
        var more = Enumerable.Range(0, 5).Select(_ => store.Save("cam", Rendered())).ToList();

        Assert.Equal(SnapshotStatus.Failed, failed.Status);
        Assert.False(failed.Available);
        Assert.Null(failed.Id);
        Assert.Contains("disk full", failed.Error);
        Assert.Equal(EdgeMask.Core.Events.EventSnapshot.None, failed.ToEventSnapshot("t"));
        Assert.All(more, r => Assert.False(r.Available));
        Assert.Equal(6, fs.FailedWrites);
        Assert.Equal(6, store.FailedWrites);
        Assert.Equal([$"cam/2026-11-28/{before}-crop.jpg", $"cam/2026-11-28/{before}-frame.jpg"], SnapshotFiles.All(_root));
        Assert.Equal(2, store.FileCount);
        var warnings = _log.Entries.Where(e => e.Level == LogLevel.Warning).ToList();
        Assert.Single(warnings);
        Assert.Contains("disk full", warnings[0].Message);
        Assert.Equal(DiskFullFileSystem.Enospc, warnings[0].Exception!.HResult);

        _time.Advance(TimeSpan.FromMinutes(2));
        store.Save("cam", Rendered());
        Assert.Equal(2, _log.Count(LogLevel.Warning));
        Assert.Contains("5 similar failures", _log.Entries.Last(e => e.Level == LogLevel.Warning).Message);

        fs.DiskFull = false;
        SnapshotResult recovered = store.Save("cam", Rendered());
        Assert.True(recovered.Available);
        Assert.NotNull(store.Read(recovered.Id, SnapshotImageKind.Frame));
        Assert.Contains(_log.Entries, e => e.Level == LogLevel.Information && e.Message.Contains("recovered after 7 failed writes"));
    }

    [Fact]
    public void Save_FolderUnderAFile_FailedWithoutThrowingThenWorksOnceThePathIsUsable()
    {
        string parent = Path.GetDirectoryName(_root)!;
        string blocker = Path.Combine(parent, "blocker");
        File.WriteAllText(blocker, "a file where the snapshot folder's parent should be");
        string root = Path.Combine(blocker, "snaps");

        using var store = NewStore(Options() with { Directory = root }); // must not throw either
        SnapshotResult failed = store.Save("cam", Rendered());

        Assert.Equal(SnapshotStatus.Failed, failed.Status);
        Assert.Equal(SnapshotResult.Failure("cam", "x").ToEventSnapshot("t"), failed.ToEventSnapshot("t"));
        Assert.True(_log.Count(LogLevel.Warning) >= 1);

        File.Delete(blocker);
        SnapshotResult ok = store.Save("cam", Rendered());
        Assert.True(ok.Available);
        Assert.True(File.Exists(ok.FramePath));
        Assert.StartsWith(root, ok.FramePath);
    }

    [Fact]
    public void Save_FolderDeletedWhileRunning_RecreatedOnTheNextWrite()
    {
        using var store = NewStore();
        store.Save("cam", Rendered());
        Directory.Delete(_root, recursive: true);

        SnapshotResult r = store.Save("cam", Rendered());

        Assert.True(r.Available);
        Assert.True(File.Exists(r.CropPath));
        store.EnforceRetention();
        Assert.Equal(2, store.FileCount);
    }

    [Fact]
    public void Save_FourCamerasAtOnceWithSweeps_IndexMatchesTheDiskAndLimitsHold()
    {
        using var store = new SnapshotStore(Options() with { MaxFiles = 40 }, _log, TimeProvider.System);
        var ids = new System.Collections.Concurrent.ConcurrentBag<string>();
        Parallel.For(0, 4, new ParallelOptions { MaxDegreeOfParallelism = 4 }, cam =>
        {
            for (int i = 0; i < 25; i++)
            {
                SnapshotResult r = store.Save($"cam{cam}", Rendered(200, 300));
                Assert.True(r.Available, r.Error);
                ids.Add(r.Id!);
                if (i % 10 == 0) store.EnforceRetention();
            }
        });

        string[] files = SnapshotFiles.All(_root);
        Assert.Equal(100, ids.Distinct().Count());
        Assert.Equal(40, files.Length);
        Assert.Equal(40, store.FileCount);
        Assert.Equal(20 * 500, store.TotalBytes);
        Assert.Equal(20, ids.Count(id => store.Find(id) is not null));
        Assert.DoesNotContain(_log.Entries, e => e.Level >= LogLevel.Warning);
    }

    [Fact]
    public void Save_Disabled_NothingWrittenNoFolderCreated()
    {
        using var store = NewStore(Options() with { Enabled = false });
        SnapshotResult r = store.Save("cam", Rendered());
        Assert.Equal(SnapshotStatus.Disabled, r.Status);
        Assert.False(Directory.Exists(_root));
        Assert.Equal(0, _time.ActiveTimers);
    }

    [Theory]
    [InlineData("../../etc", ".._.._etc")]
    [InlineData("..", "___")]
    [InlineData("door 1/ä", "door_1__")]
    [InlineData("cam-01_b.x", "cam-01_b.x")]
    public void CameraFolder_AnyCameraId_StaysOneSafeFolderName(string camera, string expected)
    {
        string folder = SnapshotStore.CameraFolder(camera);
        Assert.Equal(expected, folder);
        Assert.Equal(folder, Path.GetFileName(folder));
        Assert.NotEqual("..", folder);
    }

    [Theory]
    [InlineData("JpegQuality")]
    [InlineData("Directory")]
    [InlineData("CropMargin")]
    [InlineData("BlurStrength")]
    [InlineData("BlurBoxScale")]
    [InlineData("MaxFiles")]
    [InlineData("MaxTotalBytes")]
    [InlineData("MaxAge")]
    [InlineData("RetentionInterval")]
    [InlineData("MaxPublishBytes")]
    [InlineData("Privacy")]
    [InlineData("Images")]
    public void Validate_BadValue_InvalidOptionExceptionNamingTheKey(string key)
    {
        var good = new SnapshotOptions();
        SnapshotOptions bad = key switch
        {
            "JpegQuality" => good with { JpegQuality = 0 },
            "Directory" => good with { Directory = " " },
            "CropMargin" => good with { CropMargin = -0.1f },
            "BlurStrength" => good with { BlurStrength = float.NaN },
            "BlurBoxScale" => good with { BlurBoxScale = 0.5f },
            "MaxFiles" => good with { MaxFiles = -1 },
            "MaxTotalBytes" => good with { MaxTotalBytes = -5 },
            "MaxAge" => good with { MaxAge = TimeSpan.FromSeconds(-1) },
            "RetentionInterval" => good with { RetentionInterval = TimeSpan.Zero },
            "MaxPublishBytes" => good with { MaxPublishBytes = 10 },
            "Privacy" => good with { Privacy = (SnapshotPrivacy)7 },
            "Images" => good with { Images = 0 },
            _ => throw new ArgumentOutOfRangeException(nameof(key)),
        };
        var ex = Assert.Throws<InvalidOptionException>(() => bad.Validate());
        Assert.Equal("Snapshots:" + key, ex.Key);
        Assert.Same(good, good.Validate());
    }
}
