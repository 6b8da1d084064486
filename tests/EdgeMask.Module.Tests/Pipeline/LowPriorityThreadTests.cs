using EdgeMask.Module.Hosting;
using EdgeMask.Module.Pipeline;

namespace EdgeMask.Module.Tests.Pipeline;

public sealed class LowPriorityThreadTests
{
    [Fact]
    public void Run_Job_RunsOnTheLoweredThreadAndReturnsWhenDone()
    {
        int baseline = CpuPriority.NiceOf(CpuPriority.CurrentThreadId()!.Value)!.Value;
        using var thread = new LowPriorityThread("low-test", niceness: 5);
        int? ranOn = null, niceThere = null;

        thread.Run(() =>
        {
            Thread.Sleep(20);
            ranOn = CpuPriority.CurrentThreadId();
            niceThere = CpuPriority.NiceOf(ranOn!.Value);
        });

        Assert.True(thread.PriorityLowered, thread.PriorityError);
        Assert.Equal(thread.OsThreadId, ranOn);
        Assert.NotEqual(CpuPriority.CurrentThreadId(), ranOn);
        Assert.Equal(Math.Min(19, baseline + 5), niceThere);
        // The caller's own priority is untouched.
        Assert.Equal(baseline, CpuPriority.NiceOf(CpuPriority.CurrentThreadId()!.Value));
    }

    [Fact]
    public void Run_JobThrows_ExceptionRethrownToTheCallerAndTheThreadServesTheNextJob()
    {
        using var thread = new LowPriorityThread("low-test");

        var ex = Assert.Throws<InvalidOperationException>(() => thread.Run(() => throw new InvalidOperationException("encoder broke")));
        Assert.Equal("encoder broke", ex.Message);
        int value = 0;
        thread.Run(() => value = 42);
        Assert.Equal(42, value);
    }

    [Fact]
    public void Run_AfterDispose_Throws()
    {
        var thread = new LowPriorityThread("low-test");
        thread.Dispose();
        thread.Dispose();

        Assert.Throws<ObjectDisposedException>(() => thread.Run(() => { }));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(20)]
    public void Constructor_NicenessOutOfRange_Refused(int niceness) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new LowPriorityThread("low-test", niceness));
}
