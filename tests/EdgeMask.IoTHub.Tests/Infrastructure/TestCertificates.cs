using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace EdgeMask.IoTHub.Tests.Infrastructure;

/// <summary>
/// An "edge CA" and an edgeHub-like server certificate for <c>localhost</c> signed by it, generated in code — the shape of
/// an IoT Edge device: edgeHub presents a server certificate, modules trust the CA from the workload trust bundle.
/// </summary>
internal sealed class TestCertificates : IDisposable
{
    private static readonly Lazy<TestCertificates> SharedInstance = new(() => new TestCertificates());

    private TestCertificates()
    {
        var now = DateTimeOffset.UtcNow;
        using var caKey = RSA.Create(2048);
        var caRequest = new CertificateRequest("CN=EdgeMask Test Edge CA", caKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        caRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(caRequest.PublicKey, false));
        CaCertificate = caRequest.CreateSelfSigned(now.AddDays(-1), now.AddDays(30));

        using var serverKey = RSA.Create(2048);
        var serverRequest = new CertificateRequest("CN=localhost", serverKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("localhost");
        serverRequest.CertificateExtensions.Add(san.Build());
        serverRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        serverRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
        serverRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var signed = serverRequest.Create(CaCertificate, now.AddHours(-1), now.AddDays(7), RandomNumberGenerator.GetBytes(8));
        // Round-trip through PKCS#12 so SslStream gets a certificate whose private key it can use on every platform.
        using var withKey = signed.CopyWithPrivateKey(serverKey);
        ServerCertificate = X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
    }

    public static TestCertificates Shared => SharedInstance.Value;

    public X509Certificate2 CaCertificate { get; }

    public X509Certificate2 ServerCertificate { get; }

    public string CaPem => CaCertificate.ExportCertificatePem();

    public X509Certificate2Collection TrustBundle => [X509CertificateLoader.LoadCertificate(CaCertificate.RawData)];

    public void Dispose()
    {
        CaCertificate.Dispose();
        ServerCertificate.Dispose();
    }
}
