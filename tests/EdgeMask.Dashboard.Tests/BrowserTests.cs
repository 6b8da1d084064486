using System.Globalization;
using EdgeMask.Core.Events;
using EdgeMask.Dashboard.Storage;
using EdgeMask.Dashboard.Tests.Support;
using Microsoft.Playwright;
using static EdgeMask.Dashboard.Tests.Support.Samples;
using EventMask = EdgeMask.Core.Events.EventMask;

namespace EdgeMask.Dashboard.Tests;

/// <summary>
/// The pages as a person sees them: headless Chromium against the running dashboard, fed through a real broker.
/// Each test uses its own device/camera names, so they share one dashboard without seeing each other's data.
/// </summary>
public sealed class BrowserTests(BrowserFixture fixture) : IClassFixture<BrowserFixture>
{
    private static readonly DateTimeOffset ChartStart = new(2026, 11, 2, 10, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task LivePage_PublishedViolation_AppearsWithinTwoSecondsWithSnapshot()
    {
        var page = await fixture.SignedIn.NewPageAsync();
        await page.GotoAsync("/");
        await page.WaitForSelectorAsync("body[data-live=connected]", new PageWaitForSelectorOptions { Timeout = 15_000 });

        var now = DateTimeOffset.UtcNow;
        await fixture.Broker.PublishAsync(Topics.Snapshot("dev-live", "entrance"), Jpeg, new Dictionary<string, string> { ["snapshotId"] = "live-snap-1" });
        var published = Event("live-1", EventTypes.ViolationStart, 0, "dev-live", "entrance", now, now.AddSeconds(-3.5), probability: 0.97f, snapshotId: "live-snap-1");
        await fixture.Broker.PublishAsync(Topics.Events("dev-live", "entrance"), EventJsonContext.Serialize(published));

        // The requirement: visible in the feed within 2 s of publishing.
        var row = page.Locator("tr[data-event-key='live-1:violation.start:0']");
        await row.WaitForAsync(new LocatorWaitForOptions { Timeout = 2_000 });
        var text = await row.InnerTextAsync();
        Assert.Contains("entrance", text);
        Assert.Contains("no_mask 0.97", text);
        Assert.Contains("3.5 s", text);
        Assert.Contains(now.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture), text);
        // The snapshot JPEG is served to the signed-in browser and decodes (retried if it lands after the event).
        await page.WaitForFunctionAsync(
            "() => { const i = document.querySelector(\"tr[data-event-key='live-1:violation.start:0'] img\"); return i && i.complete && i.naturalWidth === 96; }",
            null, new PageWaitForFunctionOptions { Timeout = 15_000 });

        // A redelivery does not add a second line.
        await fixture.Broker.PublishAsync(Topics.Events("dev-live", "entrance"), EventJsonContext.Serialize(published));
        var end = Event("live-1", EventTypes.ViolationEnd, 1, "dev-live", "entrance", now.AddSeconds(2), now.AddSeconds(-3.5), snapshotId: "live-snap-1");
        await fixture.Broker.PublishAsync(Topics.Events("dev-live", "entrance"), EventJsonContext.Serialize(end));
        await page.Locator("tr[data-event-key='live-1:violation.end:1']").WaitForAsync(new LocatorWaitForOptions { Timeout = 5_000 });
        Assert.Equal(1, await page.Locator("tr[data-event-key='live-1:violation.start:0']").CountAsync());

        await fixture.ScreenshotAsync(page, "live.png");
        await page.CloseAsync();
    }

