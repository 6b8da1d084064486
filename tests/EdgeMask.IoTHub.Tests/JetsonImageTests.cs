using System.Diagnostics;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Xunit.Abstractions;
using Paths = EdgeMask.Tests.Shared.TestPaths;

namespace EdgeMask.IoTHub.Tests;

/// <summary>
/// Dockerfile.arm64 cannot be built here (no Docker engine, no JetPack), so what decides whether it builds is held to
/// the facts: the ONNX Runtime version read from Directory.Packages.props (CPU and GPU packages alike), a CMake that
/// ONNX Runtime accepts, the documented Jetson build flags and not being refused as root, and — run for real — the
/// publish stage, with exactly the files the Dockerfile copies, yielding the linux-arm64 <c>edgemask</c> the image runs.
/// </summary>
public sealed partial class JetsonImageTests(ITestOutputHelper output)
{
    private static string Dockerfile => File.ReadAllText(Path.Combine(Paths.RepoRoot, "Dockerfile.arm64"));

    private static string VersionsScript => Path.Combine(Paths.RepoRoot, "deployment", "image", "native-versions.sh");

    private static Dictionary<string, string> PackageVersions(string props) =>
        XDocument.Load(props).Descendants("PackageVersion").ToDictionary(p => p.Attribute("Include")!.Value, p => p.Attribute("Version")!.Value);

    /// <summary>The RUN/COPY instructions of one stage, continuation lines joined.</summary>
    private static List<string> Stage(string name)
    {
        var text = Regex.Replace(Dockerfile, @"\\\r?\n", " ");
        var lines = text.Split('\n');
        var from = Array.FindIndex(lines, l => Regex.IsMatch(l, $@"^FROM .* AS {name}\s*$"));
        Assert.True(from >= 0, $"Dockerfile.arm64 has no stage '{name}'");
        return lines.Skip(from + 1).TakeWhile(l => !l.StartsWith("FROM ", StringComparison.Ordinal)).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();
    }

