using System.Globalization;

namespace EdgeMask.Training.Training;

/// <summary>What every trainer shows while it runs: a one-line progress bar on a terminal, and a timestamped log file.</summary>
internal static class TrainingProgress
{
    /// <summary>One timestamped line of <c>train.log</c>.</summary>
    public static void Log(StreamWriter log, string line) =>
        log.WriteLine($"{DateTimeOffset.UtcNow:yyyy-MM-ddTHH:mm:ssZ} {line}");

    /// <summary>Redraws the bar of the current epoch (only when stderr is a terminal: a log file would get every frame).</summary>
    public static void Bar(int epoch, int done, int total, double loss)
    {
        if (Console.IsErrorRedirected) return;
        int width = 30, filled = done * width / total;
        Console.Error.Write(string.Create(CultureInfo.InvariantCulture,
            $"\repoch {epoch} [{new string('#', filled)}{new string('.', width - filled)}] {done}/{total} loss {loss:0.0000} "));
    }

    /// <summary>Ends the bar's line before the epoch's summary is logged.</summary>
    public static void EndBar()
    {
        if (!Console.IsErrorRedirected) Console.Error.WriteLine();
    }
}