    [Fact]
    public async Task CompliancePage_PreparedStream_ChartAndTablesShowTheRightCounts()
    {
        // Minute 0: 5/1 and 7/2, minute 1: 4/0, minute 3: 10/5 (seen/unmasked); violations start in minutes 0 and 3.
        (int Second, long Seen, long Unmasked)[] stream = [(0, 5, 1), (30, 7, 2), (70, 4, 0), (190, 10, 5)];
        foreach (var (second, seen, unmasked) in stream)
        {
            await fixture.Broker.PublishAsync(Topics.Stats("dev-chart", "lobby"),
                EventJsonContext.Serialize(Stats("dev-chart", "lobby", ChartStart.AddSeconds(second), seen, unmasked)));
        }
        await fixture.Broker.PublishAsync(Topics.Events("dev-chart", "lobby"),
            EventJsonContext.Serialize(Event("chart-v1", EventTypes.ViolationStart, 0, "dev-chart", "lobby", ChartStart.AddSeconds(10))));
        await fixture.Broker.PublishAsync(Topics.Events("dev-chart", "lobby"),
            EventJsonContext.Serialize(Event("chart-v2", EventTypes.ViolationStart, 0, "dev-chart", "lobby", ChartStart.AddSeconds(200))));
        var query = new ComplianceQuery(null, "lobby", ChartStart, ChartStart.AddHours(1), BucketSize.Minute);
        await Eventually.UntilAsync(() => fixture.Host.Store.QueryComplianceAsync(query, default),
            b => b.Sum(x => x.FacesSeen) == 26 && b.Sum(x => x.Violations) == 2, "the prepared stream stored");

        var page = await fixture.SignedIn.NewPageAsync();
        await page.GotoAsync("/compliance?camera=lobby&bucket=minute&from=2026-11-02T10:00:00&to=2026-11-02T11:00:00");
        var chart = page.Locator("#chart");
        Assert.Equal("26", await chart.GetAttributeAsync("data-total-seen"));
        Assert.Equal("8", await chart.GetAttributeAsync("data-total-unmasked"));
        Assert.Equal("2", await chart.GetAttributeAsync("data-total-violations"));
        Assert.Equal("3", await chart.GetAttributeAsync("data-buckets"));
        // uPlot (from npm, embedded at build time) really drew the chart.
        await page.WaitForSelectorAsync("#chart[data-rendered=true] canvas", new PageWaitForSelectorOptions { Timeout = 10_000 });

        var rows = await page.Locator("#buckets tbody tr").EvaluateAllAsync<string[][]>(
            "rows => rows.map(r => [r.dataset.bucket, r.querySelector('.seen').textContent, r.querySelector('.unmasked').textContent, r.querySelector('.violations').textContent])");
        Assert.Equal(
            [["2026-11-02T10:00:00Z", "12", "3", "1"], ["2026-11-02T10:01:00Z", "4", "0", "0"], ["2026-11-02T10:03:00Z", "10", "5", "1"]],
            rows);
        Assert.Equal("69.2 %", (await page.Locator("#total-rate").InnerTextAsync()).Trim());

        // The same prepared stream by hour is one bucket.
        await page.SelectOptionAsync("select[name=bucket]", "hour");
        await page.ClickAsync("form.filters button[type=submit]");
        await page.WaitForURLAsync(url => url.Contains("bucket=hour", StringComparison.Ordinal));
        Assert.Equal("1", await page.Locator("#chart").GetAttributeAsync("data-buckets"));
        Assert.Equal("26", await page.Locator("#chart").GetAttributeAsync("data-total-seen"));
        await page.WaitForSelectorAsync("#chart[data-rendered=true] canvas", new PageWaitForSelectorOptions { Timeout = 10_000 });
        await page.GotoAsync("/compliance?camera=lobby&bucket=minute&from=2026-11-02T10:00:00&to=2026-11-02T10:10:00");
        await page.WaitForSelectorAsync("#chart[data-rendered=true] canvas", new PageWaitForSelectorOptions { Timeout = 10_000 });
        await fixture.ScreenshotAsync(page, "compliance.png");
        await page.CloseAsync();
    }

