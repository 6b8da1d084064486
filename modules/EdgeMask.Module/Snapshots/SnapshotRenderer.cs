using System.Buffers;
using EdgeMask.Core.Detection;
using EdgeMask.Core.Geometry;
using OpenCvSharp;

namespace EdgeMask.Module.Snapshots;

/// <summary>A rectangle in whole pixels.</summary>
public readonly record struct PixelRect(int X, int Y, int Width, int Height)
{
    public int Right => X + Width;
    public int Bottom => Y + Height;
    public bool IsEmpty => Width <= 0 || Height <= 0;

    /// <summary>The smallest pixel rectangle covering <paramref name="box"/>, clipped to a <paramref name="width"/> × <paramref name="height"/> image.</summary>
    public static PixelRect Covering(in BoxF box, int width, int height)
    {
        int x1 = Math.Clamp((int)MathF.Floor(box.X1), 0, width);
        int y1 = Math.Clamp((int)MathF.Floor(box.Y1), 0, height);
        int x2 = Math.Clamp((int)MathF.Ceiling(box.X2), 0, width);
        int y2 = Math.Clamp((int)MathF.Ceiling(box.Y2), 0, height);
        return new PixelRect(x1, y1, Math.Max(0, x2 - x1), Math.Max(0, y2 - y1));
    }

    internal Rect ToRect() => new(X, Y, Width, Height);
}

/// <summary>
/// The encoded images of one snapshot. <see cref="CropJpeg"/>/<see cref="FrameJpeg"/> are set when the options store
/// them; <see cref="PublishJpeg"/> is the image for the snapshot topic (possibly the same array as one of them, or a
/// smaller re-encoding that fits <see cref="SnapshotOptions.MaxPublishBytes"/>), null when publishing is off.
/// </summary>
public sealed record RenderedSnapshot(
    byte[]? CropJpeg,
    byte[]? FrameJpeg,
    byte[]? PublishJpeg,
    PixelRect CropRect,
    PixelRect ViolatorRect,
    int FrameWidth,
    int FrameHeight,
    SnapshotPrivacy Privacy,
    int BlurredFaces)
{
    /// <summary>At least one face in the images was anonymized (what the event's <c>snapshot.blurred</c> says).</summary>
    public bool Blurred => BlurredFaces > 0;
}

/// <summary>
/// Turns the frame of a violation into JPEGs: the crop around the violator and the full frame with the violator's box,
/// with faces anonymized as <see cref="SnapshotOptions.Privacy"/> says. Runs once per violation start or improved
/// view, not per frame, so it favours clarity; the working image is still reused between calls.
/// </summary>
/// <remarks>
/// Not thread-safe (one renderer per camera pipeline). The caller's frame is only read: every change is made on a
/// copy this renderer owns.
/// </remarks>
public sealed class SnapshotRenderer : IDisposable
{
    /// <summary>A detected face is the violator's own detection when it overlaps the violator's box this much.</summary>
    public const float SameFaceIoU = 0.5f;

    // BGR: the box of the violator is drawn in red, the colour people read as "problem".
    private static readonly Scalar BoxColour = new(0, 0, 255);

    private readonly SnapshotOptions _options;
    private readonly Mat _work = new();
    private readonly Mat _small = new();
    private readonly Mat _scaled = new();
    private readonly int[] _jpegParams = [(int)ImwriteFlags.JpegQuality, 85];
    private bool _disposed;

    public SnapshotRenderer(SnapshotOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options.Validate();
    }

    public SnapshotOptions Options => _options;

    /// <summary>Renders with the faces of the frame as detections (only their boxes are used).</summary>
    public RenderedSnapshot Render(Mat frame, in BoxF violator, ReadOnlySpan<FaceDetection> faces, string? label = null)
    {
        BoxF[] boxes = ArrayPool<BoxF>.Shared.Rent(Math.Max(1, faces.Length));
        try
        {
            for (int i = 0; i < faces.Length; i++) boxes[i] = faces[i].Box;
            return Render(frame, violator, boxes.AsSpan(0, faces.Length), label);
        }
        finally
        {
            ArrayPool<BoxF>.Shared.Return(boxes);
        }
    }

