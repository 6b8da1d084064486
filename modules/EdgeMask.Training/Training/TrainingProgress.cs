using System.Globalization;
using OpenCvSharp;
using TorchSharp;

namespace EdgeMask.Training.Training;

/// <summary>What every trainer shows while it runs: a one-line progress bar on a terminal, and a timestamped log file.</summary>
internal static class TrainingProgress
{
    /// <summary>
    /// What every run does first: libtorch's thread count and seed, OpenCV single-threaded (the data loop runs beside
    /// libtorch's threads), the work folder, and <c>train.log</c> opened for appending with the run's command line.
    /// </summary>
    public static StreamWriter StartRun(int threads, int seed, string workDirectory, string commandLine)
    {
        torch.set_num_threads(threads);
        Cv2.SetNumThreads(1);
        torch.manual_seed(seed);
        Directory.CreateDirectory(workDirectory);
        var log = new StreamWriter(Path.Combine(workDirectory, "train.log"), append: true) { AutoFlush = true };
        Log(log, $"start {DateTimeOffset.UtcNow:O} {commandLine}");
        return log;
    }

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
