using EdgeMask.Bench;

// `e2e [frames] [warm-up frames]` (the video loops when frames exceed it) runs the end-to-end pipeline measurement; anything else goes to BenchmarkDotNet.
if (args.Length > 0 && args[0] == "e2e")
    return EndToEndMeasurement.Run(args.Length > 1 ? int.Parse(args[1]) : int.MaxValue, args.Length > 2 ? int.Parse(args[2]) : 36);
// `stages [frames]` reports managed allocations per pipeline stage.
if (args.Length > 0 && args[0] == "stages")
    return StageAllocationMeasurement.Run(args.Length > 1 ? int.Parse(args[1]) : int.MaxValue);
BenchmarkDotNet.Running.BenchmarkSwitcher.FromAssembly(typeof(EndToEndMeasurement).Assembly).Run(args);
return 0;
