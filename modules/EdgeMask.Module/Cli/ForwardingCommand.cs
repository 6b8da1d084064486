using System.CommandLine;
using System.Diagnostics;

namespace EdgeMask.Module.Cli;

/// <summary>
/// A command that runs another program of the solution with the remaining arguments: <c>edgemask train …</c> runs
/// <c>edgemask-train</c> (so the module never carries libtorch) and <c>edgemask dashboard …</c> runs
/// <c>edgemask-dashboard</c> (so the module image does not carry the web app).
/// </summary>
internal static class ForwardingCommand
{
    public static Command Create(string name, string description, string program, string environmentVariable, string projectFolder,
        string missingHint, TextWriter stderr)
    {
        var rest = new Argument<string[]>("arguments") { Description = $"Arguments for {program}.", Arity = ArgumentArity.ZeroOrMore };
        var command = new Command(name, description) { rest };
        command.TreatUnmatchedTokensAsErrors = false;
        command.SetAction(async (r, ct) =>
        {
            var args = (r.GetValue(rest) ?? []).Concat(r.UnmatchedTokens).ToArray();
            string? path = Locate(program, environmentVariable, projectFolder);
            if (path is null)
            {
                stderr.WriteLine($"error: {program} is not part of this build. {missingHint}");
                return EdgeMaskCommandLine.ExitFatal;
            }
            var psi = new ProcessStartInfo(path) { UseShellExecute = false };
            foreach (var a in args) psi.ArgumentList.Add(a);
            using var process = Process.Start(psi) ?? throw new InvalidOperationException($"Could not start {path}.");
            try
            {
                await process.WaitForExitAsync(ct);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw;
            }
            return process.ExitCode;
        });
        return command;
    }

    /// <summary>The environment override, beside this program, on PATH, or in the checkout's build output.</summary>
    internal static string? Locate(string program, string environmentVariable, string projectFolder)
    {
        var candidates = new List<string?> { Environment.GetEnvironmentVariable(environmentVariable), Path.Combine(AppContext.BaseDirectory, program) };
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
            candidates.Add(Path.Combine(dir, program));
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            candidates.Add(Path.Combine(d.FullName, "artifacts", "bin", program, program));
            foreach (var config in new[] { "Release", "Debug" })
                candidates.Add(Path.Combine(d.FullName, "modules", projectFolder, "bin", config, "net10.0", program));
        }
        return candidates.FirstOrDefault(c => c is not null && File.Exists(c));
    }
}
