using EdgeMask.Training.Build;
using TorchSharp;

namespace EdgeMask.Training.Tests;

public sealed class LibTorchSharpPatchTests
{
    private const string Version = "GLIBCXX_3.4.32";

    private static string BuiltLibrary() =>
        Directory.EnumerateFiles(AppContext.BaseDirectory, "libLibTorchSharp.so", SearchOption.AllDirectories).First();

    [Fact]
    public void Build_LibTorchSharpInOutput_RequirementIsWeakAndTorchLoads()
    {
        Assert.True(ElfWeakVersionPatcher.IsWeak(BuiltLibrary(), Version));
        // Loading libtorch through TorchSharp is what fails on Debian 12 without the patch.
        using var t = torch.ones(2, 2);
        Assert.Equal(4f, t.sum().item<float>());
    }

    [Fact]
    public void Patch_UnpatchedCopy_MarksWeakOnceAndIsIdempotent()
    {
        string copy = Path.Combine(Path.GetTempPath(), $"libLibTorchSharp-{Guid.NewGuid():N}.so");
        File.Copy(BuiltLibrary(), copy);
        try
        {
            // Undo the build's patch on the copy to start from the package's bytes.
            byte[] patched = File.ReadAllBytes(copy);
            Assert.Equal(ElfWeakVersionPatcher.Outcome.AlreadyWeak, ElfWeakVersionPatcher.Patch(copy, Version));
            int diffAt = ElfWeakVersionPatcher.FlagsOffset(patched, Version, copy);
            patched[diffAt] &= unchecked((byte)~0x2);
            File.WriteAllBytes(copy, patched);
            Assert.False(ElfWeakVersionPatcher.IsWeak(copy, Version));

            Assert.Equal(ElfWeakVersionPatcher.Outcome.Patched, ElfWeakVersionPatcher.Patch(copy, Version));
            byte[] once = File.ReadAllBytes(copy);
            Assert.Equal(ElfWeakVersionPatcher.Outcome.AlreadyWeak, ElfWeakVersionPatcher.Patch(copy, Version));
            Assert.Equal(once, File.ReadAllBytes(copy));
            // Only the flag byte differs from the unpatched file.
            Assert.Single(Enumerable.Range(0, once.Length), i => once[i] != patched[i]);
        }
        finally
        {
            File.Delete(copy);
        }
    }

    [Fact]
    public void Patch_VersionTheLibraryDoesNotRequire_LeavesFileUnchanged()
    {
        string copy = Path.Combine(Path.GetTempPath(), $"libLibTorchSharp-{Guid.NewGuid():N}.so");
        File.Copy(BuiltLibrary(), copy);
        try
        {
            byte[] before = File.ReadAllBytes(copy);
            Assert.Equal(ElfWeakVersionPatcher.Outcome.VersionNotRequired, ElfWeakVersionPatcher.Patch(copy, "GLIBCXX_9.9.9"));
            Assert.Equal(before, File.ReadAllBytes(copy));
        }
        finally
        {
            File.Delete(copy);
        }
    }

    [Fact]
    public void Patch_NotAnElfFile_ThrowsInvalidData()
    {
        string file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, new string('x', 100));
            Assert.Throws<InvalidDataException>(() => ElfWeakVersionPatcher.Patch(file, Version));
        }
        finally
        {
            File.Delete(file);
        }
    }
}
