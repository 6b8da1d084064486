using EdgeMask.Core.Tracking;
using Polly;
using Polly.Retry;

namespace EdgeMask.Core.Resilience;

/// <summary>
/// How a reconnect or retry loop waits between attempts: exponential from <see cref="Initial"/>, capped at
/// <see cref="Max"/>, with jitter so that a fleet of devices (or the cameras of one device) that lost the same
/// broker or network do not come back in lockstep. <see cref="MaxAttempts"/> null retries until cancelled.
/// </summary>
public sealed record BackoffOptions
{
    public TimeSpan Initial { get; init; } = TimeSpan.FromSeconds(1);
    public TimeSpan Max { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>Retries after the first failure before giving up; null: until cancelled.</summary>
    public int? MaxAttempts { get; init; }

    /// <summary>Checks the values; <paramref name="section"/> is the configuration section the keys are reported under.</summary>
    public BackoffOptions Validate(string section)
    {
        if (Initial < TimeSpan.FromMilliseconds(1) || Initial > TimeSpan.FromHours(1))
            throw new InvalidOptionException($"{section}:initialBackoff", Initial, "must be between 1 ms and 1 hour.");
        if (Max < Initial || Max > TimeSpan.FromHours(1))
            throw new InvalidOptionException($"{section}:maxBackoff", Max, "must be at least the initial backoff and at most 1 hour.");
        if (MaxAttempts is < 1)
            throw new InvalidOptionException($"{section}:maxAttempts", MaxAttempts, "must be at least 1 (leave it unset to retry until stopped).");
        return this;
    }
}

/// <summary>One failed attempt, as a retry loop reports it (log, health, metrics) before it waits.</summary>
/// <param name="Attempt">1 for the first retry after the first failure.</param>
/// <param name="Delay">How long the loop waits before the next attempt.</param>
/// <param name="Error">What failed.</param>
public readonly record struct RetryAttempt(int Attempt, TimeSpan Delay, Exception Error);

/// <summary>
/// The one retry policy of the device and the dashboard: every reconnect and redelivery loop (camera capture, MQTT
/// publisher, outbox drainer, IoT Hub client, dashboard ingest) waits through a pipeline made here, so they all back
/// off the same way, with jitter, and on the injected <see cref="TimeProvider"/> (tests advance time instead of
/// sleeping). Built on Polly's retry strategy with the delays of <see cref="DelayFor"/>.
/// </summary>
public static class RetryPolicy
{
    /// <summary>
    /// A pipeline that runs an operation until it succeeds, <paramref name="backoff"/> runs out of attempts (the last
    /// error is thrown), or the operation's cancellation token fires (<see cref="OperationCanceledException"/> is never
    /// retried). Each execution starts again at the initial delay: use one <c>ExecuteAsync</c> per outage.
    /// </summary>
    /// <param name="shouldRetry">Which errors are transient; null: every error but cancellation.</param>
    /// <param name="onRetry">Called after each failure, before the wait (runs on the failing attempt's thread).</param>
    public static ResiliencePipeline Create(BackoffOptions backoff, TimeProvider time, Func<Exception, bool>? shouldRetry = null,
        Action<RetryAttempt>? onRetry = null)
    {
        ArgumentNullException.ThrowIfNull(backoff);
        ArgumentNullException.ThrowIfNull(time);
        var retry = new RetryStrategyOptions
        {
            ShouldHandle = new PredicateBuilder().Handle<Exception>(e => e is not OperationCanceledException && (shouldRetry?.Invoke(e) ?? true)),
            MaxRetryAttempts = backoff.MaxAttempts ?? int.MaxValue,
            DelayGenerator = args => ValueTask.FromResult<TimeSpan?>(DelayFor(backoff, args.AttemptNumber, Random.Shared.NextDouble())),
            OnRetry = args =>
            {
                onRetry?.Invoke(new RetryAttempt(args.AttemptNumber + 1, args.RetryDelay, args.Outcome.Exception!));
                return default;
            },
        };
        return new ResiliencePipelineBuilder { TimeProvider = time }.AddRetry(retry).Build();
    }

    /// <summary>
    /// The wait before retry <paramref name="attempt"/> (0-based): <c>initial · 2^attempt</c>, capped, then ±20 % from
    /// <paramref name="unitRandom"/> in [0, 1). Polly's own jittered backoff clamps to its cap without jitter, so
    /// devices that have been down long enough would all retry on the same beat; this keeps the spread at the cap.
    /// </summary>
    public static TimeSpan DelayFor(BackoffOptions backoff, int attempt, double unitRandom)
    {
        double exponential = backoff.Initial.TotalMilliseconds * Math.Pow(2, Math.Min(attempt, 30));
        double capped = Math.Min(exponential, backoff.Max.TotalMilliseconds);
        return TimeSpan.FromMilliseconds(capped * (0.8 + 0.4 * unitRandom));
    }
}
