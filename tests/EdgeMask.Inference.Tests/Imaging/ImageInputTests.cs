using EdgeMask.Core.Detection;
using EdgeMask.Inference.Detection;
using EdgeMask.Inference.Imaging;
using EdgeMask.Inference.Tests.Detection;
using EdgeMask.Tests.Shared;
using OpenCvSharp;

namespace EdgeMask.Inference.Tests.Imaging;

/// <summary>Odd and broken image files: each either works correctly or fails with a reason a user can act on.</summary>
public class ImageInputTests(DetectorFixture fixture) : IClassFixture<DetectorFixture>
{
    private readonly string _dir = TestPaths.NewTempDirectory();

    private int FacesIn(Mat bgr)
    {
        var faces = new List<FaceDetection>();
        fixture.Native.Detect(bgr, faces);
        return faces.Count;
    }

    [Fact]
    public void LoadBgr_Grayscale_ExpandedAndFacesStillFound()
    {
        using var colour = Cv2.ImRead(TestPaths.VocImage(5));
        using var gray = colour.CvtColor(ColorConversionCodes.BGR2GRAY);
        var path = Path.Combine(_dir, "gray.png");
        Cv2.ImWrite(path, gray);
        using var loaded = ImageLoader.LoadBgr(path);
        Assert.Equal(MatType.CV_8UC3, loaded.Type());
        Assert.True(FacesIn(loaded) >= 3);
    }

    [Fact]
    public void LoadBgr_16BitPng_ScaledTo8BitWithSameFaces()
    {
        using var colour = Cv2.ImRead(TestPaths.VocImage(5));
        using var wide = new Mat();
        colour.ConvertTo(wide, MatType.CV_16UC3, 257.0);
        var path = Path.Combine(_dir, "deep.png");
        Cv2.ImWrite(path, wide);
        using var loaded = ImageLoader.LoadBgr(path);
        Assert.Equal(MatType.CV_8UC3, loaded.Type());
        using var diff = new Mat();
        Cv2.Absdiff(loaded, colour, diff);
        Assert.Equal(0, Cv2.CountNonZero(diff.Reshape(1)));
        Assert.Equal(FacesIn(colour), FacesIn(loaded));
    }

    [Fact]
    public void LoadBgr_PngWithAlpha_AlphaDropped()
    {
        using var colour = Cv2.ImRead(TestPaths.VocImage(5));
        using var bgra = colour.CvtColor(ColorConversionCodes.BGR2BGRA);
        var path = Path.Combine(_dir, "alpha.png");
        Cv2.ImWrite(path, bgra);
        using var loaded = ImageLoader.LoadBgr(path);
        Assert.Equal(MatType.CV_8UC3, loaded.Type());
    }

    [Fact]
    public void LoadBgr_EmptyFile_SaysEmpty()
    {
        var path = Path.Combine(_dir, "empty.jpg");
        File.WriteAllBytes(path, []);
        Assert.Contains("empty", Assert.Throws<ImageLoadException>(() => ImageLoader.LoadBgr(path)).Reason);
    }

    [Fact]
    public void LoadBgr_TextFileNamedJpg_SaysNotReadable()
    {
        var path = Path.Combine(_dir, "notes.jpg");
        File.WriteAllText(path, "this is not an image");
        Assert.Contains("not a readable image", Assert.Throws<ImageLoadException>(() => ImageLoader.LoadBgr(path)).Reason);
    }

    [Fact]
    public void LoadBgr_TruncatedJpeg_Refused()
    {
        var bytes = File.ReadAllBytes(TestPaths.VocImage(5));
        var path = Path.Combine(_dir, "cut.jpg");
        File.WriteAllBytes(path, bytes[..200]);
        Assert.Throws<ImageLoadException>(() => ImageLoader.LoadBgr(path));
    }

