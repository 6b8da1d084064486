using System.Text.Json;
using EdgeMask.IoTHub.Twin;

namespace EdgeMask.IoTHub.Tests.Infrastructure;

/// <summary>
/// A stand-in for the module's real options (defined by the host): enough shape — nested sections, a map of cameras,
/// numbers with ranges, enums, booleans — to exercise the applier and the method payload validation.
/// </summary>
internal sealed record SampleOptions(double MinFaceScore, int CooldownSeconds, bool AlarmEnabled, string Provider,
    IReadOnlyDictionary<string, string> CameraUrls)
{
    public static SampleOptions Default { get; } = new(0.6, 30, true, "cpu", new Dictionary<string, string>());

    public static readonly string[] Providers = ["cpu", "cuda", "tensorrt"];

    public static TwinValidationResult<SampleOptions> Validate(JsonElement desired)
    {
        var root = DesiredObject.Root(desired);
        root.AllowOnly("detection", "alarm", "inference", "cameras");
        var detection = root.Object("detection");
        detection.AllowOnly("minFaceScore", "cooldownSeconds");
        var minScore = detection.Number("minFaceScore", Default.MinFaceScore, 0.05, 0.99);
        var cooldown = detection.Integer("cooldownSeconds", Default.CooldownSeconds, 0, 3600);
        var alarm = root.Object("alarm");
        alarm.AllowOnly("enabled");
        var enabled = alarm.Boolean("enabled", Default.AlarmEnabled);
        var inference = root.Object("inference");
        inference.AllowOnly("provider");
        var provider = inference.String("provider", Default.Provider, 32, Providers);
        var cameras = root.Object("cameras");
        var urls = new Dictionary<string, string>();
        foreach (var id in cameras.Names)
        {
            var camera = cameras.Object(id);
            camera.AllowOnly("url");
            var url = camera.String("url", "", 512);
            if (url.Length == 0)
            {
                camera.AddError("url", "required.");
            }
            else if (!Uri.TryCreate(url, UriKind.Absolute, out _))
            {
                camera.AddError("url", "not an absolute URI.");
            }

            urls[id] = url;
        }

        return root.HasErrors
            ? TwinValidationResult<SampleOptions>.Invalid(root.Errors)
            : TwinValidationResult<SampleOptions>.Valid(new SampleOptions(minScore, cooldown, enabled, provider, urls));
    }
}
