using System.Diagnostics;
using System.Text.Json;
using EdgeMask.Tests.Shared;

namespace EdgeMask.Inference.Tests.Runtime;

/// <summary>
/// The CPU and GPU ONNX Runtime packages must never meet in one build: the CPU package's native library silently
/// replaces the GPU one. MSBuild evaluates the package references of each flavour (no restore, no download), and no
/// other project may reference either package directly.
/// </summary>
public sealed class OnnxRuntimeFlavorTests
{
    private const string Cpu = "Microsoft.ML.OnnxRuntime";
    private const string Gpu = "Microsoft.ML.OnnxRuntime.Gpu.Linux";

    [Theory]
    [InlineData(null, Cpu, Gpu)]
    [InlineData("Cpu", Cpu, Gpu)]
    [InlineData("Gpu", Gpu, Cpu)]
    public async Task InferenceProject_Flavor_ReferencesExactlyOneOnnxRuntimePackage(string? flavor, string expected, string forbidden)
    {
        var references = await PackageReferencesAsync(flavor);
        Assert.Contains(expected, references);
        Assert.DoesNotContain(forbidden, references);
    }

    [Fact]
    public void Projects_OtherThanInference_DoNotReferenceOnnxRuntimeDirectly()
    {
        var offenders = Directory.EnumerateFiles(TestPaths.RepoRoot, "*.csproj", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                     && !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                     && !f.EndsWith("EdgeMask.Inference.csproj", StringComparison.Ordinal))
            .Where(f => File.ReadAllText(f).Contains($"Include=\"{Cpu}", StringComparison.Ordinal))
            .ToList();
        Assert.True(offenders.Count == 0, $"Only EdgeMask.Inference chooses the ONNX Runtime package: {string.Join(", ", offenders)}");
    }

    private static async Task<HashSet<string>> PackageReferencesAsync(string? flavor)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = TestPaths.RepoRoot };
        foreach (var a in new[] { "msbuild", Path.Combine("modules", "EdgeMask.Inference", "EdgeMask.Inference.csproj"), "-getItem:PackageReference", "-nologo" })
            start.ArgumentList.Add(a);
        if (flavor is not null) start.ArgumentList.Add($"-p:OnnxRuntimeFlavor={flavor}");
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await process.WaitForExitAsync(timeout.Token);
        Assert.True(process.ExitCode == 0, $"dotnet msbuild failed: {await stderr}{await stdout}");
        using var json = JsonDocument.Parse(await stdout);
        return json.RootElement.GetProperty("Items").GetProperty("PackageReference").EnumerateArray()
            .Select(i => i.GetProperty("Identity").GetString()!).ToHashSet(StringComparer.Ordinal);
    }
}
