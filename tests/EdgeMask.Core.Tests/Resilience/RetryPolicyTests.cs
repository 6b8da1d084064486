using EdgeMask.Core.Resilience;
using EdgeMask.Core.Tracking;
using Microsoft.Extensions.Time.Testing;

namespace EdgeMask.Core.Tests.Resilience;

public sealed class RetryPolicyTests
{
    private static readonly BackoffOptions Backoff = new() { Initial = TimeSpan.FromSeconds(1), Max = TimeSpan.FromSeconds(8) };

    [Fact]
    public async Task Execute_FailsThenSucceeds_WaitsOnTheTimeProviderBetweenAttempts()
    {
        var time = new FakeTimeProvider();
        var attempts = new List<RetryAttempt>();
        var pipeline = RetryPolicy.Create(Backoff, time, onRetry: attempts.Add);
        int calls = 0;
        var run = pipeline.ExecuteAsync(_ => ++calls < 3 ? throw new IOException("down") : ValueTask.CompletedTask).AsTask();

        Assert.Equal(1, calls);
        Assert.False(run.IsCompleted);
        time.Advance(attempts[0].Delay);
        await Eventually(() => calls == 2);
        time.Advance(attempts[1].Delay);
        await run;
        Assert.Equal(3, calls);
        Assert.Equal([1, 2], attempts.Select(a => a.Attempt));
        Assert.All(attempts, a => Assert.IsType<IOException>(a.Error));
    }

    /// <summary>The retry continues on the thread pool once the fake clock fires its timer.</summary>
    private static async Task Eventually(Func<bool> condition)
    {
        for (int i = 0; i < 500 && !condition(); i++) await Task.Delay(10);
        Assert.True(condition());
    }

    [Fact]
    public async Task Execute_ManyFailures_DelaysStayWithinTheCapAndAreJittered()
    {
        var time = new FakeTimeProvider();
        var delays = new List<TimeSpan>();
        var pipeline = RetryPolicy.Create(Backoff, time, onRetry: a => delays.Add(a.Delay));
        int calls = 0;
        var run = pipeline.ExecuteAsync(_ => ++calls <= 40 ? throw new IOException("down") : ValueTask.CompletedTask).AsTask();
        while (!run.IsCompleted) time.Advance(TimeSpan.FromSeconds(1));
        await run;

        Assert.Equal(40, delays.Count);
        Assert.All(delays, d => Assert.InRange(d, TimeSpan.Zero, Backoff.Max * 1.2));
        // Exponential: late delays sit near the cap, far above the first one; jittered: they are not all the same.
        Assert.True(delays.Skip(20).Average(d => d.TotalSeconds) > 3 * delays[0].TotalSeconds,
            string.Join(", ", delays.Select(d => d.TotalSeconds.ToString("0.00"))));
        Assert.True(delays.Skip(20).Distinct().Count() > 1);
    }

    [Fact]
    public async Task Execute_MaxAttemptsReached_ThrowsTheLastError()
    {
        var time = new FakeTimeProvider();
        var pipeline = RetryPolicy.Create(Backoff with { MaxAttempts = 2 }, time);
        int calls = 0;
        var run = pipeline.ExecuteAsync(_ => throw new IOException($"down {++calls}")).AsTask();
        while (!run.IsCompleted) time.Advance(TimeSpan.FromSeconds(1));

        var error = await Assert.ThrowsAsync<IOException>(() => run);
        Assert.Equal("down 3", error.Message);
    }

    [Fact]
    public async Task Execute_ErrorNotTransient_ThrowsWithoutRetry()
    {
        var pipeline = RetryPolicy.Create(Backoff, new FakeTimeProvider(), shouldRetry: e => e is IOException);
        int calls = 0;
        await Assert.ThrowsAsync<InvalidDataException>(() => pipeline.ExecuteAsync(_ => { calls++; throw new InvalidDataException("bad"); }).AsTask());
        Assert.Equal(1, calls);
    }

    [Fact]
    public async Task Execute_CancelledWhileWaiting_StopsWithCancellation()
    {
        var time = new FakeTimeProvider();
        using var stop = new CancellationTokenSource();
        var pipeline = RetryPolicy.Create(Backoff, time);
        int calls = 0;
        var run = pipeline.ExecuteAsync(_ => { calls++; throw new IOException("down"); }, stop.Token).AsTask();
        await stop.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);
        Assert.Equal(1, calls);
    }

    [Theory]
    [InlineData(0, 0.5, 1000)]
    [InlineData(2, 0.5, 4000)]
    [InlineData(3, 0.0, 6400)]
    [InlineData(20, 0.5, 8000)]
    [InlineData(20, 0.999, 9597)]
    [InlineData(int.MaxValue, 0.0, 6400)]
    public void DelayFor_Attempt_ExponentialCappedWithTwentyPercentJitter(int attempt, double random, int expectedMs)
    {
        Assert.Equal(expectedMs, RetryPolicy.DelayFor(Backoff, attempt, random).TotalMilliseconds, 0);
    }

    [Theory]
    [InlineData(0, 30, null, "cap:initialBackoff")]
    [InlineData(5, 1, null, "cap:maxBackoff")]
    [InlineData(1, 30, 0, "cap:maxAttempts")]
    public void Validate_OutOfRange_NamesTheKey(int initialSeconds, int maxSeconds, int? maxAttempts, string key)
    {
        var options = new BackoffOptions { Initial = TimeSpan.FromSeconds(initialSeconds), Max = TimeSpan.FromSeconds(maxSeconds), MaxAttempts = maxAttempts };
        Assert.Equal(key, Assert.Throws<InvalidOptionException>(() => options.Validate("cap")).Key);
    }
}
