using Microsoft.Playwright;

namespace EdgeMask.Dashboard.Tests.Support;

/// <summary>
/// One running dashboard with a real broker and Debian's Chromium driven by Playwright (its bundled driver; no
/// browser download), signed in once. Screenshots go to <c>artifacts/</c> in the test output folder.
/// </summary>
public sealed class BrowserFixture : IAsyncLifetime
{
    public const string ChromiumPath = "/usr/bin/chromium";
    private IPlaywright? _playwright;

    internal MqttBroker Broker { get; private set; } = null!;
    internal DashboardHost Host { get; private set; } = null!;
    public IBrowser Browser { get; private set; } = null!;
    public IBrowserContext SignedIn { get; private set; } = null!;
    public string ArtifactsDirectory { get; } = Path.Combine(AppContext.BaseDirectory, "artifacts");

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(ArtifactsDirectory);
        Broker = await MqttBroker.StartAsync();
        Host = await DashboardHost.StartAsync(Broker.Port);
        await Host.WaitForMqttAsync();
        _playwright = await Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumPath,
            Headless = true,
            // Root in a container needs --no-sandbox; the rest stops Chromium from calling out to a closed network.
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
        });
        SignedIn = await NewContextAsync();
        var page = await SignedIn.NewPageAsync();
        await page.GotoAsync("/login");
        await page.FillAsync("input[name=username]", DashboardHost.AdminUser);
        await page.FillAsync("input[name=password]", DashboardHost.AdminPassword);
        await page.ClickAsync("button[type=submit]");
        await page.WaitForURLAsync(Host.BaseAddress + "");
        await page.CloseAsync();
    }

    public Task<IBrowserContext> NewContextAsync() => Browser.NewContextAsync(new BrowserNewContextOptions
    {
        BaseURL = Host.BaseAddress.ToString(),
        ViewportSize = new ViewportSize { Width = 1280, Height = 800 },
        AcceptDownloads = true,
    });

    public Task ScreenshotAsync(IPage page, string name) =>
        page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(ArtifactsDirectory, name), FullPage = true });

    public async Task DisposeAsync()
    {
        if (SignedIn is not null)
        {
            await SignedIn.DisposeAsync();
        }
        if (Browser is not null)
        {
            await Browser.DisposeAsync();
        }
        _playwright?.Dispose();
        if (Host is not null)
        {
            await Host.DisposeAsync();
        }
        if (Broker is not null)
        {
            await Broker.DisposeAsync();
        }
    }
}