    private static (int ExitCode, string Stdout, string Stderr) Run(string file, params string[] arguments)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in arguments) psi.ArgumentList.Add(a);
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, stdout.Result, stderr);
    }

    [Fact]
    public void NativeVersions_RepositoryPins_OnnxRuntimeOfBothPackagesAndOpenCvSharp()
    {
        var props = Path.Combine(Paths.RepoRoot, "Directory.Packages.props");
        var pins = PackageVersions(props);

        var (exit, stdout, stderr) = Run("sh", VersionsScript, props);

        Assert.True(exit == 0, stderr);
        Assert.Equal(pins["Microsoft.ML.OnnxRuntime"], pins["Microsoft.ML.OnnxRuntime.Gpu.Linux"]);
        Assert.Equal(
            [$"ONNXRUNTIME_VERSION={pins["Microsoft.ML.OnnxRuntime"]}", $"OPENCVSHARP_VERSION={pins["OpenCvSharp4"]}",
             $"OPENCV_VERSION={string.Join('.', pins["OpenCvSharp4"].Split('.')[..3])}"],
            stdout.Trim().Split('\n'));
    }

    [Fact]
    public void NativeVersions_CpuAndGpuPackagesPinnedApart_RefusedNamingBoth()
    {
        var dir = Paths.NewTempDirectory("edgemask-props");
        var props = Path.Combine(dir, "Directory.Packages.props");
        File.WriteAllText(props, """
            <Project><ItemGroup>
              <PackageVersion Include="Microsoft.ML.OnnxRuntime" Version="1.31.1" />
              <PackageVersion Include="Microsoft.ML.OnnxRuntime.Gpu.Linux" Version="1.31.0" />
              <PackageVersion Include="OpenCvSharp4" Version="4.13.0.20260627" />
            </ItemGroup></Project>
            """);

        var (exit, _, stderr) = Run("sh", VersionsScript, props);

        Assert.Equal(1, exit);
        Assert.Contains("Microsoft.ML.OnnxRuntime (1.31.1)", stderr);
        Assert.Contains("Microsoft.ML.OnnxRuntime.Gpu.Linux (1.31.0)", stderr);
    }

    [Fact]
    public void Dockerfile_OnnxRuntimeVersion_ReadFromThePackagesNotWrittenTwice()
    {
        var versions = string.Join('\n', Stage("versions"));
        var ort = string.Join('\n', Stage("ort"));

        Assert.Contains("COPY Directory.Packages.props deployment/image/native-versions.sh /src/", versions);
        Assert.Contains("sh /src/native-versions.sh /src/Directory.Packages.props", versions);
        Assert.Contains("COPY --from=versions /versions/onnxruntime", ort);
        Assert.Contains("--branch \"v$(cat /versions/onnxruntime)\"", ort);
        // No second place to forget when the package moves.
        Assert.DoesNotMatch(@"(?m)^ARG (ORT|ONNXRUNTIME|OPENCV|OPENCVSHARP)_VERSION", Dockerfile);
        Assert.DoesNotContain(PackageVersions(Path.Combine(Paths.RepoRoot, "Directory.Packages.props"))["Microsoft.ML.OnnxRuntime"], Dockerfile);
    }

    [Fact]
    public void Dockerfile_Cmake_KitwareReleaseOfAtLeast328CheckedAndVerified()
    {
        var version = Regex.Match(Dockerfile, @"(?m)^ARG CMAKE_VERSION=(?<v>\d+\.\d+\.\d+)\s*$");
        var build = string.Join('\n', Stage("native-build"));

        Assert.True(version.Success, "ARG CMAKE_VERSION=x.y.z");
        // ONNX Runtime's cmake/CMakeLists.txt: cmake_minimum_required(VERSION 3.28) since the vcpkg change.
        Assert.True(Version.Parse(version.Groups["v"].Value) >= new Version(3, 28), version.Value);
        Assert.Contains("https://github.com/Kitware/CMake/releases/download/v${CMAKE_VERSION}", build);
        Assert.Contains("sha256sum -c -", build);
        Assert.Contains("ge 3.28", build);
        Assert.DoesNotMatch(@"apt-get install[^\n]*\bcmake\b", build);
        Assert.DoesNotContain("pip", build.Replace("pipeline", ""));
        Assert.Equal("native-build", Regex.Match(Dockerfile, @"(?m)^FROM (?<base>\S+) AS ort\s*$").Groups["base"].Value);
        Assert.Equal("native-build", Regex.Match(Dockerfile, @"(?m)^FROM (?<base>\S+) AS opencv\s*$").Groups["base"].Value);
    }

    [Fact]
    public void Dockerfile_OnnxRuntimeBuild_DocumentedJetsonFlagsAndAllowedAsRoot()
    {
        var command = Stage("ort").Single(l => l.Contains("./build.sh", StringComparison.Ordinal));
        var flags = Regex.Split(command[(command.IndexOf("./build.sh", StringComparison.Ordinal) + "./build.sh".Length)..command.IndexOf("&&", StringComparison.Ordinal)].Trim(), @"\s+");

        foreach (var flag in new[] { "--use_tensorrt", "--use_cuda", "--build_shared_lib", "--allow_running_as_root", "--skip_tests" })
        {
            Assert.Contains(flag, flags);
        }

        Assert.Equal("/usr/local/cuda", flags[Array.IndexOf(flags, "--cuda_home") + 1]);
        Assert.Equal("/usr/lib/aarch64-linux-gnu", flags[Array.IndexOf(flags, "--cudnn_home") + 1]);
        Assert.Equal("/usr/lib/aarch64-linux-gnu", flags[Array.IndexOf(flags, "--tensorrt_home") + 1]);
        Assert.Contains("CMAKE_CUDA_ARCHITECTURES=87", flags); // Orin
        Assert.Contains("libonnxruntime_providers_tensorrt.so", command);
        Assert.DoesNotContain("PLATFORM-NOTES", Dockerfile); // comments stand on their own
    }

    /// <summary>
    /// The publish stage for real: a build context holding only what its COPY lines copy, then its RUN command with
    /// <c>/out</c> in a temp folder. Proves that the runtime packs restore and the image's <c>edgemask</c> is an arm64
    /// executable, and shows why the native stages exist: no OpenCvSharpExtern, only a CPU ONNX Runtime.
    /// </summary>
    [Fact]
    public async Task Dockerfile_PublishStage_YieldsTheArm64EdgemaskTheImageRuns()
    {
        var stage = Stage("publish");
        var context = Paths.NewTempDirectory("edgemask-image");
        try
        {
            await PublishAndCheckAsync(stage, context);
        }
        finally
        {
            try
            {
                Directory.Delete(context, recursive: true);
            }
            catch (IOException e)
            {
                // A left-over temp folder is not a test failure; say so and go on.
                output.WriteLine($"could not remove {context}: {e.Message}");
            }
        }
    }

    private async Task PublishAndCheckAsync(List<string> stage, string context)
    {
        var src = Path.Combine(context, "src");
        var outDir = Path.Combine(context, "out");
        foreach (var copy in stage.Where(l => l.StartsWith("COPY ", StringComparison.Ordinal)))
        {
            var parts = copy.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1..];
            var destination = Path.Combine(src, parts[^1]);
            foreach (var source in parts[..^1])
            {
                CopyFromRepo(source, destination);
            }
        }

        var run = stage.Single(l => l.StartsWith("RUN ", StringComparison.Ordinal))["RUN ".Length..].Replace("/out", outDir, StringComparison.Ordinal);
        var watch = Stopwatch.StartNew();
        var psi = new ProcessStartInfo("bash", ["-c", run]) { WorkingDirectory = src, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        // Like a container build: no MSBuild or compiler server left running after the test.
        psi.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        psi.Environment["DOTNET_CLI_USE_MSBUILD_SERVER"] = "0";
        psi.Environment["UseSharedCompilation"] = "false";
        using var publish = Process.Start(psi)!;
        var log = publish.StandardOutput.ReadToEndAsync();
        var errors = await publish.StandardError.ReadToEndAsync();
        await publish.WaitForExitAsync();
        output.WriteLine($"publish took {watch.Elapsed.TotalSeconds:0} s (under load from parallel work)");
        Assert.True(publish.ExitCode == 0, await log + errors);

        // The entry point the runtime stage runs is what the publish produced, for aarch64.
        var entry = Regex.Match(Dockerfile, @"(?m)^ENTRYPOINT \[""(?<path>[^""]+)""");
        Assert.Matches(@"(?m)^COPY --from=publish /out/ /opt/edgemask/$", Dockerfile);
        var edgemask = Path.Combine(outDir, Path.GetFileName(entry.Groups["path"].Value));
        Assert.Equal("/opt/edgemask/edgemask", entry.Groups["path"].Value);
        Assert.Equal(ElfMachineAarch64, ElfMachine(edgemask));
        Assert.True(OperatingSystem.IsWindows() || (File.GetUnixFileMode(edgemask) & UnixFileMode.UserExecute) != 0);
        Assert.True(File.Exists(Path.Combine(outDir, "edgemask.dll")));
        // NuGet brings only a CPU ONNX Runtime for linux-arm64 (replaced by the `ort` stage) and no OpenCvSharpExtern
        // (built by the `opencv` stage): the image is only complete with both native stages.
        Assert.Equal(ElfMachineAarch64, ElfMachine(Path.Combine(outDir, "libonnxruntime.so")));
        Assert.False(File.Exists(Path.Combine(outDir, "libonnxruntime_providers_tensorrt.so")));
        Assert.Empty(Directory.GetFiles(outDir, "libOpenCvSharpExtern*"));
        Assert.Contains("COPY --from=opencv /cv-out/ /opt/edgemask/", Dockerfile);
        var ignored = File.ReadAllLines(Path.Combine(Paths.RepoRoot, ".dockerignore"));
        Assert.Contains("**/bin", ignored);
        Assert.Contains("**/obj", ignored);
        Assert.Contains("libOpenCvSharpExtern.so /cv-out/", string.Join('\n', Stage("opencv")));
        Directory.Delete(context, recursive: true);
    }

    private const int ElfMachineAarch64 = 183;

    /// <summary>e_machine of an ELF file (little-endian, offset 18).</summary>
    private static int ElfMachine(string path)
    {
        var header = new byte[20];
        using (var file = File.OpenRead(path)) file.ReadExactly(header);
        Assert.True(header[0] == 0x7F && header[1] == 'E' && header[2] == 'L' && header[3] == 'F', $"{path} is not an ELF file");
        return header[18] | (header[19] << 8);
    }

    /// <summary>
    /// Copies a file or folder of the checkout as <c>COPY</c> does: a file into a destination ending in '/' keeps its
    /// name, a folder's contents go into the destination. Build outputs are left out (.dockerignore's job in a real build).
    /// </summary>
    private static void CopyFromRepo(string source, string destination)
    {
        var from = Path.Combine(Paths.RepoRoot, source.TrimEnd('/'));
        if (File.Exists(from))
        {
            var target = destination.EndsWith('/') ? Path.Combine(destination, Path.GetFileName(from)) : destination;
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(from, target, overwrite: true);
            return;
        }

        Assert.True(Directory.Exists(from), $"Dockerfile.arm64 copies '{source}', which is not in the repository");
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(from, file);
            if (relative.Split(Path.DirectorySeparatorChar).Any(s => s is "bin" or "obj" or "node_modules")) continue;
            var target = Path.Combine(destination, relative);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target, overwrite: true);
        }
    }
}
