using EdgeMask.Training.Detection;
using Microsoft.Extensions.Logging.Abstractions;

namespace EdgeMask.Training.Tests.Detection;

public sealed class VocPhotoSetTests
{
    [Fact]
    public void FacesWeighted_Voc853Photo_WeighsFacesWithoutAMaskAndWithOneWornIncorrectly()
    {
        using var photos = VocPhotoSet.Load(SharedFiles.Voc853, "dev", NullLogger.Instance);
        var photo = photos.Photos.Single(p => p.Stem == "maksssksksss495"); // without_mask, mask_weared_incorrect, with_mask …

        var faces = photo.FacesWeighted(4f);

        Assert.Equal(photo.Annotation.Objects.Select(o => o.Name == "with_mask" ? 1f : 4f), faces.Select(f => f.Weight));
        Assert.Contains(faces, f => f.Weight == 1f);
        Assert.Equal(2, photo.Annotation.Objects.Where((o, i) => faces[i].Weight == 4f).Select(o => o.Name).Distinct().Count());
        Assert.All(photo.Faces, f => Assert.Equal(1f, f.Weight));
    }
}
