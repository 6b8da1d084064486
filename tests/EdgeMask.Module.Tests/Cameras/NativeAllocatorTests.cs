using EdgeMask.Module.Hosting;

namespace EdgeMask.Module.Tests.Cameras;

/// <summary>The malloc tuning the program applies at start (see <see cref="NativeAllocator"/> and bench/README.md, Soak).</summary>
[Collection("end-to-end")]
public sealed class NativeAllocatorTests
{
    [Fact]
    public void Configure_LinuxGlibcWithoutMallocVariables_AppliedAndAMallocVariableWins()
    {
        if (!OperatingSystem.IsLinux()) return;
        Assert.True(NativeAllocator.Configure(), "mallopt accepted the arena count and the thresholds");

        Environment.SetEnvironmentVariable("MALLOC_ARENA_MAX", "4");
        try
        {
            Assert.False(NativeAllocator.Configure(), "a MALLOC_* variable set by the operator is left to glibc");
        }
        finally
        {
            Environment.SetEnvironmentVariable("MALLOC_ARENA_MAX", null);
        }
    }
}
