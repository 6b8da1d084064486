using System.Globalization;
using EdgeMask.Bench;

// `e2e [frames] [warm-up frames] [--spin] [--threads N] [--detector FILE|stock|default [--scale S] [--classify-all] [--settled N]]… [--scenes]`: the
// end-to-end pipeline measurement (the video loops when frames exceed it), for each --detector given (each followed by
// its --scale), or by default the stock detector ×1 and the manifest's default ×1 side by side. `scenes [--realtime]
// [--detector FILE|stock] [--scale S] [--detect-every N] [--config FILE] [--record FILE] [--replay FILE] [--totals] [--starts]`: violation starts
// per scene against the sample's scene table. `stages [frames]`: managed allocations per pipeline stage. `soak
// [minutes] [--interval S] [--realtime] [--no-snapshots] [--mqtt-port N] [--threads N] [--csv FILE] [--glibc-defaults]`:
// the device runtime on the looping sample, memory, handles and threads every interval. `classifiers FILE FILE… [--rounds R]
// [--batch N] [--threads T]`: per-face cost of classifier files measured in alternation (float vs int8 under the same
// load). `cameras N [frames] [--threads T]…`: N cameras sharing one model set, each on its own thread, as fast as
// possible, per thread setting (default: the device's share and all CPUs). Anything else goes to BenchmarkDotNet.
if (args.Length > 0 && args[0] == "e2e")
{
    var positional = new List<int>();
    var configs = new List<EndToEndConfig>();
    bool spinning = false, perScene = false;
    int threads = 0;
    for (int i = 1; i < args.Length; i++)
    {
        switch (args[i])
        {
            case "--spin": spinning = true; break;
            case "--scenes": perScene = true; break;
            case "--settled":
                // classifier.settledEveryNthFrame for the configuration before.
                int every = int.Parse(args[++i], CultureInfo.InvariantCulture);
                if (configs.Count == 0) configs.Add(new EndToEndConfig("default ×1", null, 1f));
                configs[^1] = configs[^1] with { SettledEveryNthFrame = every, Label = configs[^1].Label + $" settled/{every}" };
                break;
            case "--classify-all":
                // The configuration before: classify every face on every frame (as before issue 16).
                if (configs.Count == 0) configs.Add(new EndToEndConfig("default ×1", null, 1f));
                configs[^1] = configs[^1] with { ClassifySmallFaces = true, Label = configs[^1].Label + " classify-all" };
                break;
            case "--threads": threads = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
            case "--detector":
                string file = args[++i];
                configs.Add(new EndToEndConfig($"{file} ×1", file == "default" ? null : file, 1f));
                break;
            case "--scale":
                float scale = float.Parse(args[++i], CultureInfo.InvariantCulture);
                if (configs.Count == 0) configs.Add(new EndToEndConfig("default", null, scale));
                configs[^1] = configs[^1] with { Scale = scale, Label = $"{configs[^1].Label.Split(' ')[0]} ×{scale.ToString(CultureInfo.InvariantCulture)}" };
                break;
            default: positional.Add(int.Parse(args[i], CultureInfo.InvariantCulture)); break;
        }
    }
    return EndToEndMeasurement.Run(positional.Count > 0 ? positional[0] : int.MaxValue, positional.Count > 1 ? positional[1] : 36, spinning, threads,
        configs.Count > 0 ? configs : EndToEndMeasurement.DefaultConfigs, perScene);
}
if (args.Length > 0 && args[0] == "scenes")
    return await SceneMeasurement.RunAsync(args);
if (args.Length > 0 && args[0] == "soak")
    return await SoakMeasurement.RunAsync(args);
if (args.Length > 0 && args[0] == "classifiers")
    return ClassifierComparison.Run(args);
if (args.Length > 0 && args[0] == "cameras")
    return CamerasMeasurement.Run(args);
if (args.Length > 0 && args[0] == "stages")
    return StageAllocationMeasurement.Run(args.Length > 1 ? int.Parse(args[1]) : int.MaxValue);
BenchmarkDotNet.Running.BenchmarkSwitcher.FromAssembly(typeof(EndToEndMeasurement).Assembly).Run(args);
return 0;
