using EdgeMask.Bench;

// `e2e [frames] [warm-up frames]` (the video loops when frames exceed it) runs the end-to-end pipeline measurement; anything else goes to BenchmarkDotNet.
if (args.Length > 0 && args[0] == "e2e")
{
    // e2e [frames] [warm-up frames] [--spin] [--threads N]
    int threadsAt = Array.IndexOf(args, "--threads");
    var positional = args.Skip(1).Where((a, i) => !a.StartsWith("--", StringComparison.Ordinal) && i + 1 != threadsAt + 1).ToList();
    return EndToEndMeasurement.Run(positional.Count > 0 ? int.Parse(positional[0]) : int.MaxValue, positional.Count > 1 ? int.Parse(positional[1]) : 36,
        spinning: args.Contains("--spin"), threads: threadsAt > 0 ? int.Parse(args[threadsAt + 1]) : 0);
}
// `stages [frames]` reports managed allocations per pipeline stage.
if (args.Length > 0 && args[0] == "stages")
    return StageAllocationMeasurement.Run(args.Length > 1 ? int.Parse(args[1]) : int.MaxValue);
BenchmarkDotNet.Running.BenchmarkSwitcher.FromAssembly(typeof(EndToEndMeasurement).Assembly).Run(args);
return 0;
