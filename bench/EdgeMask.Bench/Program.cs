using EdgeMask.Bench;

// `e2e [frames]` runs the end-to-end pipeline measurement; anything else goes to BenchmarkDotNet.
if (args.Length > 0 && args[0] == "e2e")
    return EndToEndMeasurement.Run(args.Length > 1 ? int.Parse(args[1]) : int.MaxValue);
BenchmarkDotNet.Running.BenchmarkSwitcher.FromAssembly(typeof(EndToEndMeasurement).Assembly).Run(args);
return 0;