    [Fact]
    public void LoadBgr_OnePixel_TooSmallWithSize()
    {
        using var one = new Mat(1, 1, MatType.CV_8UC3, Scalar.All(128));
        var path = Path.Combine(_dir, "one.png");
        Cv2.ImWrite(path, one);
        var ex = Assert.Throws<ImageLoadException>(() => ImageLoader.LoadBgr(path));
        Assert.Contains("1×1", ex.Reason);
        Assert.Contains("too small", ex.Reason);
    }

    [Fact]
    public void Detect_8000x8000_RefusedWithTheFix_AndWorksWithTargetLongSide()
    {
        using var huge = new Mat(8000, 8000, MatType.CV_8UC3, Scalar.All(90));
        var ex = Assert.Throws<InputTooLargeException>(() => FacesIn(huge));
        Assert.Contains("--target-long-side", ex.Message);

        using var bounded = fixture.Open(new DetectorOptions { Sizing = new InputSizing { TargetLongSide = 1024 } });
        var faces = new List<FaceDetection>();
        bounded.Detect(huge, faces);
        Assert.Empty(faces);
    }

    [Fact]
    public void Detect_NotBgr8_ArgumentErrorNamesTheType()
    {
        using var gray = new Mat(64, 64, MatType.CV_8UC1, Scalar.All(0));
        var ex = Assert.Throws<ArgumentException>(() => FacesIn(gray));
        Assert.Contains("CV_8UC3", ex.Message);
    }

    [Fact]
    public void ExpandInputs_MixedFolder_ImagesOnlyAndMissingReported()
    {
        File.WriteAllText(Path.Combine(_dir, "readme.txt"), "x");
        File.Copy(TestPaths.VocImage(5), Path.Combine(_dir, "a.jpg"));
        var files = ImageLoader.ExpandInputs([_dir, Path.Combine(_dir, "nope.jpg")], out var missing);
        Assert.Equal([Path.Combine(_dir, "a.jpg")], files);
        Assert.Single(missing);
    }

    [Fact]
    public void ExpandInputs_Recursive_ImagesOfSubfoldersSortedWithTheirRelativeNames()
    {
        Directory.CreateDirectory(Path.Combine(_dir, "b", "deep"));
        Directory.CreateDirectory(Path.Combine(_dir, "a"));
        File.Copy(TestPaths.VocImage(5), Path.Combine(_dir, "b", "deep", "x.JPG"));
        File.Copy(TestPaths.VocImage(5), Path.Combine(_dir, "a", "x.jpg"));
        File.WriteAllText(Path.Combine(_dir, "a", "notes.txt"), "x");

        var flat = ImageLoader.ExpandInputs([_dir], recursive: false);
        var deep = ImageLoader.ExpandInputs([_dir], recursive: true);

        Assert.Empty(flat.Files);
        var empty = Assert.Single(flat.EmptyFolders);
        Assert.Equal(2, empty.ImagesInSubfolders);
        Assert.Contains("--recursive", empty.Message);
        Assert.Equal([Path.Combine(_dir, "a", "x.jpg"), Path.Combine(_dir, "b", "deep", "x.JPG")], deep.Files);
        Assert.Equal([Path.Combine("a", "x.jpg"), Path.Combine("b", "deep", "x.JPG")], deep.Names);
        Assert.Empty(deep.EmptyFolders);
    }

    [Fact]
    public void ExpandInputs_FolderWithoutImagesAnywhere_ReportedWithItsName()
    {
        Directory.CreateDirectory(Path.Combine(_dir, "sub"));
        File.WriteAllText(Path.Combine(_dir, "sub", "readme.txt"), "x");

        var r = ImageLoader.ExpandInputs([_dir, Path.Combine(_dir, "nope")], recursive: true);

        Assert.Empty(r.Files);
        Assert.Equal([Path.Combine(_dir, "nope")], r.Missing);
        Assert.StartsWith($"{_dir}: no image files found in it or its subfolders", Assert.Single(r.EmptyFolders).Message);
    }
}
