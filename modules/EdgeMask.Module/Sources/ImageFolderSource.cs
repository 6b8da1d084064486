using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OpenCvSharp;

namespace EdgeMask.Module.Sources;

/// <summary>
/// The images of a folder in ordinal name order, as a slow camera (at <see cref="FrameSourceOptions.ImageFolderFps"/>
/// when the capture paces in real time). Unreadable files are skipped and counted. Images of different sizes are
/// fine: each frame carries its own size.
/// </summary>
public sealed class ImageFolderSource : IFrameSource
{
    internal static readonly string[] Extensions = [".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"];

    private readonly string _folder;
    private readonly ILogger _logger;
    private string[] _files = [];
    private int _next;
    private long _skipped;

    public ImageFolderSource(string folder, FrameSourceOptions? options = null, ILogger? logger = null)
    {
        options ??= new FrameSourceOptions();
        options.Validate();
        _folder = folder;
        _logger = logger ?? NullLogger.Instance;
        NominalFps = options.ImageFolderFps;
        Description = folder;
    }

    public string Description { get; }
    public bool IsLive => false;
    public double NominalFps { get; }
    public long SkippedFrames => Interlocked.Read(ref _skipped);

    /// <summary>The images found by the last <see cref="Open"/>, in the order they are played.</summary>
    public IReadOnlyList<string> Files => _files;

    public void Open(CancellationToken cancellationToken)
    {
        if (!Directory.Exists(_folder))
            throw new FrameSourceUnavailableException(_folder, "the folder does not exist", "Check the path.");
        var files = Directory.EnumerateFiles(_folder)
            .Where(f => Extensions.Contains(Path.GetExtension(f), StringComparer.OrdinalIgnoreCase))
            .Order(StringComparer.Ordinal)
            .ToArray();
        if (files.Length == 0)
            throw new FrameSourceUnavailableException(_folder, "the folder holds no images",
                $"Put images with one of the extensions {string.Join(", ", Extensions)} in it.");
        _files = files;
        _next = 0;
        _logger.LogInformation("Opened image folder {Source}: {Count} images", Description, files.Length);
    }

    public FrameReadStatus Read(Mat destination, out TimeSpan? mediaPosition)
    {
        mediaPosition = null;
        while (_next < _files.Length)
        {
            string file = _files[_next++];
            // ImRead allocates a new Mat; at a folder's slow rate that does not matter, and copying keeps the pooled buffer.
            using var image = Cv2.ImRead(file, ImreadModes.Color);
            if (image.Empty())
            {
                Interlocked.Increment(ref _skipped);
                _logger.LogWarning("Skipped unreadable image {File}", file);
                continue;
            }
            image.CopyTo(destination);
            return FrameReadStatus.Frame;
        }
        return FrameReadStatus.EndOfStream;
    }

    public void Close() => _next = _files.Length;

    public void Interrupt()
    {
        // Reads are local file reads that finish on their own.
    }

    public void Dispose() => Close();
}
