using Microsoft.Playwright;
namespace EdgeMask.Dashboard.Tests;
public class PlaywrightProbeTests
{
    [Fact]
    public async Task Probe_Launch_Works()
    {
        using var pw = await Playwright.CreateAsync();
        await using var b = await pw.Chromium.LaunchAsync(new() { ExecutablePath = "/usr/bin/chromium", Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"] });
        var p = await b.NewPageAsync();
        await p.SetContentAsync("<h1>hi</h1>");
        Assert.Equal("hi", await p.InnerTextAsync("h1"));
    }
}
