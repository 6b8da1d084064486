using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using EdgeMask.Messaging.Mqtt;
using EdgeMask.Messaging.Tests.Support;
using Xunit.Abstractions;

namespace EdgeMask.Messaging.Tests;

/// <summary>TLS to a real mosquitto TLS listener with a CA and server certificate made here.</summary>
public sealed class MqttTlsTests(ITestOutputHelper output) : IDisposable
{
    private readonly TestLoggerFactory _logs = new(output);
    private readonly TempDir _dir = new();

    /// <summary>Writes ca.pem, server.pem, server.key (CN=localhost, SAN localhost + 127.0.0.1) and returns the CA file.</summary>
    private string MakePki(string prefix)
    {
        var now = DateTimeOffset.UtcNow;
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caReq = new CertificateRequest($"CN=EdgeMask test CA {prefix}", caKey, HashAlgorithmName.SHA256);
        caReq.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caReq.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        caReq.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(caReq.PublicKey, false));
        using var ca = caReq.CreateSelfSigned(now.AddDays(-1), now.AddDays(2));

        using var serverKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var req = new CertificateRequest("CN=localhost", serverKey, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("localhost");
        san.AddIpAddress(System.Net.IPAddress.Loopback);
        req.CertificateExtensions.Add(san.Build());
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        req.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        using var server = req.Create(ca, now.AddHours(-1), now.AddDays(1), RandomNumberGenerator.GetBytes(8));

        File.WriteAllText(_dir.File($"{prefix}ca.pem"), ca.ExportCertificatePem());
        File.WriteAllText(_dir.File($"{prefix}ca.key"), caKey.ExportPkcs8PrivateKeyPem());
        File.WriteAllText(_dir.File($"{prefix}server.pem"), server.ExportCertificatePem());
        File.WriteAllText(_dir.File($"{prefix}server.key"), serverKey.ExportPkcs8PrivateKeyPem());
        return _dir.File($"{prefix}ca.pem");
    }

    private MosquittoBroker TlsBroker(out int tlsPort, bool requireClientCertificate = false)
    {
        MakePki("");
        tlsPort = TestPaths.FreePort();
        return new MosquittoBroker(extraConfig: string.Join('\n',
            $"listener {tlsPort} 127.0.0.1",
            $"cafile {_dir.File("ca.pem")}",
            $"certfile {_dir.File("server.pem")}",
            $"keyfile {_dir.File("server.key")}",
            $"require_certificate {(requireClientCertificate ? "true" : "false")}"));
    }

    /// <summary>A client certificate signed by the test CA (written by <see cref="MakePki"/> as ca.pem + ca.key).</summary>
    private (string Cert, string Key) MakeClientCertificate()
    {
        using var ca = X509Certificate2.CreateFromPemFile(_dir.File("ca.pem"), _dir.File("ca.key"));
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var req = new CertificateRequest("CN=edgemask-dev1", key, HashAlgorithmName.SHA256);
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        req.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.2")], false));
        req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        var now = DateTimeOffset.UtcNow;
        using var cert = req.Create(ca, now.AddHours(-1), now.AddDays(1), RandomNumberGenerator.GetBytes(8));
        File.WriteAllText(_dir.File("client.pem"), cert.ExportCertificatePem());
        File.WriteAllText(_dir.File("client.key"), key.ExportPkcs8PrivateKeyPem());
        return (_dir.File("client.pem"), _dir.File("client.key"));
    }

    private static MqttPublisherOptions Options(int port, string caFile) => new()
    {
        Device = "dev1",
        Port = port,
        Tls = new MqttTlsOptions { CaFile = caFile },
        ReconnectMinDelay = TimeSpan.FromMilliseconds(100),
        ReconnectMaxDelay = TimeSpan.FromMilliseconds(500),
    };

    [Fact]
    public async Task Connect_TlsWithCaFile_ConnectsAndPublishesOnline()
    {
        using var broker = TlsBroker(out var tlsPort);
        await using var watcher = await MqttCollector.StartAsync(broker.Port, "edgemask/dev1/status"); // plain listener of the same broker
        await using var publisher = new MqttPublisher(Options(tlsPort, _dir.File("ca.pem")), logger: _logs.CreateLogger<MqttPublisher>());
        publisher.Start();
        await publisher.WaitUntilConnectedAsync(CancellationToken.None).WaitAsync(TestPaths.Patience);
        await watcher.WaitUntilAsync(m => m.Any(r => r.Text.Contains("\"online\"", StringComparison.Ordinal)), TestPaths.Patience, "online over TLS");
    }