    /// <summary>
    /// Renders the snapshot of <paramref name="violator"/> in <paramref name="frame"/> (8-bit BGR, not modified, not
    /// owned). <paramref name="faces"/> are all faces of the frame, the violator's own detection may be among them.
    /// <paramref name="label"/> (e.g. <c>no_mask 0.93</c>) is written above the box on the full frame.
    /// </summary>
    /// <exception cref="ArgumentException">The frame is empty or not 8-bit 3-channel.</exception>
    public RenderedSnapshot Render(Mat frame, in BoxF violator, ReadOnlySpan<BoxF> faces, string? label = null)
    {
        CopyFrame(frame, out int w, out int h);

        PixelRect violatorRect = PixelRect.Covering(violator, w, h);
        int blurred = Anonymize(violator, faces, w, h);
        if (blurred > 0 && _options.Privacy == SnapshotPrivacy.BlurOthers && !violatorRect.IsEmpty)
        {
            // A bystander's grown blur area may reach into the violator's face in a crowd; the evidence wins there.
            using var src = new Mat(frame, violatorRect.ToRect());
            using var dst = new Mat(_work, violatorRect.ToRect());
            src.CopyTo(dst);
        }

        BoxF cropBox = new(violator.X1 - violator.Width * _options.CropMargin, violator.Y1 - violator.Height * _options.CropMargin,
            violator.X2 + violator.Width * _options.CropMargin, violator.Y2 + violator.Height * _options.CropMargin);
        PixelRect cropRect = PixelRect.Covering(cropBox, w, h);

        bool storeCrop = (_options.Images & SnapshotImages.Crop) != 0;
        bool storeFrame = (_options.Images & SnapshotImages.Frame) != 0;
        bool publishCrop = _options.Publish == SnapshotPublishImage.Crop;
        bool publishFrame = _options.Publish == SnapshotPublishImage.Frame;

        byte[]? crop = null, full = null, publish = null;
        if ((storeCrop || publishCrop) && !cropRect.IsEmpty)
        {
            using var roi = new Mat(_work, cropRect.ToRect());
            byte[] jpeg = Encode(roi, _options.JpegQuality);
            if (storeCrop) crop = jpeg;
            if (publishCrop) publish = FitForPublishing(roi, jpeg);
        }
        if (storeFrame || publishFrame)
        {
            DrawViolator(_work, violatorRect, label);
            byte[] jpeg = Encode(_work, _options.JpegQuality);
            if (storeFrame) full = jpeg;
            if (publishFrame) publish = FitForPublishing(_work, jpeg);
        }

        return new RenderedSnapshot(crop, full, publish, cropRect, violatorRect, w, h, _options.Privacy, blurred);
    }

    /// <summary>
    /// A snapshot of the scene with no violator (e.g. an operator's <c>captureSnapshot</c>): only the full frame, nothing
    /// drawn, and every face anonymized unless <see cref="SnapshotOptions.Privacy"/> is None (with no violator,
    /// BlurOthers covers every face too).
    /// </summary>
    public RenderedSnapshot RenderScene(Mat frame, ReadOnlySpan<BoxF> faces)
    {
        CopyFrame(frame, out int w, out int h);
        int blurred = 0;
        if (_options.Privacy != SnapshotPrivacy.None)
            foreach (BoxF face in faces)
                if (BlurRegion(face, w, h)) blurred++;
        byte[] jpeg = Encode(_work, _options.JpegQuality);
        byte[]? publish = _options.Publish == SnapshotPublishImage.None ? null : FitForPublishing(_work, jpeg);
        return new RenderedSnapshot(null, jpeg, publish, default, default, w, h, _options.Privacy, blurred);
    }

