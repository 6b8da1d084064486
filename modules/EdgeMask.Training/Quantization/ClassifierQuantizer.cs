using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using EdgeMask.Inference.Classification;
using EdgeMask.Training.Data;
using EdgeMask.Training.Training;
using Microsoft.Extensions.Logging;
using OpenCvSharp;

namespace EdgeMask.Training.Quantization;

/// <summary>What <c>edgemask-train quantize</c> was asked to do.</summary>
internal sealed record QuantizeOptions
{
    public required string ModelPath { get; init; }
    public required string OutputPath { get; init; }
    public IReadOnlyList<string> CropFolders { get; init; } = [];
    public IReadOnlyList<string> VocFolders { get; init; } = [];
    /// <summary>The split the calibration faces come from: training faces only, so the dev figures stay unseen.</summary>
    public string TrainSplit { get; init; } = "train";
    /// <summary>The split the float and int8 files are compared on after writing (reported, never calibrated on).</summary>
    public string DevSplit { get; init; } = "dev";
    public int CalibrationFaces { get; init; } = 1024;
    public CalibrationMethod Method { get; init; } = CalibrationMethod.MinMax;
    public double Percentile { get; init; } = 99.99;
    /// <summary>127: 8-bit weights; 64: 7-bit (ORT's reduce_range, for AVX2/AVX-512 CPUs without VNNI).</summary>
    public int WeightMax { get; init; } = 64;
    public int Seed { get; init; } = 17;
    public int Threads { get; init; } = Math.Min(Environment.ProcessorCount, 2);
    /// <summary>VOC faces with a shorter side below this are not calibrated on (the trainer's own bound).</summary>
    public float MinFace { get; init; } = 10f;
    public float DevMinFace { get; init; } = 20f;
    public bool Compare { get; init; } = true;
    public string CommandLine { get; init; } = "";

    public QuantizeOptions Validate()
    {
        if (CropFolders.Count + VocFolders.Count == 0) throw new ArgumentException("Give the training data to calibrate on: --crops and/or --voc.");
        if (CalibrationFaces < 16) throw new ArgumentException($"--calibration-faces must be at least 16, not {CalibrationFaces}.");
        if (Percentile is <= 90 or >= 100) throw new ArgumentException($"--percentile must be above 90 and below 100, not {Percentile.ToString(CultureInfo.InvariantCulture)}.");
        if (WeightMax is not (64 or 127)) throw new ArgumentException($"--weight-bits must be 7 or 8.");
        if (Path.GetFullPath(ModelPath) == Path.GetFullPath(OutputPath)) throw new ArgumentException($"--out must differ from --model ({ModelPath}).");
        return this;
    }
}

/// <summary>The written file and what was measured on it.</summary>
internal sealed record QuantizeResult(string OutputPath, string Sha256, long Bytes, int CalibrationFaces,
    IReadOnlyDictionary<string, int> Census, IReadOnlyList<DevMetric> FloatDev, IReadOnlyList<DevMetric> Int8Dev, IReadOnlyList<string> Agreement);

