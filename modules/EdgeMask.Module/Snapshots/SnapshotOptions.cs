using EdgeMask.Core.Tracking;

namespace EdgeMask.Module.Snapshots;

/// <summary>Which images of a violation are stored on disk.</summary>
[Flags]
public enum SnapshotImages
{
    /// <summary>The violator's face with a margin around it (<see cref="SnapshotOptions.CropMargin"/>), no drawing.</summary>
    Crop = 1,

    /// <summary>The whole frame with the violator's box drawn.</summary>
    Frame = 2,

    Both = Crop | Frame,
}

/// <summary>Which faces are anonymized in stored and published snapshots.</summary>
public enum SnapshotPrivacy
{
    /// <summary>Nothing is blurred.</summary>
    None,

    /// <summary>Every face except the violator's: bystanders are protected, the evidence is intact. The default.</summary>
    BlurOthers,

    /// <summary>Every face, the violator's included: the snapshot shows where and when, not who.</summary>
    BlurAll,
}

/// <summary>How a face is anonymized.</summary>
public enum SnapshotBlurMethod
{
    /// <summary>
    /// Coarse blocks (area-averaged, then enlarged without interpolation). The default: with blocks of ~1/7 of the
    /// face the result cannot be deblurred back into a face, a viewer sees at once that it was anonymized, and the
    /// cost does not grow with the strength.
    /// </summary>
    Pixelate,

    /// <summary>A Gaussian blur whose sigma is <see cref="SnapshotOptions.BlurStrength"/> × the face size. Softer to look at.</summary>
    Gaussian,
}

/// <summary>Which image is offered for publishing on the snapshot topic (<c>edgemask/&lt;device&gt;/&lt;camera&gt;/snapshot</c>).</summary>
public enum SnapshotPublishImage
{
    /// <summary>The full frame with the violator's box (the most context). The default.</summary>
    Frame,

    /// <summary>The crop around the violator's face (smallest).</summary>
    Crop,

    /// <summary>Nothing is published; snapshots are only stored.</summary>
    None,
}

/// <summary>
/// Options of the violation snapshots (configuration section <c>Snapshots</c>): what is stored where, how faces are
/// anonymized, how long snapshots are kept. Limits of 0 (or a zero time span) mean "no limit".
/// </summary>
public sealed record SnapshotOptions
{
    public const string SectionName = "Snapshots";

    /// <summary>Off: no snapshot is rendered, stored or published; events say <c>snapshot.available = false</c>.</summary>
    public bool Enabled { get; init; } = true;

    /// <summary>Root folder; files go to <c>&lt;Directory&gt;/&lt;camera&gt;/&lt;yyyy-MM-dd (UTC)&gt;/&lt;id&gt;-{crop|frame}.jpg</c>.</summary>
    public string Directory { get; init; } = "snapshots";

    /// <summary>JPEG quality 1..100 of stored images (85: faces stay sharp at about 1/10 of the raw size).</summary>
    public int JpegQuality { get; init; } = 85;

    public SnapshotImages Images { get; init; } = SnapshotImages.Both;

    /// <summary>Margin added on every side of the violator's box for the crop, as a fraction of the box's width/height (0.5 = crop twice the face size).</summary>
    public float CropMargin { get; init; } = 0.5f;

    public SnapshotPrivacy Privacy { get; init; } = SnapshotPrivacy.BlurOthers;

    public SnapshotBlurMethod BlurMethod { get; init; } = SnapshotBlurMethod.Pixelate;

    /// <summary>
    /// Strength as a fraction of the (scaled) face box's longer side: the block size for pixelation, the sigma for a
    /// Gaussian blur. 0.15 ≈ 7 blocks across a face, beyond recognition; smaller values keep more detail.
    /// </summary>
    public float BlurStrength { get; init; } = 0.15f;

    /// <summary>
    /// A face box is grown by this factor about its centre before it is anonymized: detector boxes hug the face
    /// tightly, and hair, ears and the chin line identify people too.
    /// </summary>
    public float BlurBoxScale { get; init; } = 1.3f;

    /// <summary>Most files kept over all cameras (each crop and each frame is a file); oldest snapshots are deleted first. 0 = no limit.</summary>
    public int MaxFiles { get; init; } = 10_000;

    /// <summary>Most bytes kept over all cameras; oldest snapshots are deleted first. 0 = no limit.</summary>
    public long MaxTotalBytes { get; init; } = 1L << 30;

    /// <summary>Snapshots older than this are deleted. Zero = no limit.</summary>
    public TimeSpan MaxAge { get; init; } = TimeSpan.FromDays(7);