    private void CopyFrame(Mat frame, out int w, out int h)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(frame);
        if (frame.Empty() || frame.Type() != MatType.CV_8UC3)
            throw new ArgumentException($"A snapshot needs a non-empty 8-bit BGR frame (CV_8UC3); got {frame.Type()} {frame.Width}x{frame.Height}.", nameof(frame));
        w = frame.Width;
        h = frame.Height;
        frame.CopyTo(_work);
    }

    /// <summary>Anonymizes the faces the privacy mode covers in <see cref="_work"/>; returns how many.</summary>
    private int Anonymize(in BoxF violator, ReadOnlySpan<BoxF> faces, int w, int h)
    {
        if (_options.Privacy == SnapshotPrivacy.None) return 0;
        int count = 0;
        bool violatorCovered = false;
        foreach (BoxF face in faces)
        {
            bool isViolator = face.IoU(violator) >= SameFaceIoU;
            violatorCovered |= isViolator;
            if (isViolator && _options.Privacy == SnapshotPrivacy.BlurOthers) continue;
            if (BlurRegion(face, w, h)) count++;
        }
        // Under BlurAll the violator is hidden even when the caller did not list its detection among the faces.
        if (_options.Privacy == SnapshotPrivacy.BlurAll && !violatorCovered && BlurRegion(violator, w, h)) count++;
        return count;
    }

    private bool BlurRegion(in BoxF face, int w, int h)
    {
        if (face.Area <= 0f) return false;
        PixelRect rect = PixelRect.Covering(face.Expand(_options.BlurBoxScale), w, h);
        if (rect.IsEmpty) return false;
        float side = MathF.Max(face.Width, face.Height) * _options.BlurBoxScale;
        using var roi = new Mat(_work, rect.ToRect());
        if (_options.BlurMethod == SnapshotBlurMethod.Pixelate)
        {
            int block = Math.Max(2, (int)MathF.Round(side * _options.BlurStrength));
            var blocks = new Size(Math.Max(1, (rect.Width + block - 1) / block), Math.Max(1, (rect.Height + block - 1) / block));
            Cv2.Resize(roi, _small, blocks, 0, 0, InterpolationFlags.Area);
            Cv2.Resize(_small, _scaled, new Size(rect.Width, rect.Height), 0, 0, InterpolationFlags.Nearest);
            _scaled.CopyTo(roi);
        }
        else
        {
            double sigma = Math.Max(1.0, side * _options.BlurStrength);
            int k = 2 * (int)Math.Ceiling(3 * sigma) + 1;
            // The blur reads only the region itself (Isolated): pixels of the violator next to it must not leak in,
            // and the result must not depend on what happens to lie outside the box.
            Cv2.GaussianBlur(roi, _scaled, new Size(k, k), sigma, sigma, BorderTypes.Reflect101 | BorderTypes.Isolated);
            _scaled.CopyTo(roi);
        }
        return true;
    }

    private static void DrawViolator(Mat image, PixelRect rect, string? label)
    {
        if (rect.IsEmpty) return;
        int thickness = Math.Max(2, Math.Min(image.Width, image.Height) / 250);
        Cv2.Rectangle(image, rect.ToRect(), BoxColour, thickness);
        if (string.IsNullOrEmpty(label)) return;
        double scale = Math.Max(0.4, thickness * 0.3);
        var origin = new Point(rect.X, rect.Y - thickness - 2 < 12 ? Math.Min(image.Height - 2, rect.Bottom + 14 + thickness) : rect.Y - thickness - 2);
        // A dark outline under the text keeps it readable on any background.
        Cv2.PutText(image, label, origin, HersheyFonts.HersheySimplex, scale, Scalar.Black, thickness + 2, LineTypes.AntiAlias);
        Cv2.PutText(image, label, origin, HersheyFonts.HersheySimplex, scale, BoxColour, Math.Max(1, thickness - 1), LineTypes.AntiAlias);
    }

    private byte[] Encode(Mat image, int quality)
    {
        _jpegParams[1] = quality;
        if (!Cv2.ImEncode(".jpg", image, out byte[] jpeg, _jpegParams))
            throw new InvalidOperationException($"OpenCV could not encode a {image.Width}x{image.Height} JPEG.");
        return jpeg;
    }

    /// <summary>Lower quality first (cheap, keeps the size), then smaller images, until the JPEG fits the publish limit.</summary>
    private byte[]? FitForPublishing(Mat image, byte[] encoded)
    {
        int max = _options.MaxPublishBytes;
        if (encoded.Length <= max) return encoded;
        for (int q = Math.Min(_options.JpegQuality, 85) - 15; q >= 40; q -= 15)
        {
            byte[] jpeg = Encode(image, q);
            if (jpeg.Length <= max) return jpeg;
        }
        int width = image.Width, height = image.Height;
        double factor = 0.75;
        while (width * factor >= 32 && height * factor >= 32)
        {
            Cv2.Resize(image, _small, new Size((int)(width * factor), (int)(height * factor)), 0, 0, InterpolationFlags.Area);
            byte[] jpeg = Encode(_small, 60);
            if (jpeg.Length <= max) return jpeg;
            factor *= 0.75;
        }
        return null;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _work.Dispose();
        _small.Dispose();
        _scaled.Dispose();
    }
}
