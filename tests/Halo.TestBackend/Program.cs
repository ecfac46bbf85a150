// Test backend for gateway tests and benchmarks: --port (0 = any free port, printed), --name; --tls-cert/--tls-key serve
// HTTPS, and --tls-client-ca then requires a client certificate chaining to that CA.
//   GET  /              -> "name" (text)
//   GET  /slow?ms=N     -> waits N ms, then "name"
//   GET  /status/{code} -> answers that status
//   POST /echo          -> echoes the body
//   GET  /healthz       -> 200 (or 503 after POST /admin/health?ok=false)
//   POST /admin/delay?ms=N -> adds N ms to every later request (a backend that "turns slow")
using System.Globalization;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

var port = 0;
var name = "backend";
string? tlsCert = null, tlsKey = null, tlsClientCa = null;
for (var i = 0; i + 1 < args.Length; i += 2)
{
    switch (args[i])
    {
        case "--port": port = int.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
        case "--name": name = args[i + 1]; break;
        case "--tls-cert": tlsCert = args[i + 1]; break;
        case "--tls-key": tlsKey = args[i + 1]; break;
        case "--tls-client-ca": tlsClientCa = args[i + 1]; break;
    }
}

var builder = WebApplication.CreateSlimBuilder();
builder.Logging.ClearProviders();
builder.WebHost.ConfigureKestrel(k =>
{
    k.AddServerHeader = false;
    k.Listen(System.Net.IPAddress.Loopback, port, listen =>
    {
        if (tlsCert is null)
        {
            return;
        }

        var certificate = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPemFile(tlsCert, tlsKey);
        listen.UseHttps(https =>
        {
            https.ServerCertificate = certificate;
            if (tlsClientCa is not null)
            {
                var roots = new System.Security.Cryptography.X509Certificates.X509Certificate2Collection();
                roots.ImportFromPemFile(tlsClientCa);
                https.ClientCertificateMode = Microsoft.AspNetCore.Server.Kestrel.Https.ClientCertificateMode.RequireCertificate;
                https.ClientCertificateValidation = (cert, chain, errors) => Halo.Client.HaloHttp.TrustedByPinnedCa(cert, chain, errors, roots);
            }
        });
    });
});
var app = builder.Build();
var extraDelayMs = 0;
var healthy = true;

app.Use(async (ctx, next) =>
{
    var d = Volatile.Read(ref extraDelayMs);
    if (d > 0 && !ctx.Request.Path.StartsWithSegments("/admin") && !ctx.Request.Path.StartsWithSegments("/healthz"))
    {
        await Task.Delay(d, ctx.RequestAborted);
    }

    ctx.Response.Headers["X-Backend"] = name;
    await next(ctx);
});
app.MapGet("/", () => name);
app.MapGet("/slow", async (int? ms, CancellationToken ct) =>
{
    await Task.Delay(ms ?? 100, ct);
    return name;
});
// What a proxy told the backend: the named request header's value(s), comma-joined (X-Forwarded-For, ...).
app.MapGet("/header/{header}", (string header, HttpRequest req) => Results.Text(req.Headers[header].ToString()));
app.MapGet("/status/{code:int}", (int code) => Results.Text(name, statusCode: code));
app.MapPost("/echo", async (HttpRequest req) =>
{
    using var reader = new StreamReader(req.Body);
    return Results.Text(await reader.ReadToEndAsync());
});
app.MapPut("/echo", async (HttpRequest req) =>
{
    using var reader = new StreamReader(req.Body);
    return Results.Text(await reader.ReadToEndAsync());
});
app.MapGet("/healthz", () => Volatile.Read(ref healthy) ? Results.Text("ok") : Results.StatusCode(503));
app.MapPost("/admin/delay", (int ms) =>
{
    Volatile.Write(ref extraDelayMs, ms);
    return Results.NoContent();
});
app.MapPost("/admin/health", (bool ok) =>
{
    Volatile.Write(ref healthy, ok);
    return Results.NoContent();
});

await app.StartAsync();
var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
Console.WriteLine($"listening on {address}");
Console.Out.Flush();
await app.WaitForShutdownAsync();
