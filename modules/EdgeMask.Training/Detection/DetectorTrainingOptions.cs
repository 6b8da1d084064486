namespace EdgeMask.Training.Detection;

/// <summary>Everything one detector fine-tuning run needs; validated before any data is read.</summary>
internal sealed record DetectorTrainingOptions
{
    /// <summary>Pascal VOC folder (images/, annotations/, splits/train.txt and splits/dev.txt).</summary>
    public required string VocFolder { get; init; }
    public string TrainSplit { get; init; } = "train";
    public string DevSplit { get; init; } = "dev";
    /// <summary>The RetinaFace ONNX to start from (its weights) and to write the tuned weights into (its graph).</summary>
    public required string StartDetector { get; init; }
    public required string OutputPath { get; init; }
    public string? CardPath { get; init; }
    public required string WorkDirectory { get; init; }
    public int Epochs { get; init; } = 12;
    public int BatchSize { get; init; } = 8;
    public double LearningRate { get; init; } = 1e-4;
    public double WeightDecay { get; init; } = 1e-4;
    /// <summary><c>adamw</c> or <c>sgd</c> (momentum 0.9).</summary>
    public string Optimizer { get; init; } = "adamw";
    /// <summary>Linear warm-up steps before the cosine decay.</summary>
    public int WarmupSteps { get; init; } = 50;
    public int ImageSize { get; init; } = 640;
    public float MinScale { get; init; } = 0.6f;
    public float MaxScale { get; init; } = 2.6f;
    /// <summary>Faces a training crop cuts are kept (clipped) when this fraction of them stays inside (<see cref="AugmentOptions.MinVisible"/>); 1: crops never cut a face.</summary>
    public float MinVisible { get; init; } = 1f;
    /// <summary>Only faces up to this short side (network input pixels) may be cut (<see cref="AugmentOptions.MaxCutSide"/>); null: any.</summary>
    public float? MaxCutSide { get; init; }
    public int Seed { get; init; } = 8;
    public float BoxWeight { get; init; } = 2f;
    public float LandmarkWeight { get; init; } = 1f;
    public float PositiveIoU { get; init; } = 0.5f;
    public float NegativeIoU { get; init; } = 0.3f;
    public int? MaxSteps { get; init; }
    /// <summary>Wall-clock budget: no new epoch starts once an epoch would likely end past it (the best epoch so far is kept).</summary>
    public double? MaxMinutes { get; init; }
    /// <summary>Photos per epoch (drawn without replacement, reshuffled each epoch); null = the training split size.</summary>
    public int? EpochSize { get; init; }
    public int Threads { get; init; } = 2;
    /// <summary>Detector input sizings at which dev recall is measured each epoch (1 = native size, 2 = enlarged 2×, 960px = long side 960); the first chooses the epoch.</summary>
    public IReadOnlyList<DevSizing> DevScales { get; init; } = [1f, 2f];
    /// <summary>Dev photos used per epoch (null = all); the final figures always use every dev photo.</summary>
    public int? DevLimit { get; init; }
    public bool Augment { get; init; } = true;
    /// <summary>Keep the first backbone stage at its pretrained weights (faster steps, less forgetting).</summary>
    public bool FreezeStage1 { get; init; } = true;
    public bool Resume { get; init; }
    /// <summary>λ of the distillation term against the frozen start model (<see cref="TeacherTerms"/>); 0 turns the teacher off.</summary>
    public float DistillWeight { get; init; }
    /// <summary>Background anchors where the start model's face probability reaches this are left out of the mining; &gt; 1: off.</summary>
    public float TeacherIgnoreAbove { get; init; } = 2f;
    /// <summary>Epoch selection: more false detections than this (first dev scale) ranks an epoch last; null: the start model's count.</summary>
    public int? MaxFalseDetections { get; init; }

    /// <summary>
    /// The start model's detections on the training photos at this score or above, where no face is annotated, are
    /// trained as faces (<see cref="TeacherPseudoLabels"/>); null: off.
    /// </summary>
    public float? PseudoLabelScore { get; init; }
    /// <summary>The detector input sizings the pseudo-labels are found at (default: the product's 960 px long side).</summary>
    public IReadOnlyList<DevSizing> PseudoLabelSizings { get; init; } = [new DevSizing(1f, 960)];
    /// <summary>
    /// Weight of the annotated faces without a mask (and with one worn incorrectly) in the classification loss; voc853
    /// has five masked faces for each of them. 1: every face weighs the same.
    /// </summary>
    public float BareWeight { get; init; } = 1f;
    /// <summary>
    /// Decay of the exponential moving average of the weights that is evaluated, checkpointed and exported
    /// (<see cref="Training.WeightAverage"/>); 0: the weights of the last step.
    /// </summary>
    public double EmaDecay { get; init; }