    [Fact]
    public async Task HistoryPage_FilterAndCsvExport_GiveExactlyThePublishedEvents()
    {
        var expected = new List<string>();
        for (var i = 0; i < 12; i++)
        {
            var camera = i % 2 == 0 ? "hist-a" : "hist-b";
            var type = i % 3 == 0 ? EventTypes.ViolationEnd : EventTypes.ViolationStart;
            var e = Event($"hist-{i:00}", type, type == EventTypes.ViolationEnd ? 1 : 0, "dev-hist", camera, ChartStart.AddDays(1).AddMinutes(i));
            await fixture.Broker.PublishAsync(Topics.Events("dev-hist", camera), EventJsonContext.Serialize(e));
            if (camera == "hist-b" && type == EventTypes.ViolationStart && i < 11)
            {
                expected.Add($"{e.Id}:{e.Type}:{e.Sequence}");
            }
        }
        await Eventually.UntilAsync(() => fixture.Host.Store.QueryEventsAsync(new EventQuery(Device: "dev-hist"), default), p => p.Total == 12,
            "the 12 history events stored");

        var page = await fixture.SignedIn.NewPageAsync();
        await page.GotoAsync("/history");
        await page.FillAsync("#history-filter input[name=device]", "dev-hist");
        await page.FillAsync("#history-filter input[name=camera]", "hist-b");
        await page.SelectOptionAsync("#history-filter select[name=type]", EventTypes.ViolationStart);
        await page.FillAsync("#history-filter input[name=from]", "2026-11-03T10:00");
        await page.FillAsync("#history-filter input[name=to]", "2026-11-03T10:11");
        await page.ClickAsync("#history-filter button[type=submit]");
        await page.WaitForURLAsync(url => url.Contains("camera=hist-b", StringComparison.Ordinal));

        var keys = await page.Locator("#history tbody tr").EvaluateAllAsync<string[]>("rows => rows.map(r => r.dataset.eventKey)");
        Assert.Equal(expected.AsEnumerable().Reverse(), keys);
        Assert.Equal(expected.Count.ToString(CultureInfo.InvariantCulture), await page.Locator("#page-info").GetAttributeAsync("data-total"));
        await fixture.ScreenshotAsync(page, "history.png");

        // The export link carries the same filter; the file holds exactly those events.
        var download = await page.RunAndWaitForDownloadAsync(() => page.ClickAsync("#csv-export"));
        var csv = await File.ReadAllLinesAsync(await download.PathAsync());
        Assert.StartsWith("id,type,sequence,device,camera", csv[0], StringComparison.Ordinal);
        var exported = csv.Skip(1).Select(line => line.Split(',').Select(f => f.Trim('"')).ToArray())
            .Select(f => $"{f[0]}:{f[1]}:{f[2]}").ToList();
        Assert.Equal(expected.AsEnumerable().Reverse(), exported);

        // Paging: 6 events of hist-a, 4 per page.
        await page.GotoAsync("/history?camera=hist-a&pageSize=4");
        Assert.Equal("6", await page.Locator("#page-info").GetAttributeAsync("data-total"));
        Assert.Equal(4, await page.Locator("#history tbody tr").CountAsync());
        await page.ClickAsync("a[rel=next]");
        await page.WaitForURLAsync(url => url.Contains("page=2", StringComparison.Ordinal));
        var secondPage = await page.Locator("#history tbody tr").EvaluateAllAsync<string[]>("rows => rows.map(r => r.dataset.eventKey)");
        Assert.Equal(["hist-02:violation.start:0", "hist-00:violation.end:1"], secondPage);
        await page.CloseAsync();
    }

    [Fact]
    public async Task DevicesPage_StatusAndStats_ShowOnlineStateFpsProviderAndOutbox()
    {
        var now = DateTimeOffset.UtcNow;
        await fixture.Broker.PublishAsync(Topics.Status("dev-dev"), EventJsonContext.Serialize(Status("dev-dev", "online", now)), retain: true);
        await fixture.Broker.PublishAsync(Topics.Stats("dev-dev", "gate"),
            EventJsonContext.Serialize(Stats("dev-dev", "gate", now, 4, 1, fps: 14.5, executionProvider: "TensorRT", outboxDepth: 17)));
        await fixture.Broker.PublishAsync(Topics.Status("dev-gone"), EventJsonContext.Serialize(Status("dev-gone", "offline", now)));
        await Eventually.UntilAsync(() => fixture.Host.Store.GetCamerasAsync(default), c => c.Any(x => x.Camera == "gate" && x.OutboxDepth == 17),
            "the camera stats stored");
        await Eventually.UntilAsync(() => fixture.Host.Store.GetDevicesAsync(default), d => d.Any(x => x.Device == "dev-gone"), "the offline device stored");

        var page = await fixture.SignedIn.NewPageAsync();
        await page.GotoAsync("/devices");
        Assert.Equal("true", await page.Locator("#devices tr[data-device=dev-dev]").GetAttributeAsync("data-online"));
        Assert.Equal("false", await page.Locator("#devices tr[data-device=dev-gone]").GetAttributeAsync("data-online"));
        var camera = page.Locator("#cameras tr[data-camera=gate]");
        Assert.Equal("14.5", (await camera.Locator(".fps").InnerTextAsync()).Trim());
        Assert.Equal("17", (await camera.Locator(".outbox").InnerTextAsync()).Trim());
        Assert.Contains("TensorRT", await camera.InnerTextAsync());
        await fixture.ScreenshotAsync(page, "devices.png");
        await page.CloseAsync();
    }

