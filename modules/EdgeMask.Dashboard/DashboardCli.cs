using EdgeMask.Dashboard.Options;
using EdgeMask.Dashboard.Security;

namespace EdgeMask.Dashboard;

/// <summary>
/// <c>edgemask-dashboard [run] [--Dashboard:Key=value …]</c> serves the dashboard;
/// <c>edgemask-dashboard hash-password</c> reads a password from standard input and prints its PBKDF2 hash;
/// <c>edgemask-dashboard new-api-key</c> prints a new API key and the hash to configure.
/// </summary>
public static class DashboardCli
{
    public static async Task<int> RunAsync(string[] args, TextReader input, TextWriter output, TextWriter error)
    {
        var command = args.Length > 0 && !args[0].StartsWith('-') ? args[0] : "run";
        var rest = args.Length > 0 && !args[0].StartsWith('-') ? args[1..] : args;
        switch (command)
        {
            case "hash-password":
                return HashPassword(input, output, error);
            case "new-api-key":
                var key = ApiKeyHasher.NewKey();
                await output.WriteLineAsync($"API key (give to the client, X-Api-Key header): {key}");
                await output.WriteLineAsync($"Configure Dashboard:Auth:ApiKeyHashes:0 = {ApiKeyHasher.Hash(key)}");
                return 0;
            case "run":
                try
                {
                    await using var app = DashboardApp.Build(rest);
                    await app.RunAsync();
                    return 0;
                }
                catch (DashboardConfigurationException ex)
                {
                    await error.WriteLineAsync(ex.Message);
                    return 2;
                }
            case "healthcheck":
                return await HealthCheckAsync(rest, output, error);
            case "help" or "--help" or "-h":
                await output.WriteLineAsync("usage: edgemask-dashboard [run] [--Dashboard:Key=value ...] | hash-password | new-api-key | healthcheck");
                return 0;
            default:
                await error.WriteLineAsync($"Unknown command '{command}'. usage: edgemask-dashboard [run] | hash-password | new-api-key");
                return 2;
        }
    }

    /// <summary>
    /// The container's HEALTHCHECK: asks this dashboard's own /healthz (store and ingest) on the first address of
    /// Dashboard:Listen, read from the same environment and command line as the server. Exit 0 healthy, 1 not.
    /// A command of the program itself, so the image needs no shell or curl.
    /// </summary>
    private static async Task<int> HealthCheckAsync(string[] args, TextWriter output, TextWriter error)
    {
        var configuration = new ConfigurationBuilder().AddEnvironmentVariables().AddCommandLine(args).Build();
        var listen = configuration[$"{DashboardOptions.SectionName}:Listen"] ?? new DashboardOptions().Listen;
        var first = listen.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault() ?? "";
        if (!Uri.TryCreate(first.Replace("://+", "://localhost", StringComparison.Ordinal).Replace("://*", "://localhost", StringComparison.Ordinal),
                UriKind.Absolute, out var uri))
        {
            await error.WriteLineAsync($"Configuration '{DashboardOptions.SectionName}:Listen' = '{listen}' names no address to check.");
            return 1;
        }
        // A wildcard bind is reached on loopback from inside the container.
        var host = uri.Host is "0.0.0.0" or "[::]" or "localhost" ? "127.0.0.1" : uri.Host;
        var target = new UriBuilder(uri.Scheme, host, uri.Port, "/healthz").Uri;
        using var handler = new HttpClientHandler
        {
            // The certificate is the server's own, possibly issued for a public name, not for 127.0.0.1.
            ServerCertificateCustomValidationCallback = HttpClientHandler.DangerousAcceptAnyServerCertificateValidator,
        };
        using var client = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(5) };
        try
        {
            using var response = await client.GetAsync(target);
            await output.WriteLineAsync($"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
            return response.IsSuccessStatusCode ? 0 : 1;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            await error.WriteLineAsync($"{target}: {ex.Message}");
            return 1;
        }
    }

    private static int HashPassword(TextReader input, TextWriter output, TextWriter error)
    {
        string? password;
        if (!Console.IsInputRedirected && ReferenceEquals(input, Console.In))
        {
            error.Write("Password: ");
            password = ReadWithoutEcho();
            error.WriteLine();
        }
        else
        {
            password = input.ReadLine();
        }
        if (string.IsNullOrEmpty(password))
        {
            error.WriteLine("No password given on standard input.");
            return 2;
        }
        if (password.Length < 10)
        {
            error.WriteLine("The password must have at least 10 characters.");
            return 2;
        }
        output.WriteLine(PasswordHasher.Hash(password));
        return 0;
    }

    // A password typed at a terminal is not echoed.
    private static string ReadWithoutEcho()
    {
        var text = new System.Text.StringBuilder();
        while (true)
        {
            var key = Console.ReadKey(intercept: true);
            if (key.Key == ConsoleKey.Enter)
            {
                return text.ToString();
            }
            if (key.Key == ConsoleKey.Backspace)
            {
                if (text.Length > 0)
                {
                    text.Length--;
                }
            }
            else if (!char.IsControl(key.KeyChar))
            {
                text.Append(key.KeyChar);
            }
        }
    }
}