    /// <summary>The pseudo-label settings, or null when the run uses none.</summary>
    public PseudoLabelOptions? PseudoLabels => PseudoLabelScore is float score ? new PseudoLabelOptions(score, PseudoLabelSizings) : null;

    /// <summary>The teacher's part of the loss, or null when the run has no teacher.</summary>
    public TeacherTerms? Teacher => DistillWeight > 0 || TeacherIgnoreAbove <= 1f ? new TeacherTerms(DistillWeight, TeacherIgnoreAbove) : null;
    public string CommandLine { get; init; } = "";

    public AugmentOptions Augmentation => new()
    {
        Size = ImageSize,
        MinScale = MinScale,
        MaxScale = MaxScale,
        Flip = Augment,
        Photometric = Augment,
        MinVisible = MinVisible,
        MaxCutSide = MaxCutSide,
    };

    public DetectorTrainingOptions Validate()
    {
        if (string.IsNullOrWhiteSpace(VocFolder)) throw new ArgumentException("--voc must name a Pascal VOC folder.");
        if (string.IsNullOrWhiteSpace(OutputPath)) throw new ArgumentException("--out must name the ONNX file to write.");
        if (Epochs < 1) throw new ArgumentOutOfRangeException(nameof(Epochs), Epochs, "--epochs must be at least 1.");
        if (BatchSize < 1) throw new ArgumentOutOfRangeException(nameof(BatchSize), BatchSize, "--batch must be at least 1.");
        if (!(LearningRate > 0)) throw new ArgumentOutOfRangeException(nameof(LearningRate), LearningRate, "--lr must be positive.");
        if (!(WeightDecay >= 0)) throw new ArgumentOutOfRangeException(nameof(WeightDecay), WeightDecay, "--weight-decay must be ≥ 0.");
        if (Optimizer is not ("adamw" or "sgd")) throw new ArgumentException($"--optimizer must be adamw or sgd, not '{Optimizer}'.");
        if (WarmupSteps < 0) throw new ArgumentOutOfRangeException(nameof(WarmupSteps), WarmupSteps, "--warmup must be ≥ 0.");
        if (ImageSize is < 64 or > 2048 || ImageSize % 32 != 0)
            throw new ArgumentOutOfRangeException(nameof(ImageSize), ImageSize, "--image-size must be a multiple of 32 in [64, 2048] (the coarsest stride is 32).");
        if (Threads < 1) throw new ArgumentOutOfRangeException(nameof(Threads), Threads, "--threads must be at least 1.");
        if (MaxSteps is < 1) throw new ArgumentOutOfRangeException(nameof(MaxSteps), MaxSteps, "--max-steps must be at least 1.");
        if (MaxMinutes is double mm && !(mm > 0)) throw new ArgumentOutOfRangeException(nameof(MaxMinutes), MaxMinutes, "--max-minutes must be positive.");
        if (EpochSize is < 1) throw new ArgumentOutOfRangeException(nameof(EpochSize), EpochSize, "--epoch-size must be at least 1.");
        if (DevLimit is < 1) throw new ArgumentOutOfRangeException(nameof(DevLimit), DevLimit, "--dev-limit must be at least 1.");
        if (DevScales.Count == 0 || DevScales.Any(s => !s.IsValid))
            throw new ArgumentException("--dev-scales must list scales in (0, 4] or long sides in [32, 4096] px (e.g. 960px).");
        _ = new MultiBoxLoss(BoxWeight, LandmarkWeight, teacher: new TeacherTerms(DistillWeight, TeacherIgnoreAbove));
        if (MaxFalseDetections is < 0) throw new ArgumentOutOfRangeException(nameof(MaxFalseDetections), MaxFalseDetections, "--max-false must be ≥ 0.");
        new MatchingThresholds(PositiveIoU, NegativeIoU).Validate();
        PseudoLabels?.Validate();
        if (!(BareWeight is > 0f and <= 10f)) throw new ArgumentOutOfRangeException(nameof(BareWeight), BareWeight, "--bare-weight must be in (0, 10] (1: every face the same).");
        if (!(EmaDecay is >= 0 and < 1)) throw new ArgumentOutOfRangeException(nameof(EmaDecay), EmaDecay, "--ema must be in [0, 1) (0: off).");
        Augmentation.Validate();
        return this;
    }
}