    private const string Amber = "rgb(255, 170, 0)";

    [Fact]
    public async Task Pages_RecordedVersion2AndVersion1Runs_FilterIncorrectShowItAmberAndSplitTheFaces()
    {
        // Two real device runs: contract version 2 with badly worn masks counted separately, and version 1.
        var v2 = RecordedRun.Load(RecordedRun.Version2, camera: "platform");
        var v1 = RecordedRun.Load(RecordedRun.Version1, camera: "platform-v1");
        foreach (var (topic, payload) in v2.Messages.Concat(v1.Messages))
        {
            await fixture.Broker.PublishAsync(topic, payload);
        }
        var total = v2.Events.Count() + v1.Events.Count();
        await Eventually.UntilAsync(() => fixture.Host.Store.QueryEventsAsync(new EventQuery(Device: "station"), default), p => p.Total == total,
            "the recorded runs' events stored", TimeSpan.FromSeconds(60));
        var (first, last) = v2.TimeRange();
        var (first1, last1) = v1.TimeRange();
        var range = $"from={(first < first1 ? first : first1).AddMinutes(-1).UtcDateTime:yyyy-MM-ddTHH:mm:ss}&to={(last > last1 ? last : last1).AddMinutes(1).UtcDateTime:yyyy-MM-ddTHH:mm:ss}";
        await Eventually.UntilAsync(() => fixture.Host.Store.QueryCameraTotalsAsync(null, null, first.AddMinutes(-10), last1.AddMinutes(10), default),
            t => t.Where(x => x.Device == "station").Sum(x => x.FacesSeen) == v2.SumStats("facesSeen") + v1.SumStats("facesSeen"), "the recorded stats stored");

        // History: the label filter offers incorrect and finds exactly the events labelled so, in amber.
        var page = await fixture.SignedIn.NewPageAsync();
        await page.GotoAsync("/history?device=station&pageSize=500");
        Assert.Equal(EventTypes.All, await page.Locator("#history-filter select[name=type] option:not([value=''])").EvaluateAllAsync<string[]>("o => o.map(x => x.value)"));
        await page.SelectOptionAsync("#history-filter select[name=label]", "incorrect");
        await page.ClickAsync("#history-filter button[type=submit]");
        await page.WaitForURLAsync(url => url.Contains("label=incorrect", StringComparison.Ordinal));
        var labels = await page.Locator("#history tbody tr").EvaluateAllAsync<string[]>("rows => rows.map(r => r.dataset.label)");
        Assert.Equal(v2.Events.Count(e => e.GetProperty("mask").GetProperty("label").GetString() == "incorrect"), labels.Length);
        Assert.All(labels, l => Assert.Equal("incorrect", l));
        Assert.Equal(Amber, await BackgroundAsync(page.Locator("#history tbody tr .badge.label").First));
        await fixture.ScreenshotAsync(page, "history-incorrect.png");
        // A label no event has (a link from elsewhere, a label retention removed) still shows as the filter in force.
        await page.GotoAsync("/history?device=station&pageSize=500&label=face_shield");
        Assert.Equal("face_shield", await page.Locator("#history-filter select[name=label]").InputValueAsync());
        Assert.Equal(0, await page.Locator("#history tbody tr").CountAsync());

        // The type filter takes the incorrect-mask episodes; each row says so with an amber badge.
        await page.SelectOptionAsync("#history-filter select[name=label]", "");
        await page.SelectOptionAsync("#history-filter select[name=type]", EventTypes.IncorrectStart);
        await page.ClickAsync("#history-filter button[type=submit]");
        await page.WaitForURLAsync(url => url.Contains("type=incorrect.start", StringComparison.Ordinal));
        Assert.Equal(RecordedRun.V2IncorrectStarts, await page.Locator("#history tbody tr[data-kind=incorrect]").CountAsync());
        Assert.Equal(RecordedRun.V2IncorrectStarts, await page.Locator("#history tbody tr").CountAsync());
        Assert.Equal(Amber, await BackgroundAsync(page.Locator("#history tbody tr .badge.kind-incorrect").First));

        // Compliance, version 2 camera: the split from facesByLabel, amber for incorrect, its episodes apart from violations.
        await page.GotoAsync($"/compliance?camera=platform&bucket=minute&{range}");
        var split = page.Locator("#face-split");
        Assert.Equal(
            (v2.SumFaces("mask").ToString(CultureInfo.InvariantCulture), v2.SumFaces("incorrect").ToString(CultureInfo.InvariantCulture),
                v2.SumFaces("no_mask").ToString(CultureInfo.InvariantCulture), "0"),
            (await split.GetAttributeAsync("data-mask"), await split.GetAttributeAsync("data-incorrect"), await split.GetAttributeAsync("data-no-mask"),
                await split.GetAttributeAsync("data-unsplit")));
        Assert.Equal(Amber, await page.Locator("#face-split rect[data-part=incorrect]").EvaluateAsync<string>("r => getComputedStyle(r).fill"));
        Assert.Equal($"{RecordedRun.V2IncorrectStarts}", (await page.Locator("#total-incorrect-episodes").InnerTextAsync()).Trim());
        Assert.Equal($"{RecordedRun.V2ViolationStarts}", (await page.Locator("#total-violations").InnerTextAsync()).Trim());
        // The device's rate: over the classified faces, not every face seen.
        var expectedRate = 1.0 - (double)v2.SumStats("facesUnmasked") / (v2.SumFaces("mask") + v2.SumFaces("no_mask") + v2.SumFaces("incorrect"));
        Assert.Equal(Format(expectedRate), (await page.Locator("#total-rate").InnerTextAsync()).Trim());
        await page.WaitForSelectorAsync("#chart[data-rendered=true] canvas", new PageWaitForSelectorOptions { Timeout = 10_000 });
        Assert.Equal(Amber, await page.Locator("#label-counts tr[data-label=incorrect] .badge.label").EvaluateAsync<string>("b => getComputedStyle(b).backgroundColor"));
        await fixture.ScreenshotAsync(page, "compliance-incorrect.png");

        // Version 1 camera: shown unsplit, nothing guessed into a label.
        await page.GotoAsync($"/compliance?camera=platform-v1&bucket=minute&{range}");
        Assert.Equal(v1.SumStats("facesSeen").ToString(CultureInfo.InvariantCulture), await page.Locator("#face-split").GetAttributeAsync("data-unsplit"));
        Assert.Equal("0", await page.Locator("#face-split").GetAttributeAsync("data-incorrect"));
        Assert.Equal(1, await page.Locator("#face-split rect").CountAsync());
        Assert.Equal("0", (await page.Locator("#total-incorrect-episodes").InnerTextAsync()).Trim());
        Assert.Equal($"{RecordedRun.V1ViolationStarts}", (await page.Locator("#total-violations").InnerTextAsync()).Trim());
        await page.CloseAsync();

        static string Format(double rate) => (rate * 100).ToString("0.0", CultureInfo.InvariantCulture) + " %";
    }

