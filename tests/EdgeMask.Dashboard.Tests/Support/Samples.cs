using EdgeMask.Core.Events;

namespace EdgeMask.Dashboard.Tests.Support;

/// <summary>Contract documents built in code, as a device would publish them.</summary>
internal static class Samples
{
    /// <summary>A 96×72 JPEG (ffmpeg's test pattern), small enough to inline; real JPEG so the browser can render it.</summary>
    public static readonly byte[] Jpeg = Convert.FromBase64String("/9j/4AAQSkZJRgABAgAAAQABAAD//gAQTGF2YzU5LjM3LjEwMAD/2wBDAAgQEBMQExYWFhYWFhoYGhsbGxoaGhobGxsdHR0iIiIdHR0bGx0dICAiIiUmJSMjIiMmJigoKDAwLi44ODpFRVP/xACmAAADAQEBAQEBAAAAAAAAAAAABgcIBQQDAgEBAAIDAQEAAAAAAAAAAAAAAAAHBgUIBAMQAAECBAUCAwYFBQEBAAAAAAECAAURBANDgsEhEjFBIhNRkQah0tEyorM1FWFCYoN0sSVyEQABAgMECAIHBwEJAQAAAAABAgAEEQMSBUJDgcHCg0ExUSHSE6EyFaIG0SKCYRSjUlORNHNEI2KzsrFj03T/wAARCABIAGADARIAAhIAAxIA/9oADAMBAAIRAxEAPwDP7GMYxs0OxMur6sCpjU3Lg6JHEqPt2HaZ/l1UVh06nY/hzELSOSRMqP8AHYcJlsC4s/d7bhftdNzwtepILq1ChFJBIlOSyVqEwooTxs8SBMTm3CkoVVPiUeKPXur1l9fV0YAAAASA2AHZ8UNBqr/UTZR14q6y+fVzsAASHYDg5PfnxJSuk+TTSK0QRMpnJNKY+k1JdySZGwJEp7kjtPKC1qqKUpSipSiVKUoklRPckk9ySeZc6UoqMyZv8OQUaFKHQEUkJQnoBz7SmeJPbuT3L6ntqHhqMLTFOjTTTSOCRKZkBMnmpUgJqMyeL7WsxHDzaMiOHm0dtC4tGtkLi0a2v79yN5sMv3I3mw1ljtWNfsexWPADHKmNZiOHm0ZEcPNo7aFxaNbIXFo1tf37kbzYZfuRvNhrBAOx3f8AXdoqLpKCkKUhQ5KSSCOHYju/JwanVqUVBdNaqahyUglKhMS7ESPLs/B+SjiAukW7myugV2UdD8CWgNuwscKhCKnZXBXBR1H/AJcLbPv74WVBJXEwhNSiCVKpSJXRT1BmStAM5n1kplOfcvTb0bDsTLq1z3frBfTctqI8xKU991pExykTMymOR6TI9WwYrDp1OlREGshIPrI7E9eh6z7d3kC4s/d7bZkVdCbsiq1SmR5USbaUSANMgkqQAAE2BaFiXIdiO0zSWP0Y+NjwA+pQ2E1NXT2VEhN29atqKZTAWsJMpgicjtsWMYx6BhMPTQw6mVsblSDeWoS6KCShM+IMkplsZyUVSMi6JEcPNo7aFxaNbIXFo1tf37kbzYZfuRvNhrLHasa/Y5qxylj3WxrMRw82jIjh5tHbQuLRrZC4tGtr+/cjebDL9yN5sNZY7VjX7HsVjwAxypjWYjh5tGRHDzaO2hcWjWyFxaNbX9+5G82GX7kbzYayx2zGv2Oav7rShBuI862q9aCyuwBc8xPlAquDkbYskoCVEyuEGXhJ2cpdh+GX1T6fk91OH+2ob9Fb+EeN+a1EFQytpagT4gqTcSJ+K2riFCXJIJl4kgmXIAlrcRw82j9oXFo1shcWjW+C/cjebDL9yN5sPbLS/d2+qohNIpQAItm3tOUrSjbT1J3ISJ/y7VjX7HlSE/qNF/tWPzUvzw+6ixW0t24eKLd+0tRkTJKVgkyEyZD03YxjHsGI4ebRkRw82jtoXFo1shcWjW1/fuRvNhl+5G82Gssdqxr9jmrHKWPdbGsxHDzaMiOHm0dtC4tGtkLi0a2v79yN5sMv3I3mw1ljtWNfsexWPADHKmNZiOHm0ZEcPNo7aFxaNbIXFo1tf37kbzYZfuRvNhrLHbMa/Y5CsXP3avHJHP8A9LkrgeJlZv8AOSec0zE+M1K4zE+Un3V3StKklNuagQq4LVtN5U9lcryUi6SsTCyVzWCeU5ltRx/z6n6vQPk3W2/7Lg/2vfqeJqERw82jIjh5tH1wuLRrZC4tGt0F+5G82GX7kbzYemfdb9Gpf8359x+j3btLswikSsSJSpfUHw3LilpO0+qVA+o7u1Y1+x5TRDqpf2255kfM6lSdnwGKop5q9Cvk4hWd0q7opPOn7yPE2dXdIp7t2ooqQXQReRb4XApfMkpknmV9CVgcjuZTkS/3SdnNKN6QdK1bqy5YKh69EtQ1nnS+Lti6/lWKVqzbn9aBKdmXNQ6Nq13+zaWnqPiH1rrdYvq7znfl1fA0Mh5rVdkYjnSl9tHibbieLlBpbyeqPin6txuvTov27jn/AJdXwPPCGxlX5dyOdeW7q+B55ieLltZQ1N7hwtzlyn4kjrL1UHQ0vUMNfV3/AFf43OWXV+//ACNDQ3Bsu9r5gInyvLrWrNuf0VBKdmXNA6NGFyP9orjg/jt/O7Wl6ZTecIvlVn9hfhamhuDYPtCF/c91fhazLY11tOj7lyyq+jQ6vu1MLhvJXKH/ADKXjej6LeCb0g1cqs/sVPC1DDv218TpFcJXenKfgX3l/a5PV92jIb4dvQWpw/OWbR+//senaLnd6ERnk+T9dm3PDzsy9aXR+VBuoiNKrpc/Cv5XMbTzsfh+9B/d/wA2j/6PS63Rpu2LXypT+2jxNqw3BsABV0f2tNAm6Y0ZPv0/G3QtupMTSXyVPQr5OKw3B8ioo11FywkngjlJa9lcEkpmrjMFUhMyG5k2ZTTtKDr0bVtEuWJJ69CXOoni/S9YerFeV5SbVm3PuBKdmXrEdHJA7amMQy2lKE3QlKQAlKbVwBIGwAARIADoHA1OCqIRz7PxieLV3syM/a99HibcDlbH0MaFY2aHYmXVkOxMurqorDp1MisOnU2BcWfu9tlxZ+723UKOIeUPLuzKf6VdSn+D6ge0dGqvthY3yxYqTKeB5kfcfu9IcccWv/4X/GrMTB2EVTM1aZNlNUynaSZSTUJ7GckqnMkGc3Q+90f1ufer/wCj/wBb8SoKAUkggiYIMwQeRB6Otgf6SG/saX+wOoSpK0hSSFJUAQQZgg8iCOxBdPdv9BCf/PR/00tTiOHm0ZEcPNo5XC4tGtkLi0a3Gr9yN5sMv3I3mw1ljtWNfsexWPADHKmNZiOHm0ZEcPNo7aFxaNbIXFo1tf37kbzYZfuRvNhrLHbMa/Y+PRw4zFy8NuoR8309vo3VtOFgTMLqjtzCPF8v5csbuv74rTZXDQCjamUriBKQHHySDMkmYt9pSmicwRnxs0OxMurIdiZdXVRWHTqZFYdOpsC4s/d7bLiz93ttmY6ljYDH/9k=");

