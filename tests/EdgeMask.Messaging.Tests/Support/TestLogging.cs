using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace EdgeMask.Messaging.Tests.Support;

public sealed record LogEntry(LogLevel Level, string Category, string? Template, string Message, Exception? Exception);

/// <summary>Loggers that write to the xunit output and keep every entry (with its template) for assertions.</summary>
public sealed class TestLoggerFactory(ITestOutputHelper? output) : ILoggerFactory
{
    internal ITestOutputHelper? Output { get; } = output;

    public ConcurrentQueue<LogEntry> Entries { get; } = new();

    public ILogger CreateLogger(string categoryName) => new TestLogger(this, categoryName);

    public ILogger<T> CreateLogger<T>() => new Logger<T>(this);

    public void AddProvider(ILoggerProvider provider) => throw new NotSupportedException();

    public void Dispose() { }

    private sealed class TestLogger(TestLoggerFactory owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var template = state is IReadOnlyList<KeyValuePair<string, object?>> kv
                ? kv.FirstOrDefault(p => p.Key == "{OriginalFormat}").Value as string
                : null;
            var message = formatter(state, exception);
            owner.Entries.Enqueue(new LogEntry(logLevel, category, template, message, exception));
            try
            {
                owner.Output?.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} {logLevel,-11} {category.Split('.').Last()}: {message}");
            }
            catch (InvalidOperationException)
            {
                // The test already finished; a background loop logged late. Nothing to write to.
            }
        }
    }
}
