using EdgeMask.Training.Model;

namespace EdgeMask.Training.Training;

/// <summary>What training does with <c>mask_weared_incorrect</c> faces.</summary>
internal enum IncorrectTraining
{
    /// <summary>Their own class, <c>incorrect</c>: a three-class model (the default).</summary>
    Label,

    /// <summary>Trained as no_mask (a violation): a two-class model, as before the third label.</summary>
    NoMask,

    /// <summary>Left out of training: a two-class model.</summary>
    Skip,
}

/// <summary>Everything one training run needs; validated before any data is read.</summary>
internal sealed record TrainingOptions
{
    public IReadOnlyList<string> CropFolders { get; init; } = [];
    public IReadOnlyList<string> VocFolders { get; init; } = [];
    public string TrainSplit { get; init; } = "train";
    public string DevSplit { get; init; } = "dev";
    public required string OutputPath { get; init; }
    public string? CardPath { get; init; }
    public required string WorkDirectory { get; init; }
    public ResNetConfig Model { get; init; } = ResNetConfig.Default;
    public float CropExpansion { get; init; } = 1.2f;
    public int Epochs { get; init; } = 40;
    public int BatchSize { get; init; } = 64;
    public double LearningRate { get; init; } = 3e-3;
    public double WeightDecay { get; init; } = 0.02;
    public double LabelSmoothing { get; init; } = 0.05;
    /// <summary>
    /// Decay of the exponential moving average of the weights that is evaluated, checkpointed and exported (0: the
    /// raw weights). Dev accuracy of the raw weights swings by about a point from epoch to epoch on these small dev
    /// sets; the average is steadier and usually better.
    /// </summary>
    public double EmaDecay { get; init; } = 0.999;
    /// <summary>Store the exported weights as float16 (half the file, e.g. to stay under the 5 MB a committed model may take); ONNX Runtime still computes in float32.</summary>
    public bool HalfPrecisionWeights { get; init; }
    public int Seed { get; init; } = 17;
    public int Patience { get; init; } = 10;
    public int Threads { get; init; } = 2;
    /// <summary>Stop after this many optimizer steps in total (tests, smoke runs); null = run the epochs.</summary>
    public int? MaxSteps { get; init; }
    public bool Augment { get; init; } = true;
    /// <summary>Faces drawn per epoch (class-balanced, with replacement); null = the training set size. Smaller epochs mean more frequent dev checks and checkpoints.</summary>
    public int? EpochSize { get; init; }
    /// <summary>VOC faces whose shorter side is below this are not trained on (too few pixels to carry a label).</summary>
    public float MinFace { get; init; } = 10f;
    /// <summary>Short side from which dev faces count for the headline accuracy (issue 3: ≥ 20 px).</summary>
    public float DevMinFace { get; init; } = 20f;
    /// <summary>What <c>mask_weared_incorrect</c> faces are trained as (<c>--incorrect</c>).</summary>
    public IncorrectTraining Incorrect { get; init; } = IncorrectTraining.Label;
    /// <summary>
    /// With <see cref="IncorrectTraining.Label"/>: the share of each batch drawn from the badly worn masks (the rest is
    /// split evenly between mask and no_mask). They are ~3 % of the faces; a third of every batch would show each of
    /// them hundreds of times per run.
    /// </summary>
    public double IncorrectShare { get; init; } = 0.2;
    /// <summary>
    /// With <see cref="IncorrectTraining.Label"/>: the share of the badly worn masks drawn that are synthetic
    /// (<see cref="Data.IncorrectMaskSynthesizer"/>: a masked face's mask pasted below a bare face's nose); 0 = real ones only.
    /// </summary>
    public double SyntheticIncorrect { get; init; }
    /// <summary>
    /// With <see cref="IncorrectTraining.Label"/>: weight of <see cref="ClassifierTrainer.ViolationLoss"/> added to the
    /// cross-entropy (0: off), which trains p(no_mask) + p(incorrect), the probability the violation policy acts on.
    /// </summary>
    public double ViolationWeight { get; init; }
    /// <summary>With <see cref="IncorrectTraining.NoMask"/>: how many times more often a <c>mask_weared_incorrect</c> face is drawn than another no_mask face (1: as often).</summary>
    public int IncorrectWeight { get; init; } = 1;

