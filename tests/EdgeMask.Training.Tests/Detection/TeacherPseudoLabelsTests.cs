using EdgeMask.Core.Detection;
using EdgeMask.Core.Geometry;
using EdgeMask.Inference.Models;
using EdgeMask.Training.Detection;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMask.Training.Tests.Detection;

public sealed class TeacherPseudoLabelsTests
{
    private static readonly Landmarks5 NoMarks = new(default, default, default, default, default);

    private static FaceDetection Det(float x1, float y1, float x2, float y2, float score) => new(new BoxF(x1, y1, x2, y2), score, NoMarks);

    [Fact]
    public void Select_DetectionsOfAnnotatedFaces_AreNotNewFaces()
    {
        var annotated = new[] { new BoxF(100, 100, 140, 150) };
        var detections = new List<FaceDetection>
        {
            Det(102, 98, 141, 152, 0.99f),   // the annotated face itself (IoU ≈ 0.9)
            Det(110, 110, 130, 135, 0.9f),   // a box on part of it (IoU 0.25, wholly inside)
            Det(90, 88, 160, 170, 0.85f),    // a loose box around it (IoU 0.35)
        };

        var extra = TeacherPseudoLabels.Select(detections, annotated, maxOverlap: 0.3f, nmsIoU: 0.4f);

        Assert.Empty(extra);
    }

    [Fact]
    public void Select_UnannotatedFaceFoundAtTwoSizings_IsOneNewFace()
    {
        var annotated = new[] { new BoxF(100, 100, 140, 150) };
        var detections = new List<FaceDetection>
        {
            Det(300, 50, 330, 88, 0.82f),  // from the 960 px sizing
            Det(301, 51, 331, 90, 0.93f),  // the same face from ×2
            Det(10, 200, 30, 224, 0.88f),  // another unannotated face
            Det(135, 140, 175, 190, 0.9f), // touches the annotated face (IoU 0.03): a neighbour, not the same face
        };

        var extra = TeacherPseudoLabels.Select(detections, annotated, maxOverlap: 0.3f, nmsIoU: 0.4f);

        Assert.Equal([new BoxF(301, 51, 331, 90), new BoxF(135, 140, 175, 190), new BoxF(10, 200, 30, 224)], extra);
    }

    [Fact]
    public void Find_StockModelOnTrainingPhotos_ReturnsConfidentFacesThatNoAnnotationCovers()
    {
        var entry = ModelManifest.Embedded.GetByRole("detector");
        using var photos = VocPhotoSet.Load(SharedFiles.Voc853, "train", NullLogger.Instance, limit: 40);
        var options = new PseudoLabelOptions(0.8f, [new DevSizing(1f, 960)]);

        var found = TeacherPseudoLabels.Find(SharedFiles.StockDetector, entry, photos.Photos, options, threads: 2, NullLogger.Instance);

        Assert.Equal(photos.Photos.Count, found.Count);
        // voc853 leaves many background faces out; the stock model finds some of them in 40 photos.
        Assert.True(found.Sum(f => f.Count) >= 3, $"only {found.Sum(f => f.Count)} pseudo-labels in 40 photos");
        for (int i = 0; i < found.Count; i++)
        {
            var photo = photos.Photos[i];
            foreach (var box in found[i])
            {
                Assert.All(photo.Annotation.Objects, o => Assert.True(o.Box.IoU(box) < 0.3f, $"{photo.Stem}: {box} is the annotated face {o.Box}"));
                Assert.True(box.X1 >= 0 && box.Y1 >= 0 && box.X2 <= photo.Image.Width && box.Y2 <= photo.Image.Height, $"{photo.Stem}: {box} is outside the photo");
            }
        }
    }

    [Theory]
    [InlineData(0f)]
    [InlineData(1f)]
    [InlineData(float.NaN)]
    public void Validate_ScoreOutsideZeroOne_ThrowsNamingTheOption(float score)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new PseudoLabelOptions(score, [2f]).Validate());
        Assert.Contains("--pseudo-labels", e.Message);
    }
}
