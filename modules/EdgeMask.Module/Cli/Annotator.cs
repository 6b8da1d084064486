using EdgeMask.Core.Detection;
using OpenCvSharp;

namespace EdgeMask.Module.Cli;

/// <summary>Draws faces onto images for people to look at (annotated copies, videos, snapshots).</summary>
public static class Annotator
{
    private static readonly Scalar Unknown = new(255, 200, 0);

    // BGR. Green and red as everywhere; amber for a badly worn mask, the dashboard's colour for it too.
    public static readonly Scalar MaskColour = new(60, 200, 60);
    public static readonly Scalar NoMaskColour = new(40, 40, 230);
    public static readonly Scalar IncorrectColour = new(0, 170, 255);

    /// <summary>The colour faces of <paramref name="label"/> are drawn in (annotated images and videos).</summary>
    public static Scalar ColourOf(MaskLabel label) => label switch
    {
        MaskLabel.Mask => MaskColour,
        MaskLabel.Incorrect => IncorrectColour,
        _ => NoMaskColour,
    };
    private static readonly Scalar[] LandmarkColours =
    [
        new(255, 0, 0), new(0, 0, 255), new(0, 255, 255), new(255, 0, 255), new(0, 255, 0),
    ];

    public static void Draw(Mat image, IReadOnlyList<FaceDetection> faces, IReadOnlyList<string>? labels = null, IReadOnlyList<Scalar>? colours = null)
    {
        int thickness = Math.Max(1, Math.Min(image.Width, image.Height) / 300);
        for (int i = 0; i < faces.Count; i++)
        {
            var f = faces[i];
            var colour = colours is not null && i < colours.Count ? colours[i] : Unknown;
            var rect = new Rect((int)f.Box.X1, (int)f.Box.Y1, Math.Max(1, (int)f.Box.Width), Math.Max(1, (int)f.Box.Height));
            Cv2.Rectangle(image, rect, colour, thickness);
            for (int m = 0; m < 5; m++)
                Cv2.Circle(image, new Point((int)f.Landmarks[m].X, (int)f.Landmarks[m].Y), thickness + 1, LandmarkColours[m], -1);
            string text = labels is not null && i < labels.Count ? labels[i] : $"{f.Score:0.00}";
            double fontScale = Math.Max(0.35, thickness * 0.4);
            var origin = new Point(rect.X, Math.Max(10, rect.Y - 3));
            Cv2.PutText(image, text, origin, HersheyFonts.HersheySimplex, fontScale, Scalar.Black, thickness + 2, LineTypes.AntiAlias);
            Cv2.PutText(image, text, origin, HersheyFonts.HersheySimplex, fontScale, colour, thickness, LineTypes.AntiAlias);
        }
    }

    private static readonly Scalar Unclassified = new(200, 200, 200);

    /// <summary>Draws confirmed tracks (the <c>--annotate</c> video): box coloured by the latest label (of this frame or the
    /// last one classified, so a settled face does not flicker grey), "#id label p".</summary>
    public static void DrawTracks(Mat image, ReadOnlySpan<Core.Tracking.FaceTrack> tracks)
    {
        int thickness = Math.Max(1, image.Height / 360);
        foreach (var track in tracks)
        {
            if (!track.IsConfirmed) continue;
            var b = track.Box;
            var cls = track.LastClassification;
            var colour = cls is null ? Unclassified : ColourOf(cls.Value.Label);
            Cv2.Rectangle(image, new Rect((int)b.X1, (int)b.Y1, Math.Max(1, (int)b.Width), Math.Max(1, (int)b.Height)), colour, thickness);
            string label = cls is null ? $"#{track.Id}" : $"#{track.Id} {cls.Value.LabelText} {cls.Value.Probability:0.00}";
            Label(image, label, new Point((int)b.X1, Math.Max(12, (int)b.Y1 - 4)), colour, thickness);
        }
    }

    // BGR: zones cyan, ignore zones grey, learnt pictures magenta — none of the face colours.
    public static readonly Scalar ZoneColour = new(220, 200, 0);
    public static readonly Scalar IgnoreZoneColour = new(150, 150, 150);
    public static readonly Scalar PictureColour = new(200, 0, 200);

    /// <summary>
    /// Draws where faces count (the <c>--annotate</c> video, for setting zones up): each zone's outline and name, each
    /// ignore zone's outline crossed out, and each learnt picture's box labelled "picture".
    /// </summary>
    public static void DrawPolicyOverlay(Mat image, Core.Policy.ViolationPolicyOptions policy, IReadOnlyList<Core.Policy.StationaryFace> pictures)
    {
        int thickness = Math.Max(1, image.Height / 540);
        foreach (var zone in policy.Zones) DrawZone(image, zone, ZoneColour, crossed: false, thickness);
        foreach (var zone in policy.IgnoreZones) DrawZone(image, zone, IgnoreZoneColour, crossed: true, thickness);
        foreach (var picture in pictures)
        {
            // The learnt box was measured on frames of the picture's own size; drawn to this frame's.
            float sx = (float)image.Width / picture.FrameWidth, sy = (float)image.Height / picture.FrameHeight;
            var b = picture.Box;
            var rect = new Rect((int)(b.X1 * sx), (int)(b.Y1 * sy), Math.Max(1, (int)(b.Width * sx)), Math.Max(1, (int)(b.Height * sy)));
            Cv2.Rectangle(image, rect, PictureColour, thickness);
            Label(image, "picture", new Point(rect.X, rect.Bottom + 12 * thickness), PictureColour, thickness);
        }
    }

    private static void DrawZone(Mat image, Core.Policy.ZoneOptions zone, Scalar colour, bool crossed, int thickness)
    {
        bool normalized = zone.Units == Core.Policy.ZoneUnits.Normalized;
        var points = zone.Points.Select(p => normalized
            ? new Point((int)MathF.Round(p.X * image.Width), (int)MathF.Round(p.Y * image.Height))
            : new Point((int)MathF.Round(p.X), (int)MathF.Round(p.Y))).ToArray();
        Cv2.Polylines(image, [points], isClosed: true, colour, thickness, LineTypes.AntiAlias);
        if (crossed)
        {
            var bounds = Cv2.BoundingRect(points);
            Cv2.Line(image, bounds.TopLeft, bounds.BottomRight, colour, thickness, LineTypes.AntiAlias);
            Cv2.Line(image, new Point(bounds.Right, bounds.Top), new Point(bounds.Left, bounds.Bottom), colour, thickness, LineTypes.AntiAlias);
        }
        Label(image, crossed ? $"{zone.Name} (ignored)" : zone.Name, new Point(points.Min(p => p.X) + 3, points.Min(p => p.Y) + 14 * thickness), colour, thickness);
    }

    /// <summary>Text in <paramref name="colour"/> outlined in black, readable on any background.</summary>
    private static void Label(Mat image, string text, Point origin, Scalar colour, int thickness)
    {
        Cv2.PutText(image, text, origin, HersheyFonts.HersheySimplex, 0.45 * thickness, Scalar.Black, thickness + 2, LineTypes.AntiAlias);
        Cv2.PutText(image, text, origin, HersheyFonts.HersheySimplex, 0.45 * thickness, colour, thickness, LineTypes.AntiAlias);
    }

    public static void Save(Mat image, IReadOnlyList<FaceDetection> faces, string path, IReadOnlyList<string>? labels = null, IReadOnlyList<Scalar>? colours = null)
    {
        using var copy = image.Clone();
        Draw(copy, faces, labels, colours);
        if (!Cv2.ImWrite(path, copy)) throw new IOException($"Could not write the annotated image {path}.");
    }
}