    /// <summary>The model's output classes, as wire names, in output order.</summary>
    public IReadOnlyList<string> Classes => Incorrect == IncorrectTraining.Label ? SmallResNet.ThreeClasses : SmallResNet.TwoClasses;
    public bool Resume { get; init; }
    /// <summary>Keep every epoch's evaluated weights (<c>&lt;work&gt;/epoch-N.pt</c>), so any epoch of the history can be exported.</summary>
    public bool KeepEpochs { get; init; }
    /// <summary>Export this epoch (kept by <see cref="KeepEpochs"/>) instead of the one with the best dev score.</summary>
    public int? ExportEpoch { get; init; }
    /// <summary>ResNet-18 ONNX file (<see cref="PretrainedResNet18"/>) whose weights start the run; null = random start.</summary>
    public string? InitFrom { get; init; }
    /// <summary>
    /// A checkpoint of an earlier run with the same shape (<c>&lt;work&gt;/best.pt</c> or <c>epoch-N.pt</c>) whose weights
    /// start this run: fine-tuning a trained model with another loss or sampling; null = <see cref="InitFrom"/> or random.
    /// </summary>
    public string? StartFrom { get; init; }
    /// <summary>The command line as typed, recorded in the model card.</summary>
    public string CommandLine { get; init; } = "";

    public TrainingOptions Validate()
    {
        if (CropFolders.Count + VocFolders.Count == 0) throw new ArgumentException("Give at least one --crops or --voc folder.");
        if (Epochs < 1) throw new ArgumentOutOfRangeException(nameof(Epochs), Epochs, "--epochs must be at least 1.");
        if (BatchSize < 2) throw new ArgumentOutOfRangeException(nameof(BatchSize), BatchSize, "--batch must be at least 2 (BatchNorm).");
        if (!(LearningRate > 0)) throw new ArgumentOutOfRangeException(nameof(LearningRate), LearningRate, "--lr must be positive.");
        if (!(EmaDecay is >= 0 and < 1)) throw new ArgumentOutOfRangeException(nameof(EmaDecay), EmaDecay, "--ema must be in [0, 1).");
        if (Patience < 1) throw new ArgumentOutOfRangeException(nameof(Patience), Patience, "--patience must be at least 1.");
        if (!Enum.IsDefined(Incorrect)) throw new ArgumentOutOfRangeException(nameof(Incorrect), Incorrect, "--incorrect must be label, no_mask or skip.");
        if (!(IncorrectShare is > 0 and < 1)) throw new ArgumentOutOfRangeException(nameof(IncorrectShare), IncorrectShare, "--incorrect-share must be between 0 and 1 (exclusive).");
        if (!(SyntheticIncorrect is >= 0 and < 1)) throw new ArgumentOutOfRangeException(nameof(SyntheticIncorrect), SyntheticIncorrect, "--synthetic-incorrect must be at least 0 and below 1.");
        if (!(ViolationWeight is >= 0 and <= 10)) throw new ArgumentOutOfRangeException(nameof(ViolationWeight), ViolationWeight, "--violation-weight must be 0..10 (0: off).");
        if (IncorrectWeight is < 1 or > 100) throw new ArgumentOutOfRangeException(nameof(IncorrectWeight), IncorrectWeight, "--incorrect-weight must be 1..100.");
        if (Threads < 1) throw new ArgumentOutOfRangeException(nameof(Threads), Threads, "--threads must be at least 1.");
        if (EpochSize is < 2) throw new ArgumentOutOfRangeException(nameof(EpochSize), EpochSize, "--epoch-size must be at least 2.");
        if (ExportEpoch is < 1) throw new ArgumentOutOfRangeException(nameof(ExportEpoch), ExportEpoch, "--export-epoch must be at least 1.");
        if (MaxSteps is < 1) throw new ArgumentOutOfRangeException(nameof(MaxSteps), MaxSteps, "--max-steps must be at least 1.");
        if (!(CropExpansion is >= 0.5f and <= 4f)) throw new ArgumentOutOfRangeException(nameof(CropExpansion), CropExpansion, "--crop-expansion must be 0.5..4.");
        if (string.IsNullOrWhiteSpace(OutputPath)) throw new ArgumentException("--out must name the ONNX file to write.");
        if (StartFrom is not null && InitFrom is not null)
            throw new ArgumentException("Give either --start-from (a checkpoint of an earlier run) or --init-from (ResNet-18), not both.");
        if (StartFrom is not null && !File.Exists(StartFrom))
            throw new ArgumentException($"--start-from: the checkpoint '{StartFrom}' does not exist (an earlier run's <work>/best.pt or epoch-N.pt).");
        Model.Validate();
        if (InitFrom is not null && Model.Stem != StemKind.ImageNet)
            throw new ArgumentException("--init-from needs --stem imagenet (ResNet-18's 7×7 stem and max-pooling).");
        if (InitFrom is not null && Model.StemWidth != PretrainedResNet18.Shape.StemWidth)
            throw new ArgumentException($"--init-from needs --stem-width {PretrainedResNet18.Shape.StemWidth} (ResNet-18's stem).");
        return this;
    }
}
