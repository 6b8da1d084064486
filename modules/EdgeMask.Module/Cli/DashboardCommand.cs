using System.CommandLine;
using System.Diagnostics;

namespace EdgeMask.Module.Cli;

/// <summary>
/// <c>edgemask dashboard …</c> starts the events dashboard (<c>edgemask-dashboard</c>, modules/EdgeMask.Dashboard) with the
/// remaining arguments. The dashboard is its own ASP.NET Core program so the module image does not carry it.
/// </summary>
internal static class DashboardCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var rest = new Argument<string[]>("arguments") { Description = "Arguments for edgemask-dashboard (run, hash-password, new-api-key, --Dashboard:…=…).", Arity = ArgumentArity.ZeroOrMore };
        var command = new Command("dashboard", "Start the events dashboard (runs edgemask-dashboard).") { rest };
        command.TreatUnmatchedTokensAsErrors = false;
        command.SetAction(async (r, ct) =>
        {
            var args = (r.GetValue(rest) ?? []).Concat(r.UnmatchedTokens).ToArray();
            string? program = SiblingProgram.Locate("edgemask-dashboard", "EDGEMASK_DASHBOARD", "EdgeMask.Dashboard");
            if (program is null)
            {
                stderr.WriteLine("error: edgemask-dashboard is not part of this build. From a checkout: `dotnet run --project modules/EdgeMask.Dashboard`, or set EDGEMASK_DASHBOARD to the built program.");
                return EdgeMaskCommandLine.ExitFatal;
            }
            var psi = new ProcessStartInfo(program) { UseShellExecute = false };
            foreach (var a in args) psi.ArgumentList.Add(a);
            using var process = Process.Start(psi) ?? throw new InvalidOperationException($"Could not start {program}.");
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
}

/// <summary>Finds a program built from another project of the solution: env override, beside this one, on PATH, or in the checkout.</summary>
internal static class SiblingProgram
{
    public static string? Locate(string name, string environmentVariable, string projectFolder)
    {
        var candidates = new List<string?> { Environment.GetEnvironmentVariable(environmentVariable), Path.Combine(AppContext.BaseDirectory, name) };
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
            candidates.Add(Path.Combine(dir, name));
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            candidates.Add(Path.Combine(d.FullName, "artifacts", "bin", name, name));
            foreach (var config in new[] { "Release", "Debug" })
                candidates.Add(Path.Combine(d.FullName, "modules", projectFolder, "bin", config, "net10.0", name));
        }
        return candidates.FirstOrDefault(c => c is not null && File.Exists(c));
    }
}
