using EdgeMask.Bench;

// `e2e [frames] [warm-up frames] [--spin] [--threads N]`: the end-to-end pipeline measurement (the video loops when
// frames exceed it). `stages [frames]`: managed allocations per pipeline stage. `soak [minutes] [--interval S]
// [--realtime] [--no-snapshots] [--mqtt-port N] [--threads N] [--csv FILE] [--glibc-defaults]`: the device runtime on the looping sample,
// memory, handles and threads every interval. Anything else goes to BenchmarkDotNet.
if (args.Length > 0 && args[0] == "e2e")
{
    var positional = new List<int>();
    bool spinning = false;
    int threads = 0;
    for (int i = 1; i < args.Length; i++)
    {
        if (args[i] == "--spin") spinning = true;
        else if (args[i] == "--threads" && i + 1 < args.Length) threads = int.Parse(args[++i]);
        else positional.Add(int.Parse(args[i]));
    }
    return EndToEndMeasurement.Run(positional.Count > 0 ? positional[0] : int.MaxValue, positional.Count > 1 ? positional[1] : 36, spinning, threads);
}
if (args.Length > 0 && args[0] == "soak")
    return await SoakMeasurement.RunAsync(args);
if (args.Length > 0 && args[0] == "stages")
    return StageAllocationMeasurement.Run(args.Length > 1 ? int.Parse(args[1]) : int.MaxValue);
BenchmarkDotNet.Running.BenchmarkSwitcher.FromAssembly(typeof(EndToEndMeasurement).Assembly).Run(args);
return 0;
