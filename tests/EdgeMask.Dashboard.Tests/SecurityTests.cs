using System.Net;
using System.Text.Json;
using EdgeMask.Dashboard.Options;
using EdgeMask.Dashboard.Security;
using EdgeMask.Dashboard.Tests.Support;

namespace EdgeMask.Dashboard.Tests;

/// <summary>Authentication, CSRF and binding of the running dashboard (real Kestrel on loopback, no broker).</summary>
public sealed class SecurityTests : IAsyncLifetime
{
    private DashboardHost _host = null!;

    public async Task InitializeAsync()
    {
        _host = await DashboardHost.StartAsync(mqttPort: null);
        // A snapshot exists, so a refusal cannot be mistaken for a 404.
        await _host.Pipeline.IngestAsync(new Ingest.IngestMessage(Ingest.IngestKind.Snapshot, "dev1", "cam1", Samples.Jpeg,
            new Dictionary<string, string> { ["snapshotId"] = "secret-snap" }, "test"), default);
    }

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private HttpClient Client(bool followRedirects = false) =>
        new(new HttpClientHandler { AllowAutoRedirect = followRedirects, UseCookies = false }) { BaseAddress = _host.BaseAddress };

    [Theory]
    [InlineData("/")]
    [InlineData("/compliance")]
    [InlineData("/history")]
    [InlineData("/devices")]
    public async Task Pages_Unauthenticated_RedirectToLogin(string path)
    {
        using var client = Client();
        using var response = await client.GetAsync(path);
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.StartsWith("/login", response.Headers.Location!.PathAndQuery, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/api/events")]
    [InlineData("/api/stats")]
    [InlineData("/api/devices")]
    [InlineData("/snapshots/secret-snap")]
    [InlineData("/live/stream")]
    [InlineData("/history.csv")]
    public async Task DataEndpoints_Unauthenticated_Return401(string path)
    {
        using var client = Client();
        using var response = await client.GetAsync(path);
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.NotEqual("image/jpeg", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task Api_WrongApiKey_Returns401AndRightKeyReturnsData()
    {
        using var client = Client();
        using var wrong = new HttpRequestMessage(HttpMethod.Get, "/api/devices") { Headers = { { "X-Api-Key", "not-the-key" } } };
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.SendAsync(wrong)).StatusCode);

        using var right = new HttpRequestMessage(HttpMethod.Get, "/api/devices") { Headers = { { "X-Api-Key", DashboardHost.ApiKey } } };
        using var response = await client.SendAsync(right);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(JsonValueKind.Array, json.RootElement.GetProperty("devices").ValueKind);

        using var snapshot = new HttpRequestMessage(HttpMethod.Get, "/snapshots/secret-snap") { Headers = { { "X-Api-Key", DashboardHost.ApiKey } } };
        using var image = await client.SendAsync(snapshot);
        Assert.Equal("image/jpeg", image.Content.Headers.ContentType?.MediaType);
        Assert.Equal(Samples.Jpeg, await image.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task Login_WithoutAntiforgeryToken_Rejected()
    {
        using var client = Client();
        using var response = await client.PostAsync("/login", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["username"] = DashboardHost.AdminUser,
            ["password"] = DashboardHost.AdminPassword,
        }));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.False(response.Headers.TryGetValues("Set-Cookie", out var cookies) && cookies.Any(c => c.StartsWith("edgemask.session", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Login_WrongPasswordRefused_RightPasswordGivesSecureHttpOnlyStrictCookie()
    {
        using var client = Client();
        async Task<HttpResponseMessage> PostLogin(string password)
        {
            using var form = await client.GetAsync("/login");
            var html = await form.Content.ReadAsStringAsync();
            var token = System.Text.RegularExpressions.Regex.Match(html, "name=\"__csrf\" value=\"([^\"]+)\"").Groups[1].Value;
            var antiforgeryCookie = form.Headers.GetValues("Set-Cookie").First(c => c.StartsWith("edgemask.antiforgery", StringComparison.Ordinal)).Split(';')[0];
            using var request = new HttpRequestMessage(HttpMethod.Post, "/login")
            {
                Content = new FormUrlEncodedContent(new Dictionary<string, string>
                {
                    ["__csrf"] = System.Net.WebUtility.HtmlDecode(token),
                    ["username"] = DashboardHost.AdminUser,
                    ["password"] = password,
                    ["returnUrl"] = "//evil.example/",
                }),
            };
            request.Headers.Add("Cookie", antiforgeryCookie);
            return await client.SendAsync(request);
        }

        using var refused = await PostLogin("guess");
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);

        using var accepted = await PostLogin(DashboardHost.AdminPassword);
        Assert.Equal(HttpStatusCode.Redirect, accepted.StatusCode);
        Assert.Equal("/", accepted.Headers.Location!.OriginalString); // an off-site returnUrl is ignored
        var session = accepted.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith("edgemask.session=", StringComparison.Ordinal)).ToLowerInvariant();
        Assert.Contains("secure", session);
        Assert.Contains("httponly", session);
        Assert.Contains("samesite=strict", session);
    }

    [Fact]
    public async Task Login_MoreThanTenAttemptsInAMinute_Answers429()
    {
        using var client = Client();
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 11; i++)
        {
            using var response = await client.PostAsync("/login", new FormUrlEncodedContent(new Dictionary<string, string> { ["username"] = "admin", ["password"] = "x" }));
            statuses.Add(response.StatusCode);
        }
        Assert.All(statuses.Take(10), s => Assert.Equal(HttpStatusCode.BadRequest, s));
        Assert.Equal(HttpStatusCode.TooManyRequests, statuses[10]);
    }

    [Fact]
    public void Kestrel_DefaultConfiguration_ListensOnLoopbackOnly()
    {
        Assert.All(_host.Urls, url => Assert.True(IPAddress.IsLoopback(IPAddress.Parse(new Uri(url).Host)), url));
        Assert.Equal("http://127.0.0.1:5080", new DashboardOptions().Listen);
    }

    [Fact]
    public async Task OpenApi_Document_DescribesTheThreeApiPaths()
    {
        using var client = Client();
        using var json = JsonDocument.Parse(await client.GetStringAsync("/openapi/v1.json"));
        var paths = json.RootElement.GetProperty("paths").EnumerateObject().Select(p => p.Name).ToList();
        Assert.Equal(["/api/devices", "/api/events", "/api/stats"], paths.Order());
        var parameters = json.RootElement.GetProperty("paths").GetProperty("/api/events").GetProperty("get").GetProperty("parameters")
            .EnumerateArray().Select(p => p.GetProperty("name").GetString()).ToList();
        Assert.Equal(["device", "camera", "type", "from", "to", "page", "pageSize", "label"], parameters);
        var scheme = json.RootElement.GetProperty("components").GetProperty("securitySchemes").GetProperty("ApiKey");
        Assert.Equal(("apiKey", "header", "X-Api-Key"),
            (scheme.GetProperty("type").GetString(), scheme.GetProperty("in").GetString(), scheme.GetProperty("name").GetString()));
    }

    [Fact]
    public async Task Api_EventsWithKey_ReturnsFilteredPageAndRejectsBadQuery()
    {
        var store = _host.Store;
        for (var i = 0; i < 5; i++)
        {
            await store.AddEventAsync(Samples.Event($"api-{i}", Core.Events.EventTypes.ViolationStart, 0, "dev1", i < 3 ? "cam1" : "cam2",
                Samples.T0.AddMinutes(i)), Samples.T0, default);
        }
        using var client = Client();
        client.DefaultRequestHeaders.Add("X-Api-Key", DashboardHost.ApiKey);
        using var json = JsonDocument.Parse(await client.GetStringAsync("/api/events?camera=cam1&pageSize=2&page=1"));
        Assert.Equal(3, json.RootElement.GetProperty("total").GetInt64());
        Assert.Equal(["api-2", "api-1"], json.RootElement.GetProperty("items").EnumerateArray().Select(e => e.GetProperty("id").GetString()));
        Assert.Equal(HttpStatusCode.BadRequest, (await client.GetAsync("/api/events?from=yesterday")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await client.GetAsync("/api/stats?bucket=week")).StatusCode);
    }

    [Fact]
    public void Validate_NoPasswordHashAndNoApiKey_RefusesNamingTheKey()
    {
        var ex = Assert.Throws<DashboardConfigurationException>(() => new DashboardOptions().Validate());
        Assert.Equal("Dashboard:Auth:AdminPasswordHash", ex.Key);
        var bad = Assert.Throws<DashboardConfigurationException>(() =>
            new DashboardOptions { Auth = new AuthOptions { AdminPasswordHash = "plain-text-password" } }.Validate());
        Assert.Equal("Dashboard:Auth:AdminPasswordHash", bad.Key);
        var port = Assert.Throws<DashboardConfigurationException>(() =>
            new DashboardOptions { Auth = new AuthOptions { ApiKeyHashes = [ApiKeyHasher.Hash("k")] }, Mqtt = new MqttIngestOptions { Port = 0 } }.Validate());
        Assert.Equal("Dashboard:Mqtt:Port", port.Key);
    }

    [Fact]
    public void PasswordHasher_Verify_AcceptsOnlyTheRightPassword()
    {
        var hash = PasswordHasher.Hash("s3cret-passphrase", iterations: 1000);
        Assert.StartsWith("pbkdf2-sha256$1000$", hash, StringComparison.Ordinal);
        Assert.True(PasswordHasher.Verify("s3cret-passphrase", hash));
        Assert.False(PasswordHasher.Verify("s3cret-passphrasE", hash));
        Assert.NotEqual(hash, PasswordHasher.Hash("s3cret-passphrase", iterations: 1000)); // salted
    }

    [Fact]
    public async Task DashboardCli_HashPassword_PrintsAHashThatVerifies()
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = await DashboardCli.RunAsync(["hash-password"], new StringReader("long enough password\n"), output, error);
        Assert.Equal(0, code);
        var hash = output.ToString().Trim();
        Assert.True(PasswordHasher.IsWellFormed(hash));
        Assert.True(PasswordHasher.Verify("long enough password", hash));

        Assert.Equal(2, await DashboardCli.RunAsync(["hash-password"], new StringReader("short\n"), output, error));
    }
}