    [Fact]
    public async Task Connect_TlsWithOtherCa_RefusesBrokerAndKeepsRetrying()
    {
        using var broker = TlsBroker(out var tlsPort);
        var otherCa = MakePki("other-");
        await using var publisher = new MqttPublisher(Options(tlsPort, otherCa), logger: _logs.CreateLogger<MqttPublisher>());
        publisher.Start();
        var deadline = DateTime.UtcNow + TestPaths.Patience;
        while (publisher.FailedConnectAttempts < 3 && DateTime.UtcNow < deadline) await Task.Delay(20);

        Assert.True(publisher.FailedConnectAttempts >= 3);
        Assert.False(publisher.IsConnected);
        Assert.Equal(0, publisher.Connects);
        Assert.Contains(_logs.Entries, e => e.Template?.Contains("does not chain to Mqtt:Tls:CaFile", StringComparison.Ordinal) == true);
    }

    [Fact]
    public async Task Connect_BrokerRequiresClientCertificate_ConnectsWithItAndNotWithout()
    {
        using var broker = TlsBroker(out var tlsPort, requireClientCertificate: true);
        var (cert, key) = MakeClientCertificate();
        var withCert = Options(tlsPort, _dir.File("ca.pem")) with
        {
            Tls = new MqttTlsOptions { CaFile = _dir.File("ca.pem"), ClientCertificateFile = cert, ClientKeyFile = key },
        };
        await using (var publisher = new MqttPublisher(withCert, logger: _logs.CreateLogger<MqttPublisher>()))
        {
            publisher.Start();
            await publisher.WaitUntilConnectedAsync(CancellationToken.None).WaitAsync(TestPaths.Patience);
        }

        await using var without = new MqttPublisher(Options(tlsPort, _dir.File("ca.pem")) with { ClientId = "no-cert" });
        without.Start();
        var deadline = DateTime.UtcNow + TestPaths.Patience;
        while (without.FailedConnectAttempts < 2 && DateTime.UtcNow < deadline) await Task.Delay(20);
        Assert.True(without.FailedConnectAttempts >= 2);
        Assert.Equal(0, without.Connects);
    }

    [Fact]
    public async Task Connect_UsernamePassword_RightOnesConnectWrongOnesRetryAndLog()
    {
        var passwords = _dir.File("passwd");
        using (var p = System.Diagnostics.Process.Start("mosquitto_passwd", ["-c", "-b", passwords, "edge", "s3cret"]))
            await p.WaitForExitAsync();
        using var broker = new MosquittoBroker(extraConfig: $"password_file {passwords}", allowAnonymous: false);
        var plain = new MqttPublisherOptions
        {
            Device = "dev1", Port = broker.Port, ReconnectMinDelay = TimeSpan.FromMilliseconds(100), ReconnectMaxDelay = TimeSpan.FromMilliseconds(500),
        };
        await using (var good = new MqttPublisher(plain with { Username = "edge", Password = "s3cret" }))
        {
            good.Start();
            await good.WaitUntilConnectedAsync(CancellationToken.None).WaitAsync(TestPaths.Patience);
        }

        await using var bad = new MqttPublisher(plain with { Username = "edge", Password = "wrong", ClientId = "bad" }, logger: _logs.CreateLogger<MqttPublisher>());
        bad.Start();
        var deadline = DateTime.UtcNow + TestPaths.Patience;
        while (bad.FailedConnectAttempts < 2 && DateTime.UtcNow < deadline) await Task.Delay(20);
        Assert.True(bad.FailedConnectAttempts >= 2);
        Assert.Equal(0, bad.Connects);
        var warning = Assert.Single(_logs.Entries, e => e.Template?.StartsWith("Cannot connect to MQTT broker", StringComparison.Ordinal) == true);
        output.WriteLine(warning.Message);
    }

    public void Dispose() => _dir.Dispose();
}
