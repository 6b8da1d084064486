namespace EdgeMask.Dashboard.Tests.Support;

/// <summary>Polls a condition until it holds or a generous deadline passes (CI machines are slow and shared).</summary>
internal static class Eventually
{
    public static async Task<T> UntilAsync<T>(Func<Task<T>> probe, Func<T, bool> done, string what, TimeSpan? timeout = null,
        Func<string>? diagnostics = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(20));
        while (true)
        {
            var value = await probe();
            if (done(value))
            {
                return value;
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Timed out waiting for {what}; last value: {value}" + (diagnostics is null ? "" : "; " + diagnostics()));
            }
            await Task.Delay(50);
        }
    }
}