    [Fact]
    public async Task LivePage_IncorrectMaskEpisode_AppearsAmberAndIsCountedApartFromViolations()
    {
        var page = await fixture.SignedIn.NewPageAsync();
        await page.GotoAsync("/");
        await page.WaitForSelectorAsync("body[data-live=connected]", new PageWaitForSelectorOptions { Timeout = 15_000 });
        var violationsBefore = int.Parse(await page.Locator("#count-violations").InnerTextAsync(), CultureInfo.InvariantCulture);
        var incorrectBefore = int.Parse(await page.Locator("#count-incorrect").InnerTextAsync(), CultureInfo.InvariantCulture);
        // A second listener on the stream, as another consumer would open it: it records each SSE event's name.
        await page.EvaluateAsync(@"() => new Promise(resolve => {
            window.kinds = [];
            const s = new EventSource('/live/stream');
            for (const n of ['violation', 'incorrect']) s.addEventListener(n, m => window.kinds.push(n + ':' + JSON.parse(m.data).type));
            s.onopen = () => resolve();
        })");

        var now = DateTimeOffset.UtcNow;
        var incorrect = IncorrectEvent("live-incorrect-1", EventTypes.IncorrectStart, 0, "dev-amber", "amber-gate", now);
        var violation = Event("live-violation-1", EventTypes.ViolationStart, 0, "dev-amber", "amber-gate", now);
        await fixture.Broker.PublishAsync(Topics.Events("dev-amber", "amber-gate"), EventJsonContext.Serialize(incorrect));
        await fixture.Broker.PublishAsync(Topics.Events("dev-amber", "amber-gate"), EventJsonContext.Serialize(violation));

