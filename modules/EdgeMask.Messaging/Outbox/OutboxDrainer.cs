using EdgeMask.Core.Resilience;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Polly;

namespace EdgeMask.Messaging.Outbox;

/// <summary>Retry timing of an <see cref="OutboxDrainer"/> (configuration section <c>Outbox:Drain</c>).</summary>
public sealed record OutboxDrainerOptions
{
    /// <summary>First wait after a failed publish; doubled after each further failure. Default 200 ms.</summary>
    public TimeSpan RetryMinDelay { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Longest wait between retries. Default 30 s.</summary>
    public TimeSpan RetryMaxDelay { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How often to look at <see cref="IOutboxTransport.IsConnected"/> while the transport is down. Default 250 ms.</summary>
    public TimeSpan DisconnectedPollInterval { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Messages read from the file per query (they are still sent one at a time). Default 64.</summary>
    public int ReadBatchSize { get; init; } = 64;

    public void Validate(string section = "Outbox:Drain")
    {
        if (RetryMinDelay <= TimeSpan.Zero) throw new MessagingOptionsException($"{section}:RetryMinDelay", "must be positive.");
        if (RetryMaxDelay < RetryMinDelay) throw new MessagingOptionsException($"{section}:RetryMaxDelay", "must not be below RetryMinDelay.");
        if (DisconnectedPollInterval <= TimeSpan.Zero) throw new MessagingOptionsException($"{section}:DisconnectedPollInterval", "must be positive.");
        if (ReadBatchSize is < 1 or > 10_000) throw new MessagingOptionsException($"{section}:ReadBatchSize", "must be between 1 and 10000.");
    }
}

/// <summary>
/// Drains one destination of a <see cref="SqliteOutbox"/> into its <see cref="IOutboxTransport"/>: strictly in sequence order,
/// one message in flight (so per-camera order holds even across retries), the delivery row removed only after the transport
/// acknowledged. Wakes as soon as something is enqueued; while the transport is down it waits; after a failure it retries the
/// same message through the device's one <see cref="RetryPolicy"/> (exponential, capped, jittered). <see cref="Start"/>
/// starts the loop, <see cref="DisposeAsync"/> stops it; it does not own the outbox or the transport.
/// </summary>
public sealed class OutboxDrainer : IAsyncDisposable
{
    private readonly SqliteOutbox _outbox;
    private readonly IOutboxTransport _transport;
    private readonly OutboxDrainerOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    // The publish in flight is not cut by the stop at once: cancelling an MQTT publish mid-packet closes the connection,
    // which the drainer may share (the module's IoT Hub client). It gets InFlightGrace, then it is cancelled.
    private readonly CancellationTokenSource _inFlight = new();
    private readonly ResiliencePipeline _retry;
    private Task _loop = Task.CompletedTask;
    private int _started;
    private bool _failing;
    private long _published, _rejected, _failures;

    public OutboxDrainer(SqliteOutbox outbox, IOutboxTransport transport, OutboxDrainerOptions? options = null,
        TimeProvider? timeProvider = null, ILogger<OutboxDrainer>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(outbox);
        ArgumentNullException.ThrowIfNull(transport);
        _options = options ?? new OutboxDrainerOptions();
        _options.Validate();
        if (!outbox.Destinations.Any(d => d.Name == transport.Destination))
            throw new MessagingOptionsException("Outbox:Destinations",
                $"has no destination '{transport.Destination}' for this transport (configured: {string.Join(", ", outbox.Destinations.Select(d => d.Name))}).");
        _outbox = outbox;
        _transport = transport;
        _time = timeProvider ?? TimeProvider.System;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        // A message the far end refused for good is dropped (not retried); a disposed outbox ends the loop.
        _retry = RetryPolicy.Create(new BackoffOptions { Initial = _options.RetryMinDelay, Max = _options.RetryMaxDelay }, _time,
            shouldRetry: e => e is not (OutboxMessageRejectedException or ObjectDisposedException or System.Threading.Channels.ChannelClosedException),
            onRetry: OnFailure);
    }

    /// <summary>Starts draining (once).</summary>
    public void Start()
    {
        if (_stop.IsCancellationRequested) throw new ObjectDisposedException(nameof(OutboxDrainer));
        if (Interlocked.Exchange(ref _started, 1) != 0) throw new InvalidOperationException($"The {Destination} drainer is already started.");
        _loop = Task.Run(() => RunAsync(_stop.Token));
    }

    public string Destination => _transport.Destination;

    /// <summary>Messages acknowledged by the transport and removed (since start).</summary>
    public long Published => Interlocked.Read(ref _published);

    /// <summary>Messages the transport refused for good and that were removed (since start).</summary>
    public long Rejected => Interlocked.Read(ref _rejected);

    /// <summary>Failed publish attempts that will be retried (since start).</summary>
    public long Failures => Interlocked.Read(ref _failures);

    /// <summary>Messages still waiting for this destination.</summary>
    public long Depth => _outbox.GetDepth(_transport.Destination);

    /// <summary>Raised on the drainer's thread after each acknowledged message (tests, live console). Keep handlers short.</summary>
    public event Action<OutboxMessage>? MessagePublished;

    /// <summary>Completes when the destination's depth is 0 (or throws on cancellation). Polls: for shutdown and tests.</summary>
    public async Task WaitUntilDrainedAsync(CancellationToken cancellationToken)
    {
        while (_outbox.GetDepth(_transport.Destination) > 0)
        {
            if (Volatile.Read(ref _started) == 0) throw new InvalidOperationException($"The {Destination} drainer is not started (call Start).");
            if (_loop.IsCompleted) throw new InvalidOperationException($"The {Destination} drainer stopped.", _loop.Exception);
            await Task.Delay(TimeSpan.FromMilliseconds(50), _time, cancellationToken).ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_stop.IsCancellationRequested) return;
        await _stop.CancelAsync().ConfigureAwait(false);
        _inFlight.CancelAfter(InFlightGrace);
        try
        {
            await _loop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // The loop ends by cancellation; nothing to report.
        }
        _stop.Dispose();
        _inFlight.Dispose();
    }

    /// <summary>How long a stop lets the message in flight finish before cancelling it.</summary>
    public static readonly TimeSpan InFlightGrace = TimeSpan.FromMilliseconds(500);

    private async Task RunAsync(CancellationToken ct)
    {
        try
        {
            while (!ct.IsCancellationRequested)
            {
                // A read failure (disk) is retried like a publish failure: the same backoff, the same log.
                var batch = await _retry.ExecuteAsync(static (self, token) => self.ReadBatchAsync(token), this, ct).ConfigureAwait(false);
                if (batch.Count == 0)
                {
                    await _outbox.WaitForPendingAsync(_transport.Destination, ct).ConfigureAwait(false);
                    continue;
                }
                foreach (var message in batch)
                {
                    if (ct.IsCancellationRequested) return;
                    try
                    {
                        // One execution per message: it stays first in line, retried until acknowledged or refused for good.
                        await _retry.ExecuteAsync(static (state, token) => state.self.PublishOneAsync(state.message, token), (self: this, message), ct)
                            .ConfigureAwait(false);
                        _outbox.Acknowledge(_transport.Destination, message.Sequence);
                        Interlocked.Increment(ref _published);
                        MessagePublished?.Invoke(message);
                        if (_failing)
                        {
                            _logger.LogInformation("Outbox destination {Destination} publishing again after {Failures} failed attempt(s)", Destination, Failures);
                            _failing = false;
                        }
                    }
                    catch (OutboxMessageRejectedException ex)
                    {
                        _outbox.Reject(_transport.Destination, message.Sequence);
                        Interlocked.Increment(ref _rejected);
                        _logger.LogWarning(ex, "Outbox destination {Destination} rejected message {Sequence} ({Kind}, topic {Topic}): {Reason}; dropped it",
                            Destination, message.Sequence, message.Kind, message.Topic, ex.Reason);
                    }
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Stopping: what was not acknowledged stays in the outbox for the next start.
        }
        catch (Exception ex) when (ex is ObjectDisposedException or System.Threading.Channels.ChannelClosedException)
        {
            // The outbox was closed (its owner stops it after the drainers; a test may close it first): nothing left to drain.
            _logger.LogDebug("Outbox destination {Destination} stopped: the outbox is closed", Destination);
        }
    }

    private ValueTask<IReadOnlyList<OutboxMessage>> ReadBatchAsync(CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        return ValueTask.FromResult(_outbox.PeekPending(_transport.Destination, _options.ReadBatchSize));
    }

    private async ValueTask PublishOneAsync(OutboxMessage message, CancellationToken ct)
    {
        // While the transport is down there is nothing to try: wait for it (it reconnects by itself) without counting failures.
        while (!_transport.IsConnected) await Task.Delay(_options.DisconnectedPollInterval, _time, ct).ConfigureAwait(false);
        await _transport.PublishAsync(message, _inFlight.Token).ConfigureAwait(false);
        // Acknowledged while stopping: it is delivered, and the loop ends after recording it.
    }

    private void OnFailure(RetryAttempt attempt)
    {
        Interlocked.Increment(ref _failures);
        if (attempt.Attempt == 1 && !_failing)
            _logger.LogWarning("Outbox destination {Destination} failed: {Error}; retrying with backoff up to {MaxDelay}",
                Destination, attempt.Error.Message, _options.RetryMaxDelay);
        else
            _logger.LogDebug("Outbox destination {Destination} attempt {Attempt} failed: {Error}; next in {DelaySeconds:0.0} s", Destination, attempt.Attempt, attempt.Error.Message, attempt.Delay.TotalSeconds);
        _failing = true;
    }
}
