using EdgeMask.Core.Detection;
using EdgeMask.Inference.Detection;
using BenchmarkDotNet.Attributes;

namespace EdgeMask.Bench;

/// <summary>
/// What a border around the detector input (<see cref="InputSizing.BorderPad"/>) costs per 960×540 frame at the
/// operating point (×1, the default detector): a larger tensor (1024×604 for 32 px, +19 % pixels), and for a
/// replicated border one more copy of the frame.
/// </summary>
public class DetectorBorderBenchmarks : SampleFrameDetectorBenchmark
{
    [Params(0, 32)]
    public int BorderPad { get; set; }

    [Params(BorderFill.Mean, BorderFill.Replicate)]
    public BorderFill Fill { get; set; }

    protected override DetectorOptions Options => new() { Sizing = new InputSizing { BorderPad = BorderPad, BorderFill = Fill } };
}