        var row = page.Locator("tr[data-event-key='live-incorrect-1:incorrect.start:0']");
        await row.WaitForAsync(new LocatorWaitForOptions { Timeout = 5_000 });
        await page.Locator("tr[data-event-key='live-violation-1:violation.start:0']").WaitForAsync(new LocatorWaitForOptions { Timeout = 5_000 });
        Assert.Equal("incorrect", await row.GetAttributeAsync("data-kind"));
        // The stream names each event by its episode's kind.
        await page.WaitForFunctionAsync("() => window.kinds.includes('incorrect:incorrect.start') && window.kinds.includes('violation:violation.start')",
            null, new PageWaitForFunctionOptions { Timeout = 5_000 });
        Assert.DoesNotContain("violation:incorrect.start", await page.EvaluateAsync<string[]>("() => window.kinds"));
        Assert.Contains("incorrect mask", await row.InnerTextAsync());
        Assert.Equal(Amber, await BackgroundAsync(row.Locator(".badge.kind-incorrect")));
        Assert.Equal(Amber, await BackgroundAsync(row.Locator(".badge.label")));
        Assert.Equal("mask 0.07 · no_mask 0.12 · incorrect 0.81", await row.Locator("td[title]").GetAttributeAsync("title"));
        // Counted apart: one more of each, whatever else this day holds.
        Assert.Equal((violationsBefore + 1, incorrectBefore + 1),
            (int.Parse(await page.Locator("#count-violations").InnerTextAsync(), CultureInfo.InvariantCulture),
                int.Parse(await page.Locator("#count-incorrect").InnerTextAsync(), CultureInfo.InvariantCulture)));

        // A redelivery counts nothing; a reload shows the same counts from the store.
        await fixture.Broker.PublishAsync(Topics.Events("dev-amber", "amber-gate"), EventJsonContext.Serialize(incorrect));
        var end = IncorrectEvent("live-incorrect-1", EventTypes.IncorrectEnd, 1, "dev-amber", "amber-gate", now.AddSeconds(3), now);
        await fixture.Broker.PublishAsync(Topics.Events("dev-amber", "amber-gate"), EventJsonContext.Serialize(end));
        await page.Locator("tr[data-event-key='live-incorrect-1:incorrect.end:1']").WaitForAsync(new LocatorWaitForOptions { Timeout = 5_000 });
        Assert.Equal((incorrectBefore + 1).ToString(CultureInfo.InvariantCulture), await page.Locator("#count-incorrect").InnerTextAsync());
        await fixture.ScreenshotAsync(page, "live-incorrect.png");
        await page.ReloadAsync();
        Assert.Equal((incorrectBefore + 1).ToString(CultureInfo.InvariantCulture), await page.Locator("#count-incorrect").InnerTextAsync());
        Assert.Equal((violationsBefore + 1).ToString(CultureInfo.InvariantCulture), await page.Locator("#count-violations").InnerTextAsync());

