using System.CommandLine;

namespace EdgeMask.Module.Cli;

/// <summary>The <c>edgemask</c> program's commands.</summary>
public static class EdgeMaskCommandLine
{
    /// <summary>Exit codes: 0 everything worked; 1 some inputs failed (the rest were processed); 2 nothing could run.</summary>
    public const int ExitOk = 0, ExitSomeFailed = 1, ExitFatal = 2;

    public static RootCommand Build(TextWriter stdout, TextWriter stderr)
    {
        var root = new RootCommand("EdgeMask: face-mask compliance at the edge (RetinaFace + ResNet on ONNX Runtime).");
        root.Add(DetectCommand.Create(stdout, stderr));
        root.Add(RunCommand.Create(stdout, stderr));
        root.Add(ClassifyCommand.Create(stdout, stderr));
        root.Add(EvalCommand.Create(stdout, stderr));
        root.Add(ForwardingCommand.Create("train", "Train the mask classifier (runs edgemask-train; `edgemask train -- classifier --help` shows its options).",
            "edgemask-train", "EDGEMASK_TRAIN", "EdgeMask.Training",
            "From a checkout: `dotnet build modules/EdgeMask.Training`, or set EDGEMASK_TRAIN to the built program.", stderr));
        root.Add(AlarmCommand.Create(stdout, stderr));
        root.Add(ForwardingCommand.Create("dashboard", "Start the events dashboard (runs edgemask-dashboard).",
            "edgemask-dashboard", "EDGEMASK_DASHBOARD", "EdgeMask.Dashboard",
            "From a checkout: `dotnet run --project modules/EdgeMask.Dashboard`, or set EDGEMASK_DASHBOARD to the built program.", stderr));
        root.Add(ModuleCommand.Create(stdout, stderr));
        return root;
    }

    public static async Task<int> RunAsync(string[] args, TextWriter? stdout = null, TextWriter? stderr = null)
    {
        stdout ??= Console.Out;
        stderr ??= Console.Error;
        var root = Build(stdout, stderr);
        var parse = root.Parse(args);
        // run and module are Generic Host programs: their ConsoleLifetime turns SIGTERM and Ctrl+C into the host's ordered
        // stop, and the process exits with the command's code. System.CommandLine's own handler would race it and
        // end the process with 143 after its timeout, so it is off for them; the other commands keep it (cancellation).
        bool hosted = parse.CommandResult.Command.Name is "run" or "module";
        var config = new InvocationConfiguration { Output = stdout, Error = stderr, ProcessTerminationTimeout = hosted ? null : TimeSpan.FromSeconds(25) };
        return await parse.InvokeAsync(config);
    }
}
