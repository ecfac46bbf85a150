using System.CommandLine;
using Halo.Cli.Tls;
using Halo.Server.Security;

namespace Halo.Cli.Commands;

/// <summary>`halo cert dev`: a local CA plus server and client certificates for trying TLS and mTLS (docs/security.md).</summary>
internal static class CertCommand
{
    public static Command Create()
    {
        var output = new Option<string>("--out") { Description = "Directory to write the PEM files into (created; must not hold a ca.pem already)", DefaultValueFactory = _ => Path.Combine(".halo", "certs") };
        var hosts = new Option<string[]>("--host") { Description = "Extra name or address the server certificate covers (repeatable; localhost, 127.0.0.1 and ::1 always)" };
        var client = new Option<string>("--client-name") { Description = "Subject of the client certificate", DefaultValueFactory = _ => "halo-client" };
        var dev = new Command("dev", "Create a local CA and a server and a client certificate it signs (for tests and demos, not production)") { output, hosts, client };
        dev.SetAction((parse, ct) => CommonOptions.Run(async () =>
        {
            var dir = parse.GetValue(output)!;
            var names = parse.GetValue(hosts) ?? [];
            if (names.FirstOrDefault(n => n.Length == 0 || n.Any(c => char.IsWhiteSpace(c) || c is '/' or ',')) is { } bad)
            {
                throw new CliException($"--host: '{bad}' is not a host name or address");
            }

            if (File.Exists(Path.Combine(dir, "ca.pem")))
            {
                throw new CliException($"--out: '{dir}' already holds a ca.pem; choose another directory (a new CA would not match the certificates it signed)");
            }

            var time = TimeProvider.System;
            using var ca = DevCertificates.CreateCa("Halo dev CA", time);
            using var server = DevCertificates.CreateServer(ca, [.. DevCertificates.LoopbackNames, .. names], time);
            using var clientCert = DevCertificates.CreateClient(ca, parse.GetValue(client)!, time);
            var written = new List<(string What, string Path)>();
            foreach (var (what, name, certificate) in new[] { ("CA", "ca", ca), ("server", "server", server), ("client", "client", clientCert) })
            {
                var certFile = Path.Combine(dir, name + ".pem");
                var keyFile = Path.Combine(dir, name + "-key.pem");
                Directory.CreateDirectory(dir);
                await File.WriteAllTextAsync(certFile, DevCertificates.CertificatePem(certificate), ct);
                await TokenSecret.WriteFileAsync(keyFile, DevCertificates.KeyPem(certificate), ct);
                written.Add(($"{what} certificate", certFile));
                written.Add(($"{what} key (0600)", keyFile));
            }

            foreach (var (what, path) in written)
            {
                Console.WriteLine($"{what,-22} {Path.GetFullPath(path)}");
            }

            Console.WriteLine($"server certificate covers {string.Join(", ", DevCertificates.LoopbackNames.Concat(names).Distinct(StringComparer.OrdinalIgnoreCase))}");
            Console.WriteLine($"try: halo server --tls-cert {Path.Combine(dir, "server.pem")} --tls-key {Path.Combine(dir, "server-key.pem")}");
            Console.WriteLine($"     halo services --server https://127.0.0.1:7400 --ca-cert {Path.Combine(dir, "ca.pem")}");
            return 0;
        }));
        return new Command("cert", "Certificates for TLS") { dev };
    }
}