    public static readonly DateTimeOffset T0 = new(2026, 11, 2, 10, 0, 0, TimeSpan.Zero);

    public static MaskEvent Event(string id, string type, int sequence, string device, string camera, DateTimeOffset at,
        DateTimeOffset? startedAt = null, float probability = 0.93f, string? snapshotId = null, long trackId = 7)
    {
        var started = startedAt ?? at;
        return new MaskEvent
        {
            Id = id,
            Type = type,
            Sequence = sequence,
            Device = device,
            Camera = camera,
            TrackId = trackId,
            StartedAt = started,
            At = at,
            EndedAt = EventTypes.IsEnd(type) ? at : null,
            EndReason = EventTypes.IsEnd(type) ? "masked" : null,
            Frame = new EventFrame(1280, 720),
            Face = new EventFace([100, 120, 180, 220], [0.078f, 0.167f, 0.141f, 0.306f],
                [[120, 150], [160, 150], [140, 170], [125, 195], [155, 195]], 0.98f),
            Mask = new EventMask("no_mask", probability, 10, 9),
            Snapshot = snapshotId is null ? EventSnapshot.None : new EventSnapshot(true, snapshotId, Topics.Snapshot(device, camera), false),
        };
    }

    /// <summary>
    /// A version 2 event of a badly worn mask, as a device that counts them separately sends it (<c>incorrect.*</c>,
    /// label incorrect, the three probabilities).
    /// </summary>
    public static MaskEvent IncorrectEvent(string id, string type, int sequence, string device, string camera, DateTimeOffset at,
        DateTimeOffset? startedAt = null) =>
        Event(id, type, sequence, device, camera, at, startedAt) with
        {
            Mask = new EventMask("incorrect", 0.81f, 8, 6) { Probabilities = new EventProbabilities(0.07f, 0.12f, 0.81f) },
        };

    /// <summary>The same event as a version 1 device sends it: two labels, no probabilities, <c>violation.*</c> only.</summary>
    public static MaskEvent AsVersion1(MaskEvent e) =>
        e with { Schema = MaskEvent.SchemaNameV1, Type = EventTypes.AsViolation(e.Type), Mask = e.Mask with { Probabilities = null } };

    public static CameraStats Stats(string device, string camera, DateTimeOffset at, long seen, long unmasked,
        double fps = 14.5, string? executionProvider = "CPU", long? outboxDepth = 3, LabelCounts? byLabel = null) => new()
    {
        FacesByLabel = byLabel,
        Device = device,
        Camera = camera,
        At = at,
        IntervalSeconds = 10,
        FramesPerSecond = fps,
        LatencyMs = new LatencyStats(40, 60, 90),
        FramesProcessed = 145,
        DroppedFrames = 2,
        FacesSeen = seen,
        FacesUnmasked = unmasked,
        ComplianceRate = seen == 0 ? null : 1.0 - (double)unmasked / seen,
        ActiveViolations = 1,
        CameraHealth = "ok",
        ExecutionProvider = executionProvider,
        OutboxDepth = outboxDepth,
    };

    public static DeviceStatus Status(string device, string state, DateTimeOffset at) => new()
    {
        Device = device,
        State = state,
        At = at,
        Version = "1.0.0-test",
        ExecutionProvider = "CPU",
    };
}