        // The devices page counts the camera's last 24 h the same way.
        await page.GotoAsync("/devices");
        var camera = page.Locator("#cameras tr[data-device=dev-amber][data-camera=amber-gate]");
        Assert.Equal(("1", "1"), ((await camera.Locator(".violations").InnerTextAsync()).Trim(), (await camera.Locator(".incorrect-episodes").InnerTextAsync()).Trim()));
        // And so does /api/devices (the signed-in session may call the API).
        var counts = await page.EvaluateAsync<long[]>(@"() => fetch('/api/devices').then(r => r.json()).then(j => {
            const c = j.cameras.find(c => c.device === 'dev-amber' && c.camera === 'amber-gate');
            return [c.violationsLastDay, c.incorrectEpisodesLastDay];
        })");
        Assert.Equal([1L, 1L], counts);
        await page.CloseAsync();
    }

    private static Task<string> BackgroundAsync(ILocator locator) => locator.EvaluateAsync<string>("e => getComputedStyle(e).backgroundColor");

    [Fact]
    public async Task LoginPage_UnauthenticatedVisitor_IsSentToSignInAndWrongPasswordIsRefused()
    {
        await using var context = await fixture.NewContextAsync();
        var page = await context.NewPageAsync();
        var response = await page.GotoAsync("/history");
        Assert.Contains("/login", page.Url);
        Assert.Equal(200, response!.Status);
        await fixture.ScreenshotAsync(page, "login.png");

        await page.FillAsync("input[name=username]", DashboardHost.AdminUser);
        await page.FillAsync("input[name=password]", "wrong password");
        await page.ClickAsync("button[type=submit]");
        Assert.Contains("Wrong user or password", await page.Locator(".error").InnerTextAsync());

        // A snapshot URL does not leak to this unauthenticated context either.
        var snapshot = await context.APIRequest.GetAsync("/snapshots/live-snap-1");
        Assert.Equal(401, snapshot.Status);

        await page.FillAsync("input[name=username]", DashboardHost.AdminUser);
        await page.FillAsync("input[name=password]", DashboardHost.AdminPassword);
        await page.ClickAsync("button[type=submit]");
        await page.WaitForURLAsync(url => url.EndsWith("/history", StringComparison.Ordinal));
        Assert.Equal("History", await page.Locator("h1").InnerTextAsync());
    }

    [Fact]
    public async Task Pages_HostileDeviceCameraAndLabelStrings_RenderAsText()
    {
        // What a compromised or buggy device could send: markup in the topic's device and camera levels and in the label.
        const string device = "dev\"><img src=x id=pwned-device onerror=\"document.body.dataset.pwned='device'\">";
        // (A topic level cannot hold '/', so the camera's markup is a self-closing one.)
        const string camera = "<svg id=pwned-camera onload=\"document.body.dataset.pwned='camera'\">";
        const string label = "<b id=pwned-label>no_mask</b>";
        var now = DateTimeOffset.UtcNow;
        var page = await fixture.SignedIn.NewPageAsync();
        await page.GotoAsync("/");
        await page.WaitForSelectorAsync("body[data-live=connected]", new PageWaitForSelectorOptions { Timeout = 15_000 });

        var hostile = Event("hostile-1", EventTypes.ViolationStart, 0, device, camera, now) with
        {
            Mask = new EventMask(label, 0.91f, 8, 7),
        };
        await fixture.Broker.PublishAsync(Topics.Events(device, camera), EventJsonContext.Serialize(hostile));
        await fixture.Broker.PublishAsync(Topics.Stats(device, camera), EventJsonContext.Serialize(Stats(device, camera, now, 3, 1)));
        await Eventually.UntilAsync(() => fixture.Host.Store.GetCamerasAsync(default), c => c.Any(x => x.Camera == camera && x.FramesPerSecond is not null),
            "the hostile event and stats stored");

        // Live (built in the browser from the stream), then history, compliance and devices (rendered by the server).
        var live = page.Locator("tr[data-event-key='hostile-1:violation.start:0']");
        await live.WaitForAsync(new LocatorWaitForOptions { Timeout = 5_000 });
        await AssertRenderedAsTextAsync(page, live);
        await page.GotoAsync("/history?pageSize=500");
        await AssertRenderedAsTextAsync(page, page.Locator("#history tr[data-event-key='hostile-1:violation.start:0']"));
        await page.GotoAsync($"/compliance?bucket=hour&from={now.AddHours(-1).UtcDateTime:yyyy-MM-ddTHH:mm:ss}&to={now.AddHours(1).UtcDateTime:yyyy-MM-ddTHH:mm:ss}");
        Assert.Contains(label, await page.Locator("#label-counts").InnerTextAsync());
        Assert.Contains(camera, await page.Locator("#camera-totals").InnerTextAsync());
        await AssertNothingInjectedAsync(page);
        await page.GotoAsync("/devices");
        Assert.Contains(device, await page.Locator("#devices").InnerTextAsync());
        Assert.Contains(camera, await page.Locator("#cameras").InnerTextAsync());
        await AssertNothingInjectedAsync(page);
        await fixture.ScreenshotAsync(page, "hostile-devices.png");
        await page.CloseAsync();

        async Task AssertRenderedAsTextAsync(IPage p, ILocator row)
        {
            var text = await row.InnerTextAsync();
            Assert.Contains(device, text);
            Assert.Contains(camera, text);
            Assert.Contains(label, text);
            // Attribute values carry the strings exactly too (they are data, not markup).
            Assert.Equal(device, await row.GetAttributeAsync("data-device"));
            Assert.Equal(label, await row.GetAttributeAsync("data-label"));
            await AssertNothingInjectedAsync(p);
        }

        static async Task AssertNothingInjectedAsync(IPage p)
        {
            Assert.Equal(0, await p.Locator("#pwned-device, #pwned-camera, #pwned-label, img[src=x]").CountAsync());
            Assert.Null(await p.Locator("body").GetAttributeAsync("data-pwned"));
        }
    }
}
