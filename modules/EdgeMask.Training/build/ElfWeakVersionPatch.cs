// Compiled twice: by MSBuild's RoslynCodeTaskFactory (the task below) and by EdgeMask.Training.Tests (which defines
// ELF_PATCH_NO_MSBUILD and tests the patch logic itself). Keep it dependency-free C#.
using System;
using System.IO;
using System.Text;

namespace EdgeMask.Training.Build
{
    /// <summary>
    /// Marks one symbol-version requirement of an ELF shared library weak (VER_FLG_WEAK in its .gnu.version_r
    /// entry). Why: TorchSharp's libLibTorchSharp.so is built with GCC 13 and requires GLIBCXX_3.4.32, which
    /// Debian 12's libstdc++ (up to 3.4.30) lacks, so the library fails to load. Only std::ios_base_library_init
    /// carries that version and nothing relocates against it, so a weak requirement lets the loader accept the
    /// older libstdc++. Where the system library is new enough the flag changes nothing.
    /// </summary>
    public static class ElfWeakVersionPatcher
    {
        private const uint ShtGnuVerneed = 0x6ffffffe;
        private const ushort VerFlgWeak = 0x2;

        /// <summary>Result of one patch attempt.</summary>
        public enum Outcome { Patched, AlreadyWeak, VersionNotRequired }

        public static Outcome Patch(string path, string version)
        {
            byte[] data = File.ReadAllBytes(path);
            int flagsOffset = FlagsOffset(data, version, path);
            if (flagsOffset < 0) return Outcome.VersionNotRequired;
            ushort flags = BitConverter.ToUInt16(data, flagsOffset);
            if ((flags & VerFlgWeak) != 0) return Outcome.AlreadyWeak;
            flags |= VerFlgWeak;
            // Rewrite only the two flag bytes in place, so nothing else of the file can change.
            using (var f = new FileStream(path, FileMode.Open, FileAccess.Write))
            {
                f.Seek(flagsOffset, SeekOrigin.Begin);
                f.WriteByte((byte)(flags & 0xff));
                f.WriteByte((byte)(flags >> 8));
            }
            return Outcome.Patched;
        }

        /// <summary>Whether the library's requirement on <paramref name="version"/> is weak (null: not required at all).</summary>
        public static bool? IsWeak(string path, string version)
        {
            byte[] data = File.ReadAllBytes(path);
            int offset = FlagsOffset(data, version, path);
            return offset < 0 ? (bool?)null : (BitConverter.ToUInt16(data, offset) & VerFlgWeak) != 0;
        }

        /// <summary>File offset of vna_flags of the Vernaux entry naming <paramref name="version"/>, or -1.</summary>
        public static int FlagsOffset(byte[] d, string version, string path)
        {
            if (d.Length < 64 || d[0] != 0x7f || d[1] != (byte)'E' || d[2] != (byte)'L' || d[3] != (byte)'F')
                throw new InvalidDataException(path + " is not an ELF file.");
            if (d[4] != 2 || d[5] != 1)
                throw new InvalidDataException(path + " is not a little-endian 64-bit ELF file.");
            long shoff = BitConverter.ToInt64(d, 0x28);
            int shentsize = BitConverter.ToUInt16(d, 0x3A), shnum = BitConverter.ToUInt16(d, 0x3C);
            for (int i = 0; i < shnum; i++)
            {
                int sh = checked((int)(shoff + (long)i * shentsize));
                if (BitConverter.ToUInt32(d, sh + 4) != ShtGnuVerneed) continue;
                int offset = checked((int)BitConverter.ToInt64(d, sh + 0x18));
                int link = (int)BitConverter.ToUInt32(d, sh + 0x28);
                int count = (int)BitConverter.ToUInt32(d, sh + 0x2C);
                int strtab = checked((int)BitConverter.ToInt64(d, checked((int)(shoff + (long)link * shentsize)) + 0x18));
                int vn = offset;
                for (int n = 0; n < count; n++)
                {
                    int cnt = BitConverter.ToUInt16(d, vn + 2);
                    int aux = vn + (int)BitConverter.ToUInt32(d, vn + 8);
                    for (int a = 0; a < cnt; a++)
                    {
                        int name = strtab + (int)BitConverter.ToUInt32(d, aux + 8);
                        if (CString(d, name) == version) return aux + 4;
                        aux += (int)BitConverter.ToUInt32(d, aux + 12);
                    }
                    vn += (int)BitConverter.ToUInt32(d, vn + 12);
                }
            }
            return -1;
        }

        private static string CString(byte[] d, int start)
        {
            int end = start;
            while (end < d.Length && d[end] != 0) end++;
            return Encoding.ASCII.GetString(d, start, end - start);
        }
    }

#if !ELF_PATCH_NO_MSBUILD
    /// <summary>MSBuild task: patch every given library; idempotent, logs what it did.</summary>
    public sealed class MarkElfVersionWeak : Microsoft.Build.Utilities.Task
    {
        [Microsoft.Build.Framework.Required]
        public Microsoft.Build.Framework.ITaskItem[] Files { get; set; } = Array.Empty<Microsoft.Build.Framework.ITaskItem>();

        [Microsoft.Build.Framework.Required]
        public string Version { get; set; } = "";

        public override bool Execute()
        {
            foreach (var item in Files)
            {
                string path = item.GetMetadata("FullPath");
                var outcome = ElfWeakVersionPatcher.Patch(path, Version);
                Log.LogMessage(Microsoft.Build.Framework.MessageImportance.Normal, "{0}: {1} {2}", path, Version, outcome);
            }
            return !Log.HasLoggedErrors;
        }
    }
#endif
}