/// <summary>
/// <c>edgemask-train quantize</c>: static int8 quantization of an EdgeMask classifier in QDQ form. The calibration faces
/// are drawn (seeded) from the TRAIN splits of the given sets, cut and normalised by the run-time code
/// (<see cref="DatasetLoader"/> with the run-time crop, <see cref="FaceCropper.WriteNormalized"/>); the dev split is only
/// used afterwards, to compare the float and int8 files face by face.
/// </summary>
internal sealed class ClassifierQuantizer(QuantizeOptions options, ILogger logger)
{
    public QuantizeResult Run()
    {
        var graph = ClassifierGraph.Load(options.ModelPath);
        var contract = graph.Contract;
        var loader = new DatasetLoader(contract, logger);

        var pool = new List<FaceSample>();
        foreach (string folder in options.CropFolders)
        {
            RequireSplit(folder, options.TrainSplit);
            pool.AddRange(loader.LoadCropFolder(folder, options.TrainSplit, forTraining: false, SetName(folder)).Samples);
        }
        foreach (string folder in options.VocFolders)
        {
            RequireSplit(folder, options.TrainSplit);
            pool.AddRange(loader.LoadVoc(folder, options.TrainSplit, forTraining: false, SetName(folder), options.MinFace).Samples);
        }
        if (pool.Count == 0) throw new DatasetException($"No training faces to calibrate on in split '{options.TrainSplit}' of the given folders.");
        var chosen = new List<FaceSample>(pool);
        new Random(options.Seed).Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(chosen));
        chosen = chosen.Take(options.CalibrationFaces).ToList();
        if (chosen.Count < options.CalibrationFaces)
            logger.LogWarning("Only {Count} training faces are available; calibrating on all of them (asked: {Asked})", chosen.Count, options.CalibrationFaces);
        logger.LogInformation("Calibrating on {Count} of {Pool} training faces ({Classes})", chosen.Count, pool.Count,
            string.Join(", ", chosen.GroupBy(s => s.Label).OrderBy(g => g.Key).Select(g => $"{g.Key} {g.Count()}")));

        float[] faces = Normalize(chosen, contract);
        var measured = QdqClassifierWriter.MeasuredTensors(graph);
        var ranges = ActivationCalibrator.Calibrate(graph, measured, faces, options.Method, options.Percentile, options.Threads);
        foreach (string t in measured) logger.LogDebug("range {Tensor} {Range}", t, ranges[t]);