    /// <summary>How often the folder is re-scanned and the limits applied besides on every write (files removed by hand, age).</summary>
    public TimeSpan RetentionInterval { get; init; } = TimeSpan.FromMinutes(5);

    public SnapshotPublishImage Publish { get; init; } = SnapshotPublishImage.Frame;

    /// <summary>
    /// Largest JPEG offered for publishing; a bigger image is re-encoded at lower quality, then scaled down, until it
    /// fits. 240 KiB keeps it under IoT Hub's 256 KB message limit with room for the message properties.
    /// </summary>
    public int MaxPublishBytes { get; init; } = 240 * 1024;

    /// <summary>
    /// Least time between two snapshots of one episode (the policy already asks only when the view improved by its
    /// SnapshotImprovementRatio); the start of an episode always gets one.
    /// </summary>
    public TimeSpan MinIntervalPerEpisode { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Storage failures of one kind (e.g. disk full) are logged at most once per this interval, with the number suppressed.</summary>
    public TimeSpan FailureLogInterval { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>Throws <see cref="InvalidOptionException"/> naming the first bad key.</summary>
    public SnapshotOptions Validate(string section = SectionName)
    {
        string K(string name) => section.Length == 0 ? name : section + ":" + name;
        if (string.IsNullOrWhiteSpace(Directory))
            throw new InvalidOptionException(K(nameof(Directory)), Directory, "must be a folder path.");
        if (Directory.IndexOfAny(Path.GetInvalidPathChars()) >= 0)
            throw new InvalidOptionException(K(nameof(Directory)), Directory, "contains characters that are not allowed in a path.");
        if (JpegQuality is < 1 or > 100)
            throw new InvalidOptionException(K(nameof(JpegQuality)), JpegQuality, "must be between 1 and 100.");
        if (Images is not (SnapshotImages.Crop or SnapshotImages.Frame or SnapshotImages.Both))
            throw new InvalidOptionException(K(nameof(Images)), Images, "must be Crop, Frame or Both.");
        if (!(CropMargin >= 0f && CropMargin <= 5f))
            throw new InvalidOptionException(K(nameof(CropMargin)), CropMargin, "must be between 0 and 5 (fraction of the face size per side).");
        if (!Enum.IsDefined(Privacy))
            throw new InvalidOptionException(K(nameof(Privacy)), Privacy, "must be None, BlurOthers or BlurAll.");
        if (!Enum.IsDefined(BlurMethod))
            throw new InvalidOptionException(K(nameof(BlurMethod)), BlurMethod, "must be Pixelate or Gaussian.");
        if (!(BlurStrength >= 0.02f && BlurStrength <= 1f))
            throw new InvalidOptionException(K(nameof(BlurStrength)), BlurStrength, "must be between 0.02 and 1 (fraction of the face size).");
        if (!(BlurBoxScale >= 1f && BlurBoxScale <= 3f))
            throw new InvalidOptionException(K(nameof(BlurBoxScale)), BlurBoxScale, "must be between 1 and 3.");
        if (MaxFiles < 0)
            throw new InvalidOptionException(K(nameof(MaxFiles)), MaxFiles, "must be 0 (no limit) or more.");
        if (MaxTotalBytes < 0)
            throw new InvalidOptionException(K(nameof(MaxTotalBytes)), MaxTotalBytes, "must be 0 (no limit) or more.");
        if (MaxAge < TimeSpan.Zero)
            throw new InvalidOptionException(K(nameof(MaxAge)), MaxAge, "must be zero (no limit) or positive.");
        if (RetentionInterval < TimeSpan.FromSeconds(1))
            throw new InvalidOptionException(K(nameof(RetentionInterval)), RetentionInterval, "must be at least 1 second.");
        if (!Enum.IsDefined(Publish))
            throw new InvalidOptionException(K(nameof(Publish)), Publish, "must be Frame, Crop or None.");
        if (MaxPublishBytes is < 4096 or > 64 * 1024 * 1024)
            throw new InvalidOptionException(K(nameof(MaxPublishBytes)), MaxPublishBytes, "must be between 4096 and 67108864.");
        if (MinIntervalPerEpisode < TimeSpan.Zero)
            throw new InvalidOptionException(K(nameof(MinIntervalPerEpisode)), MinIntervalPerEpisode, "must not be negative.");
        if (FailureLogInterval < TimeSpan.Zero)
            throw new InvalidOptionException(K(nameof(FailureLogInterval)), FailureLogInterval, "must not be negative.");
        return this;
    }
}
