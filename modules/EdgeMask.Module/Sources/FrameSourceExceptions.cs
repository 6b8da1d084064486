namespace EdgeMask.Module.Sources;

/// <summary>
/// A frame source cannot be opened: a missing file, an absent device, a refused or unreachable URL, a missing
/// ffmpeg. <see cref="FrameSource"/> names it (credentials hidden) and the message says what to check.
/// </summary>
/// <param name="permanent">Opening can never succeed without a change on this device (the program that decodes the
/// source is not installed): not retried even for a live source. Everything else a live source reports (refused,
/// unreachable, absent device, no video yet) may clear by itself and is retried with backoff.</param>
public sealed class FrameSourceUnavailableException(string source, string problem, string hint, Exception? inner = null, bool permanent = false)
    : Exception($"Cannot open frame source '{source}': {problem}. {hint}", inner)
{
    public string FrameSource { get; } = source;
    public string Problem { get; } = problem;
    public string Hint { get; } = hint;
    public bool IsPermanent { get; } = permanent;
}

/// <summary>An open source failed while reading (device unplugged, stream ended with an error, decoder gave up).</summary>
public sealed class FrameSourceReadException(string source, string problem, Exception? inner = null)
    : Exception($"Reading frame source '{source}' failed: {problem}", inner)
{
    public string FrameSource { get; } = source;
    public string Problem { get; } = problem;
}
