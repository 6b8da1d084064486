using EdgeMask.Inference.Runtime;
using EdgeMask.Tests.Shared;
using Microsoft.Extensions.Logging;

namespace EdgeMask.Inference.Tests.Runtime;

/// <summary>
/// This machine (and CI) has no GPU and the CPU build of ONNX Runtime: TensorRT and CUDA must fall back to CPU with a
/// logged reason, or fail clearly when the caller insists.
/// </summary>
public class ExecutionProviderFallbackTests
{
    [Theory]
    [InlineData(ExecutionProviderKind.TensorRT)]
    [InlineData(ExecutionProviderKind.Cuda)]
    [InlineData(ExecutionProviderKind.Auto)]
    public void Create_GpuProviderUnavailable_FallsBackToCpuAndSaysWhy(ExecutionProviderKind preference)
    {
        var logger = new RecordingLogger();
        using var session = OnnxSessionFactory.Create(TestPaths.DetectorModel, new ExecutionProviderOptions { Preference = preference }, logger);
        Assert.Equal(ExecutionProviderKind.Cpu, session.ActiveProvider);
        var skipped = session.Attempts.Where(a => !a.Succeeded).ToList();
        Assert.NotEmpty(skipped);
        Assert.All(skipped, a => Assert.False(string.IsNullOrWhiteSpace(a.Reason)));
        Assert.Contains(logger.Lines, l => l.Contains("runs on execution provider cpu"));
        var expectedLevel = preference == ExecutionProviderKind.Auto ? LogLevel.Information : LogLevel.Warning;
        Assert.Contains(logger.Entries, e => e.Level == expectedLevel && e.Message.Contains("skipped"));
        if (preference == ExecutionProviderKind.Cuda)
            Assert.DoesNotContain(session.Attempts, a => a.Provider == ExecutionProviderKind.TensorRT);
    }

    [Theory]
    [InlineData(ExecutionProviderKind.TensorRT, "tensorrt")]
    [InlineData(ExecutionProviderKind.Cuda, "cuda")]
    public void Create_StrictAndUnavailable_ThrowsNamingTheProvider(ExecutionProviderKind preference, string name)
    {
        var ex = Assert.Throws<ExecutionProviderUnavailableException>(() =>
            OnnxSessionFactory.Create(TestPaths.DetectorModel, new ExecutionProviderOptions { Preference = preference, Strict = true }, new RecordingLogger()));
        Assert.Contains($"'{name}'", ex.Message);
        Assert.Equal(preference, ex.Provider);
    }

    [Theory]
    [InlineData("auto", ExecutionProviderKind.Auto)]
    [InlineData("TensorRT", ExecutionProviderKind.TensorRT)]
    [InlineData("cuda", ExecutionProviderKind.Cuda)]
    [InlineData("cpu", ExecutionProviderKind.Cpu)]
    public void Parse_KnownNames_Parsed(string text, ExecutionProviderKind expected) => Assert.Equal(expected, ExecutionProviderOptions.Parse(text));

    [Fact]
    public void Parse_Unknown_ListsTheChoices()
    {
        var ex = Assert.Throws<ArgumentException>(() => ExecutionProviderOptions.Parse("opencl"));
        Assert.Contains("auto, tensorrt, cuda or cpu", ex.Message);
    }

    [Fact]
    public void Candidates_TensorRtNotStrict_TriesCudaThenCpu() =>
        Assert.Equal([ExecutionProviderKind.TensorRT, ExecutionProviderKind.Cuda, ExecutionProviderKind.Cpu],
            new ExecutionProviderOptions { Preference = ExecutionProviderKind.TensorRT }.Candidates());

    internal sealed class RecordingLogger : ILogger
    {
        public List<(LogLevel Level, string Message)> Entries { get; } = [];
        public IEnumerable<string> Lines => Entries.Select(e => e.Message);
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Entries.Add((logLevel, formatter(state, exception)));
    }
}