        string method = options.Method switch
        {
            CalibrationMethod.Percentile => $"percentile {options.Percentile.ToString(CultureInfo.InvariantCulture)}",
            CalibrationMethod.Entropy => "entropy",
            _ => "minmax",
        };
        var quantization = new Dictionary<string, object>
        {
            ["format"] = "QDQ",
            ["weights"] = $"int8 symmetric per output channel, ±{options.WeightMax}",
            ["activations"] = "uint8 per tensor",
            ["calibration"] = method,
            ["calibrationFaces"] = chosen.Count,
            ["calibrationSplit"] = options.TrainSplit,
            ["seed"] = options.Seed,
            ["source"] = Path.GetFileName(options.ModelPath),
            ["sourceSha256"] = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(options.ModelPath))),
        };
        byte[] bytes = QdqClassifierWriter.Write(graph, ranges, options.WeightMax,
            new Dictionary<string, string> { [QuantizationMetadataKey] = JsonSerializer.Serialize(quantization) });

        // Written beside the target first: a file ORT would not fuse is refused, never left where the product looks.
        string? dir = Path.GetDirectoryName(Path.GetFullPath(options.OutputPath));
        if (dir is not null) Directory.CreateDirectory(dir);
        string temp = options.OutputPath + ".part";
        File.WriteAllBytes(temp, bytes);
        var census = OrtKernelCensus.Count(temp);
        logger.LogInformation("ONNX Runtime (CPU) runs: {Census}", OrtKernelCensus.Format(census));
        int floatConvs = census.GetValueOrDefault("Conv"), int8Convs = census.GetValueOrDefault("QLinearConv");
        if (floatConvs > 0 || int8Convs == 0)
        {
            File.Delete(temp);
            throw new QuantizationException($"ONNX Runtime did not fuse the quantized graph of {options.ModelPath} into integer kernels " +
                $"({int8Convs} QLinearConv, {floatConvs} float Conv); nothing was written to {options.OutputPath}.");
        }
        File.Move(temp, options.OutputPath, overwrite: true);
        string sha = Convert.ToHexStringLower(SHA256.HashData(bytes));
        logger.LogInformation("Wrote {Path} ({Bytes} bytes, sha256 {Sha})", options.OutputPath, bytes.Length, sha);

        var floatDev = new List<DevMetric>();
        var int8Dev = new List<DevMetric>();
        var agreement = new List<string>();
        if (options.Compare) Compare(loader, floatDev, int8Dev, agreement);
        return new QuantizeResult(options.OutputPath, sha, bytes.Length, chosen.Count, census, floatDev, int8Dev, agreement);
    }

    /// <summary>ONNX metadata key of the quantization record (method, calibration set, source file).</summary>
    public const string QuantizationMetadataKey = "edgemask.quantization";

    /// <summary>Both files on the dev split through the run-time classifier: each set's figures, and how often the labels agree.</summary>
    private void Compare(DatasetLoader loader, List<DevMetric> floatDev, List<DevMetric> int8Dev, List<string> agreement)
    {
        var sets = new List<FaceSet>();
        foreach (string folder in options.CropFolders.Where(f => DatasetLoader.HasSplit(f, options.DevSplit)))
            sets.Add(loader.LoadCropFolder(folder, options.DevSplit, forTraining: false, SetName(folder) + " " + options.DevSplit));
        foreach (string folder in options.VocFolders.Where(f => DatasetLoader.HasSplit(f, options.DevSplit)))
            sets.Add(loader.LoadVoc(folder, options.DevSplit, forTraining: false, SetName(folder) + " " + options.DevSplit, 0f));
        using var f32 = MaskClassifier.Open(options.ModelPath, options.Threads);
        using var i8 = MaskClassifier.Open(options.OutputPath, options.Threads);
        foreach (var set in sets)
        {
            var a = ClassifierTrainer.PredictOnnx(f32, set.Samples);
            var b = ClassifierTrainer.PredictOnnx(i8, set.Samples);
            floatDev.AddRange(Evaluation.Score(set, a, options.DevMinFace));
            int8Dev.AddRange(Evaluation.Score(set, b, options.DevMinFace));
            int same = 0;
            double worst = 0, sum = 0;
            for (int i = 0; i < a.Length; i++)
            {
                if (a[i].Label == b[i].Label) same++;
                double d = Math.Max(Math.Abs(a[i].MaskProbability - b[i].MaskProbability),
                    Math.Max(Math.Abs(a[i].NoMaskProbability - b[i].NoMaskProbability), Math.Abs(a[i].IncorrectProbability - b[i].IncorrectProbability)));
                worst = Math.Max(worst, d);
                sum += d;
            }
            agreement.Add(string.Create(CultureInfo.InvariantCulture,
                $"{set.Name}: labels agree on {same} of {a.Length} faces; probability difference mean {sum / Math.Max(1, a.Length):0.0000}, max {worst:0.0000}"));
        }
    }

    private static float[] Normalize(IReadOnlyList<FaceSample> samples, Core.Classification.ClassifierContract contract)
    {
        int perFace = 3 * contract.InputSize * contract.InputSize;
        var result = new float[samples.Count * perFace];
        for (int i = 0; i < samples.Count; i++)
        {
            var s = samples[i];
            if (s.Side != contract.InputSize) throw new InvalidOperationException($"{s.File}: crop of {s.Side} px, expected {contract.InputSize}.");
            unsafe
            {
                fixed (byte* p = s.Pixels)
                {
                    using var image = Mat.FromPixelData(s.Side, s.Side, MatType.CV_8UC3, (nint)p);
                    FaceCropper.WriteNormalized(image, contract, result.AsSpan(i * perFace, perFace));
                }
            }
        }
        return result;
    }

    /// <summary>Calibration must never see dev or evaluation faces: a folder without the train split file is refused, not used whole.</summary>
    private static void RequireSplit(string folder, string split)
    {
        if (!Directory.Exists(folder)) throw new DatasetException($"The folder '{folder}' does not exist.");
        if (!DatasetLoader.HasSplit(folder, split))
            throw new DatasetException($"{folder} has no splits/{split}.txt: calibration uses training faces only, so that the dev and evaluation figures stay unseen. Add the split file.");
    }

    private static string SetName(string folder) => Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder)));
}
