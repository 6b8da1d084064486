using System.CommandLine;
using System.Diagnostics;

namespace EdgeMask.Module.Cli;

/// <summary>
/// <c>edgemask train …</c> forwards to the <c>edgemask-train</c> program (modules/EdgeMask.Training). Training lives in its
/// own program so the module never carries libtorch (≈700 MB); this command finds it beside this program, on PATH,
/// or in the checkout's build output.
/// </summary>
internal static class TrainCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var rest = new Argument<string[]>("arguments") { Description = "Arguments for edgemask-train (e.g. classifier --help).", Arity = ArgumentArity.ZeroOrMore };
        var command = new Command("train", "Train the mask classifier or fine-tune the detector (runs edgemask-train).") { rest };
        command.TreatUnmatchedTokensAsErrors = false;
        command.SetAction(async (r, ct) =>
        {
            var args = (r.GetValue(rest) ?? []).Concat(r.UnmatchedTokens).ToArray();
            string? program = Locate();
            if (program is null)
            {
                stderr.WriteLine("error: edgemask-train is not part of this build. From a checkout: ./edgemask train … builds it; or `dotnet build modules/EdgeMask.Training` and set EDGEMASK_TRAIN to its output.");
                return EdgeMaskCommandLine.ExitFatal;
            }
            var psi = new ProcessStartInfo(program) { UseShellExecute = false };
            foreach (var a in args) psi.ArgumentList.Add(a);
            using var process = Process.Start(psi) ?? throw new InvalidOperationException($"Could not start {program}.");
            await process.WaitForExitAsync(ct);
            return process.ExitCode;
        });
        return command;
    }

    private static string? Locate() => SiblingProgram.Locate("edgemask-train", "EDGEMASK_TRAIN", "EdgeMask.Training");
}
