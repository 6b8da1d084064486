using EdgeMask.Messaging.Outbox;
using EdgeMask.Messaging.Tests.Support;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace EdgeMask.Messaging.Tests;

/// <summary>The SQLite outbox on real files.</summary>
public sealed class OutboxTests(ITestOutputHelper output) : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly TestLoggerFactory _logs = new(output);

    private OutboxOptions Options(params OutboxDestination[] destinations) => new()
    {
        Path = _dir.File("outbox.db"),
        Destinations = destinations.Length == 0 ? [new("mqtt")] : destinations,
        BusyTimeout = TimeSpan.FromMilliseconds(200),
    };

    private SqliteOutbox Open(OutboxOptions o) => new(o, _logs.CreateLogger<SqliteOutbox>());

    [Fact]
    public void Enqueue_SeveralMessages_PeekReturnsThemInSequenceOrderWithAllFields()
    {
        using var outbox = Open(Options());
        var seqs = Enumerable.Range(1, 5).Select(i => outbox.Enqueue(TestData.Entry(i))!.Value).ToArray();

        Assert.Equal(seqs.Order(), seqs);
        var pending = outbox.PeekPending("mqtt", 10);
        Assert.Equal(seqs, pending.Select(m => m.Sequence));
        var first = pending[0];
        Assert.Equal(OutboxKinds.Event, first.Kind);
        Assert.Equal("cam1", first.Camera);
        Assert.Equal("edgemask/dev1/cam1/event", first.Topic);
        Assert.Equal(100, first.Payload.Length);
        Assert.Equal(1, first.Qos);
        Assert.Equal("m1", first.MessageId);
        Assert.Equal(5, outbox.GetDepth("mqtt"));
        Assert.True(File.Exists(_dir.File("outbox.db")));
    }

    [Fact]
    public void Acknowledge_TwoDestinations_MessageStaysUntilBothAcknowledged()
    {
        using var outbox = Open(Options(new("mqtt"), new("iothub", OutboxKinds.Event | OutboxKinds.Stats)));
        var seq = outbox.Enqueue(TestData.Entry(1))!.Value;

        Assert.True(outbox.Acknowledge("mqtt", seq));
        Assert.Equal(0, outbox.GetDepth("mqtt"));
        Assert.Equal(1, outbox.GetDepth("iothub"));
        Assert.Equal(1, outbox.GetStatistics().StoredMessages);
        Assert.Equal(seq, Assert.Single(outbox.PeekPending("iothub", 10)).Sequence);

        Assert.True(outbox.Acknowledge("iothub", seq));
        Assert.Equal(0, outbox.GetStatistics().StoredMessages);
        Assert.False(outbox.Acknowledge("iothub", seq));
    }

    [Fact]
    public void Enqueue_KindNotTakenByDestination_RoutesOnlyToDestinationsThatTakeIt()
    {
        using var outbox = Open(Options(new("mqtt"), new("iothub", OutboxKinds.Event | OutboxKinds.Stats)));
        outbox.Enqueue(TestData.Entry(1, OutboxKinds.Snapshot, bytes: 5000));
        outbox.Enqueue(TestData.Entry(2, OutboxKinds.Event));

        Assert.Equal(2, outbox.GetDepth("mqtt"));
        Assert.Equal(1, outbox.GetDepth("iothub"));
        Assert.Equal(OutboxKinds.Event, Assert.Single(outbox.PeekPending("iothub", 10)).Kind);
    }

    [Fact]
    public void Open_AfterDisposeWithPendingMessages_BacklogSurvivesAndSequenceKeepsGrowing()
    {
        long last;
        using (var outbox = Open(Options()))
        {
            for (var i = 1; i <= 10; i++) outbox.Enqueue(TestData.Entry(i));
            var pending = outbox.PeekPending("mqtt", 3);
            foreach (var m in pending) outbox.Acknowledge("mqtt", m.Sequence);
            last = outbox.PeekPending("mqtt", 100)[^1].Sequence;
        }
        using (var reopened = Open(Options()))
        {
            Assert.Equal(7, reopened.GetDepth("mqtt"));
            Assert.Equal(Enumerable.Range(4, 7).Select(i => $"m{i}"), reopened.PeekPending("mqtt", 100).Select(m => m.MessageId));
            // AUTOINCREMENT: a sequence is never reused, even after the newest rows are deleted.
            foreach (var m in reopened.PeekPending("mqtt", 100)) reopened.Acknowledge("mqtt", m.Sequence);
            Assert.True(reopened.Enqueue(TestData.Entry(11)) > last);
        }
    }

    [Fact]
    public void Enqueue_BeyondMaxMessages_DropsOldestCountsAndLogsStructured()
    {
        using var outbox = Open(Options() with { MaxMessages = 10 });
        for (var i = 1; i <= 25; i++) outbox.Enqueue(TestData.Entry(i));

        Assert.Equal(10, outbox.GetDepth("mqtt"));
        Assert.Equal(Enumerable.Range(16, 10).Select(i => $"m{i}"), outbox.PeekPending("mqtt", 100).Select(m => m.MessageId));
        var stats = outbox.GetStatistics();
        Assert.Equal(15, stats.DroppedByBound);
        Assert.Equal(15, Assert.Single(stats.Destinations).Dropped);
        var drops = _logs.Entries.Where(e => e.Level == LogLevel.Warning && e.Template is not null && e.Template.StartsWith("Outbox full", StringComparison.Ordinal)).ToList();
        Assert.Equal(15, drops.Count);
        Assert.Contains("{Dropped}", drops[0].Template);
        Assert.Contains("{TotalDropped}", drops[0].Template);
    }

    [Fact]
    public void Enqueue_BeyondMaxBytes_DropsOldestUntilWithinBytes()
    {
        using var outbox = Open(Options() with { MaxBytes = 10_000, MaxPayloadBytes = 4_000 });
        for (var i = 1; i <= 6; i++) outbox.Enqueue(TestData.Entry(i, bytes: 3_000));

        var stats = outbox.GetStatistics();
        Assert.Equal(3, stats.StoredMessages);
        Assert.Equal(9_000, stats.StoredBytes);
        Assert.Equal(3, stats.DroppedByBound);
        Assert.Equal(["m4", "m5", "m6"], outbox.PeekPending("mqtt", 100).Select(m => m.MessageId));
    }

    [Fact]
    public void Enqueue_SnapshotBurst_NeverPushesOutEvents()
    {
        using var outbox = Open(Options() with { MaxSnapshots = 2 });
        outbox.Enqueue(TestData.Entry(1, OutboxKinds.Event));
        for (var i = 2; i <= 10; i++) outbox.Enqueue(TestData.Entry(i, OutboxKinds.Snapshot, bytes: 20_000));
        outbox.Enqueue(TestData.Entry(11, OutboxKinds.Stats));

        Assert.Equal(["m1", "m9", "m10", "m11"], outbox.PeekPending("mqtt", 100).Select(m => m.MessageId));
        Assert.Equal(7, outbox.GetStatistics().DroppedByBound);
    }

    [Fact]
    public void Enqueue_PayloadLargerThanLimit_RefusedAndCounted()
    {
        using var outbox = Open(Options() with { MaxPayloadBytes = 2048 });
        Assert.Null(outbox.Enqueue(TestData.Entry(1, bytes: 4096)));
        Assert.Equal(1, outbox.GetStatistics().RefusedTooLarge);
        Assert.Equal(0, outbox.GetDepth("mqtt"));
    }

    [Fact]
    public void Open_LimitsShrunkSinceLastRun_TrimsOldestAtOpen()
    {
        using (var outbox = Open(Options()))
            for (var i = 1; i <= 20; i++) outbox.Enqueue(TestData.Entry(i));
        using var reopened = Open(Options() with { MaxMessages = 5 });
        Assert.Equal(["m16", "m17", "m18", "m19", "m20"], reopened.PeekPending("mqtt", 100).Select(m => m.MessageId));
    }

    [Fact]
    public void Open_DestinationRemovedFromConfiguration_DiscardsItsRowsAndKeepsOthers()
    {
        using (var outbox = Open(Options(new("mqtt"), new("iothub"))))
        {
            for (var i = 1; i <= 4; i++) outbox.Enqueue(TestData.Entry(i));
            foreach (var m in outbox.PeekPending("mqtt", 2)) outbox.Acknowledge("mqtt", m.Sequence);
        }
        using var reopened = Open(Options(new OutboxDestination("mqtt")));
        Assert.Equal(2, reopened.GetDepth("mqtt"));
        Assert.Equal(2, reopened.GetStatistics().StoredMessages);
        Assert.Contains(_logs.Entries, e => e.Template?.Contains("{Destination} is no longer configured", StringComparison.Ordinal) == true);
    }

    [Fact]
    public void Open_FileHeldBySecondInstance_ThrowsOutboxLockedExceptionNamingFile()
    {
        using var first = Open(Options());
        first.Enqueue(TestData.Entry(1));

        var ex = Assert.Throws<OutboxLockedException>(() => Open(Options()));
        Assert.Equal(_dir.File("outbox.db"), ex.Path);
        Assert.Contains("locked", ex.Message, StringComparison.Ordinal);
        Assert.Contains("Outbox:Path", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Open_FileLockedByAnotherSqliteConnection_ThrowsOutboxLockedException()
    {
        using (var outbox = Open(Options())) outbox.Enqueue(TestData.Entry(1));
        using var other = new SqliteConnection($"Data Source={_dir.File("outbox.db")};Pooling=False");
        other.Open();
        using (var cmd = other.CreateCommand())
        {
            cmd.CommandText = "PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE;";
            cmd.ExecuteNonQuery();
        }
        Assert.Throws<OutboxLockedException>(() => Open(Options()));
    }

    [Fact]
    public void Open_GarbageFileWithFailPolicy_ThrowsOutboxCorruptExceptionAndKeepsFile()
    {
        File.WriteAllBytes(_dir.File("outbox.db"), Enumerable.Range(0, 8192).Select(i => (byte)(i * 7)).ToArray());

        var ex = Assert.Throws<OutboxCorruptException>(() => Open(Options() with { OnCorrupt = OutboxCorruptPolicy.Fail }));
        Assert.Contains("corrupt", ex.Message, StringComparison.Ordinal);
        Assert.Contains("Outbox:OnCorrupt", ex.Message, StringComparison.Ordinal);
        Assert.True(File.Exists(_dir.File("outbox.db")));
    }

    [Fact]
    public void Open_GarbageFileWithQuarantinePolicy_MovesItAsideLogsErrorAndWorks()
    {
        File.WriteAllBytes(_dir.File("outbox.db"), Enumerable.Range(0, 8192).Select(i => (byte)(i * 7)).ToArray());

        using var outbox = Open(Options());
        Assert.NotNull(outbox.QuarantinedFile);
        Assert.True(File.Exists(outbox.QuarantinedFile));
        Assert.Contains(_logs.Entries, e => e.Level == LogLevel.Error && e.Template!.Contains("{QuarantinePath}", StringComparison.Ordinal));
        Assert.NotNull(outbox.Enqueue(TestData.Entry(1)));
        Assert.Equal(1, outbox.GetDepth("mqtt"));
    }

    [Fact]
    public void Open_DamagedPagesInValidDatabase_DetectedAsCorrupt()
    {
        using (var outbox = Open(Options()))
            outbox.EnqueueBatch(Enumerable.Range(1, 200).Select(i => TestData.Entry(i, bytes: 2000)).ToList());
        // Overwrite page 2 onwards (the header page stays valid, so only the integrity check can tell).
        using (var f = new FileStream(_dir.File("outbox.db"), FileMode.Open, FileAccess.Write))
        {
            f.Position = 4096;
            f.Write(Enumerable.Repeat((byte)0xA5, 16384).ToArray());
        }
        Assert.Throws<OutboxCorruptException>(() => Open(Options() with { OnCorrupt = OutboxCorruptPolicy.Fail }));
    }

    [Theory]
    [InlineData("MaxMessages")]
    [InlineData("Destinations")]
    [InlineData("Path")]
    public void Validate_BadValue_ThrowsNamingTheKey(string key)
    {
        var o = key switch
        {
            "MaxMessages" => Options() with { MaxMessages = 0 },
            "Destinations" => Options(new OutboxDestination("mqtt"), new OutboxDestination("mqtt")),
            _ => Options() with { Path = " " },
        };
        var ex = Assert.Throws<MessagingOptionsException>(() => o.Validate());
        Assert.StartsWith($"Outbox:{key}", ex.Key, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WaitForPending_EnqueueAfterWaitStarted_Wakes()
    {
        using var outbox = Open(Options());
        var wait = outbox.WaitForPendingAsync("mqtt", CancellationToken.None).AsTask();
        Assert.False(wait.IsCompleted);
        outbox.Enqueue(TestData.Entry(1));
        await wait.WaitAsync(TestPaths.Patience);
    }

    public void Dispose() => _dir.Dispose();
}
