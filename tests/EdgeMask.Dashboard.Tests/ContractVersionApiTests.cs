using System.Net;
using System.Text.Json;
using EdgeMask.Core.Events;
using EdgeMask.Dashboard.Ingest;
using EdgeMask.Dashboard.Tests.Support;

namespace EdgeMask.Dashboard.Tests;

/// <summary>
/// The JSON API and the CSV export of the running dashboard with a recorded version 2 run (camera <c>platform</c>) and
/// a recorded version 1 run (renamed <c>platform-v1</c>) ingested: the label and type filters, the probabilities and
/// the split by label.
/// </summary>
public sealed class ContractVersionApiTests : IAsyncLifetime
{
    private readonly RecordedRun _v2 = RecordedRun.Load(RecordedRun.Version2);
    private readonly RecordedRun _v1 = RecordedRun.Load(RecordedRun.Version1, camera: "platform-v1");
    private DashboardHost _host = null!;

    public async Task InitializeAsync()
    {
        _host = await DashboardHost.StartAsync(mqttPort: null);
        var outcomes = await _host.Pipeline.IngestBatchAsync([.. _v2.ToIngestMessages(), .. _v1.ToIngestMessages()], default);
        Assert.All(outcomes, o => Assert.Equal(IngestOutcome.Stored, o));
    }

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private async Task<(HttpStatusCode Status, string Body)> GetAsync(string path)
    {
        using var client = new HttpClient { BaseAddress = _host.BaseAddress };
        using var request = new HttpRequestMessage(HttpMethod.Get, path) { Headers = { { "X-Api-Key", DashboardHost.ApiKey } } };
        using var response = await client.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task ApiEvents_IncorrectTypeAndLabel_ReturnExactlyThoseWithTheirProbabilities()
    {
        var (status, body) = await GetAsync("/api/events?type=incorrect.start&pageSize=500");
        Assert.Equal(HttpStatusCode.OK, status);
        var items = JsonDocument.Parse(body).RootElement.GetProperty("items").EnumerateArray().ToList();
        Assert.Equal(RecordedRun.V2IncorrectStarts, items.Count);
        Assert.All(items, i => Assert.Equal(EventTypes.IncorrectStart, i.GetProperty("type").GetString()));
        // Keyed by label as in the event contract.
        Assert.All(items, i => Assert.True(i.GetProperty("probabilities").GetProperty("incorrect").GetDouble() > 0));

        var expectedIncorrect = _v2.Events.Concat(_v1.Events).Count(e => e.GetProperty("mask").GetProperty("label").GetString() == "incorrect");
        (status, body) = await GetAsync("/api/events?label=incorrect&pageSize=500");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(expectedIncorrect, JsonDocument.Parse(body).RootElement.GetProperty("total").GetInt64());

        // Version 1 events have no probabilities, and say so with null.
        (status, body) = await GetAsync("/api/events?camera=platform-v1&pageSize=5");
        Assert.All(JsonDocument.Parse(body).RootElement.GetProperty("items").EnumerateArray(),
            i => Assert.Equal(JsonValueKind.Null, i.GetProperty("probabilities").ValueKind));
    }

    [Theory]
    [InlineData("/api/events?type=incorrect.maybe", "type must be one of violation.start, violation.update, violation.end, incorrect.start, incorrect.update, incorrect.end")]
    [InlineData("/history.csv?type=violation", "type must be one of")]
    [InlineData("/api/events?label=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "label is longer than 64 characters")]
    public async Task Filters_UnknownTypeOrOverlongLabel_Return400NamingTheChoice(string path, string problem)
    {
        var (status, body) = await GetAsync(path);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains(problem, body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ApiStats_VersionOneAndTwoCameras_SplitTheVersion2FacesAndCountIncorrectEpisodesApart()
    {
        var (first, last) = _v2.TimeRange();
        var (first1, last1) = _v1.TimeRange();
        var from = (first < first1 ? first : first1).AddMinutes(-1);
        var to = (last > last1 ? last : last1).AddMinutes(1);
        var (status, body) = await GetAsync($"/api/stats?bucket=hour&from={from.UtcDateTime:yyyy-MM-ddTHH:mm:ssZ}&to={to.UtcDateTime:yyyy-MM-ddTHH:mm:ssZ}");
        Assert.Equal(HttpStatusCode.OK, status);
        var root = JsonDocument.Parse(body).RootElement;
        var cameras = root.GetProperty("cameras").EnumerateArray().ToDictionary(c => c.GetProperty("camera").GetString()!);

        var platform = cameras["platform"];
        Assert.Equal((RecordedRun.V2ViolationStarts, RecordedRun.V2IncorrectStarts),
            (platform.GetProperty("violations").GetInt32(), platform.GetProperty("incorrectEpisodes").GetInt32()));
        var split = platform.GetProperty("facesByLabel");
        Assert.Equal((_v2.SumFaces("mask"), _v2.SumFaces("no_mask"), _v2.SumFaces("incorrect"), 0L),
            (split.GetProperty("mask").GetInt64(), split.GetProperty("no_mask").GetInt64(), split.GetProperty("incorrect").GetInt64(),
                split.GetProperty("unsplit").GetInt64()));

        var old = cameras["platform-v1"];
        Assert.Equal((RecordedRun.V1ViolationStarts, 0), (old.GetProperty("violations").GetInt32(), old.GetProperty("incorrectEpisodes").GetInt32()));
        Assert.Equal(_v1.SumStats("facesSeen"), old.GetProperty("facesByLabel").GetProperty("unsplit").GetInt64());
        Assert.Equal(0, old.GetProperty("facesByLabel").GetProperty("mask").GetInt64());

        var series = root.GetProperty("series").EnumerateArray().ToList();
        Assert.Equal(RecordedRun.V2IncorrectStarts, series.Sum(b => b.GetProperty("incorrectEpisodes").GetInt32()));
        Assert.Equal(_v2.SumFaces("incorrect"), series.Sum(b => b.GetProperty("facesByLabel").GetProperty("incorrect").GetInt64()));
    }

    [Fact]
    public async Task HistoryCsv_LabelFilter_ExportsTheProbabilitiesAndLeavesThemEmptyForVersion1()
    {
        var (status, csv) = await GetAsync("/history.csv?label=incorrect");
        Assert.Equal(HttpStatusCode.OK, status);
        var lines = csv.Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.EndsWith(",snapshotId,endReason,pMask,pNoMask,pIncorrect", lines[0], StringComparison.Ordinal);
        var rows = lines.Skip(1).Select(l => l.Split(',').Select(f => f.Trim('"')).ToArray()).ToList();
        Assert.NotEmpty(rows);
        Assert.All(rows, r => Assert.Equal("incorrect", r[10]));
        // The three probabilities as the documents wrote them.
        var byKey = _v2.Events.ToDictionary(e => $"{e.GetProperty("id").GetString()}:{e.GetProperty("type").GetString()}:{e.GetProperty("sequence").GetInt32()}");
        foreach (var row in rows)
        {
            var p = byKey[$"{row[0]}:{row[1]}:{row[2]}"].GetProperty("mask").GetProperty("probabilities");
            Assert.Equal(Math.Round(p.GetProperty("incorrect").GetDouble(), 4, MidpointRounding.AwayFromZero), double.Parse(row[18], System.Globalization.CultureInfo.InvariantCulture));
        }

        (status, csv) = await GetAsync("/history.csv?camera=platform-v1");
        var v1Rows = csv.Split("\r\n", StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(l => l.Split(',')).ToList();
        Assert.Equal(RecordedRun.V1Events, v1Rows.Count);
        Assert.All(v1Rows, r => Assert.Equal(["\"\"", "\"\"", "\"\""], r[^3..]));
    }
}
