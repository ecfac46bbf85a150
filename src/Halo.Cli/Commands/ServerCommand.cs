using System.CommandLine;
using Halo.Cli.Configuration;
using Halo.Core.Configuration;
using Halo.Server;
using Halo.Store;

using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Halo.Cli.Commands;

/// <summary>`halo server`: the control plane on the embedded store (or etcd).</summary>
internal static class ServerCommand
{
    public static Command Create()
    {
        var listen = new Option<string>("--listen") { Description = "Listen address, host:port", DefaultValueFactory = _ => "127.0.0.1:7400" };
        var data = new Option<string>("--data") { Description = "Data directory of the embedded store", DefaultValueFactory = _ => Path.Combine(".halo", "data") };
        var config = new Option<string?>("--config") { Description = "Halo config file (YAML or JSON): server detector, per-service detectors, groups" };
        var webhooks = new Option<string[]>("--alert-webhook") { Description = "URL that receives Alertmanager-compatible alert webhooks (repeatable)" };
        var model = new Option<string?>("--model") { Description = "halo model topology (YAML/JSON): blocks named like a service show their predicted availability on the dashboard" };
        var storeKind = new Option<string?>("--store") { Description = "embedded (SQLite in --data, one server; the default) or etcd (several servers share an etcd cluster)" };
        var etcd = new Option<string?>("--etcd") { Description = "etcd client URLs, comma-separated: http://a:2379,http://b:2379 (implies --store etcd)" };
        var (etcdCa, etcdCert, etcdKey) = EtcdTlsOptions();
        var advertise = new Option<string?>("--advertise") { Description = "host:port other servers and clients reach this server at (default: the listen address)" };
        var security = new SecurityFlags();
        var tlsFlags = new TlsFlags();
        var command = new Command("server", "Run the control plane: registry, failure detection, events, metrics")
        {
            listen, data, config, webhooks, model, storeKind, etcd, etcdCa, etcdCert, etcdKey, advertise,
        };
        security.AddTo(command);
        tlsFlags.AddTo(command);
        command.SetAction((parse, ct) => CommonOptions.Run(async () =>
        {
            var options = Options(parse.GetValue(config), parse.GetResult(listen) is { Implicit: false } ? parse.GetValue(listen) : null,
                parse.GetResult(data) is { Implicit: false } ? parse.GetValue(data) : null,
                parse.GetValue(storeKind), parse.GetValue(etcd), parse.GetValue(advertise),
                new EtcdTlsFiles(parse.GetValue(etcdCa), parse.GetValue(etcdCert), parse.GetValue(etcdKey)));
            options = security.Apply(parse, WithModel(WithWebhooks(options, parse.GetValue(webhooks)), parse.GetValue(model)));
            using var loggers = LoggerFactory.Create(l => l.AddSimpleConsole(c => { c.SingleLine = true; c.TimestampFormat = "HH:mm:ss.fff "; c.UseUtcTimestamp = true; }));
            using var tls = tlsFlags.Load(parse, LoadConfig(parse.GetValue(config)).Server.Tls, "server.tls", TimeProvider.System, loggers.CreateLogger("halo.tls"));
            if (tls is not null)
            {
                options = options with
                {
                    Listen = TlsFlags.Https(options.Listen),
                    Advertise = options.Advertise is { } a ? TlsFlags.Https(a) : null,
                    Https = tls.Configure,
                };
            }
            IStore store;
            try
            {
                store = await StoreFactory.OpenAsync(options, ct);
            }
            catch (StoreStartException ex)
            {
                // Not a usage error: the command was right, the store is not there. One line, exit 1.
                await Console.Error.WriteLineAsync("halo: " + ex.Message);
                return 1;
            }

            await using (store)
            {
                await using var app = await HaloServerHost.BuildAsync(options, store, logging: l => l.SetMinimumLevel(LogLevel.Information), cancellationToken: ct);
                await app.StartAsync(ct);
                Console.WriteLine($"halo server listening on {HaloServerHost.Address(app)} ({StoreFactory.Describe(options)})");
                Console.WriteLine($"dashboard {HaloServerHost.Address(app)}   metrics {HaloServerHost.Address(app)}metrics");
                SecurityFlags.PrintAccess(app, options);
                await app.WaitForShutdownAsync(ct);
            }

            return 0;
        }));
        return command;
    }

    /// <summary>Server options from the config file (when given) with command-line flags taking precedence.</summary>
    public static ServerOptions Options(
        string? configPath, string? listen, string? data, string? store = null, string? etcd = null, string? advertise = null, EtcdTlsFiles? etcdTls = null)
    {
        var config = LoadConfig(configPath);

        var kind = store switch
        {
            null => etcd is not null ? StoreKind.Etcd : config.Server.Store,
            "embedded" when etcd is not null => throw new CliException("--etcd: given with --store embedded; use --store etcd"),
            "embedded" => StoreKind.Embedded,
            "etcd" => StoreKind.Etcd,
            _ => throw new CliException($"--store: '{store}' is not a store (expected embedded or etcd)"),
        };
        var endpoints = etcd ?? config.Server.Etcd;
        if (kind == StoreKind.Etcd)
        {
            endpoints = EtcdEndpoints(endpoints);
        }

        var listenUrl = ListenUrl(listen ?? config.Server.Listen);
        return new ServerOptions
        {
            Listen = listenUrl,
            DataDirectory = data ?? config.Server.Data,
            DefaultDetector = config.Server.Detector,
            ServiceDetectors = config.Services.ToDictionary(kv => kv.Key, kv => kv.Value.Detector, StringComparer.Ordinal),
            Store = kind,
            // Several servers may share an etcd: join the membership and judge only this server's share.
            Cluster = kind == StoreKind.Etcd,
            EtcdEndpoints = kind == StoreKind.Etcd ? endpoints : null,
            EtcdTls = EtcdTls(kind == StoreKind.Etcd ? endpoints : null, etcdTls ?? new EtcdTlsFiles(null, null, null), config.Server),
            Advertise = (advertise ?? config.Server.Advertise) is { } a ? ListenUrl(a, "--advertise") : null,
            MemberTtl = config.Server.MemberTtl,
            Security = new() { Limits = config.Server.Limits, AllowedCheckNetworks = config.Server.CheckNetworks, OwnAddressOnly = config.Server.OwnAddressOnly },
        };
    }

    /// <summary>The --etcd list checked and in its canonical form (scheme://host:port,...); a malformed or mixed list exits 2.</summary>
    public static string EtcdEndpoints(string? endpoints)
    {
        try
        {
            var parsed = EtcdStoreOptions.ParseEndpoints(endpoints);
            if (parsed.Select(e => e.Scheme).Distinct().Count() > 1)
            {
                throw new FormatException("endpoints must all be http:// or all https://");
            }

            return string.Join(',', parsed.Select(e => e.GetLeftPart(UriPartial.Authority)));
        }
        catch (FormatException ex)
        {
            throw new CliException($"--etcd: {ex.Message}");
        }
    }

    /// <summary>--etcd-ca, --etcd-cert and --etcd-key: the same three flags on every verb that opens etcd (server, snapshot).</summary>
    public static (Option<string?> Ca, Option<string?> Certificate, Option<string?> Key) EtcdTlsOptions() => (
        new Option<string?>("--etcd-ca") { Description = "PEM CA the https:// etcd endpoints' certificates must chain to (pinned instead of the system trust store)" },
        new Option<string?>("--etcd-cert") { Description = "PEM client certificate presented to etcd (etcd --client-cert-auth)" },
        new Option<string?>("--etcd-key") { Description = "PEM private key of --etcd-cert" });

    /// <summary>
    /// TLS to etcd from --etcd-ca/--etcd-cert/--etcd-key (or server.etcdCa/etcdCert/etcdKey): null for http:// endpoints,
    /// else the pinned CA (the system trust store without one) and the client certificate. The files are read now, so a
    /// missing or unreadable one stops the start naming the flag or key (exit 2), never a failed handshake later.
    /// </summary>
    public static Action<System.Net.Security.SslClientAuthenticationOptions>? EtcdTls(string? endpoints, EtcdTlsFiles flags, ServerConfig file)
    {
        var ca = Pick(flags.Ca, "--etcd-ca", file.EtcdCa, "server.etcdCa");
        var cert = Pick(flags.Certificate, "--etcd-cert", file.EtcdCert, "server.etcdCert");
        var key = Pick(flags.Key, "--etcd-key", file.EtcdKey, "server.etcdKey");
        var given = ca ?? cert ?? key;
        if (endpoints is null)
        {
            return given is { } stray ? throw new CliException($"{stray.Name}: needs the etcd store (--etcd with https:// endpoints)") : null;
        }

        if (!endpoints.StartsWith("https://", StringComparison.Ordinal))
        {
            return given is { } plain ? throw new CliException($"{plain.Name}: the etcd endpoints are http://; use https:// endpoints for TLS") : null;
        }

        return ClientTls(ca, cert, key, "--etcd-cert");

        static (string Path, string Name)? Pick(string? flag, string flagName, string? key, string keyName) =>
            flag is not null ? (flag, flagName) : key is not null ? (key, keyName) : null;
    }

    // The files are read now, so a missing or unreadable one stops the start naming the flag or key (exit 2).
    private static Action<System.Net.Security.SslClientAuthenticationOptions> ClientTls(
        (string Path, string Name)? ca, (string Path, string Name)? cert, (string Path, string Name)? key, string certificateFlag)
    {
        if (key is not null && cert is null)
        {
            throw new CliException($"{key.Value.Name}: needs {certificateFlag}");
        }

        try
        {
            var roots = ca is { } c ? Halo.Client.HaloHttp.LoadPinnedCa(Existing(c), c.Name) : null;
            var certificate = cert is { } p ? Halo.Client.HaloHttp.LoadClientCertificate(Existing(p), key is { } k ? Existing(k) : null, p.Name) : null;
            return Halo.Client.HaloHttp.PinnedTls(roots, certificate);
        }
        catch (Halo.Client.HaloOptionsException ex)
        {
            throw new CliException(ex.Message);
        }

        static string Existing((string Path, string Name) file) =>
            File.Exists(file.Path) ? file.Path : throw new CliException($"{file.Name}: no such file '{file.Path}'");
    }

    /// <summary>The config file (--config), or the defaults when none is given; a bad file is one line naming the field.</summary>
    public static HaloConfig LoadConfig(string? configPath)
    {
        if (configPath is null)
        {
            return new HaloConfig();
        }

        if (!File.Exists(configPath))
        {
            throw new CliException($"--config: no such file '{configPath}'");
        }

        try
        {
            return HaloConfigLoader.Load(File.ReadAllText(configPath), configPath.EndsWith(".json", StringComparison.OrdinalIgnoreCase)).Config;
        }
        catch (InputException ex)
        {
            throw new CliException($"{configPath}: {ex.Message}");
        }
    }

    /// <summary>Adds --alert-webhook URLs to the alert options, rejecting a bad one with a message naming the option.</summary>
    public static ServerOptions WithWebhooks(ServerOptions options, string[]? webhooks)
    {
        if (webhooks is not { Length: > 0 })
        {
            return options;
        }

        var alerts = options.Alerts with { Webhooks = [.. options.Alerts.Webhooks, .. webhooks] };
        if (alerts.Validate() is { Count: > 0 } errors)
        {
            throw new CliException(string.Join("; ", errors.Select(e => $"--alert-webhook ({e.Field}): {e.Message}")));
        }

        return options with { Alerts = alerts };
    }

    /// <summary>
    /// Loads a `halo model` topology and publishes the availability of every block by name (first occurrence, top down),
    /// so a block named like a service or group is its prediction.
    /// </summary>
    public static ServerOptions WithModel(ServerOptions options, string? path)
    {
        if (path is null)
        {
            return options;
        }

        if (!File.Exists(path))
        {
            throw new CliException($"--model: no such file '{path}'");
        }

        Halo.Cli.Model.Topology topology;
        try
        {
            topology = Halo.Cli.Model.TopologyLoader.Load(File.ReadAllText(path), path.EndsWith(".json", StringComparison.OrdinalIgnoreCase));
        }
        catch (Exception ex) when (ex is InputException or ArgumentException)
        {
            throw new CliException($"--model {path}: {ex.Message}");
        }

        var predicted = new Dictionary<string, double>(StringComparer.Ordinal);
        var pending = new Stack<Halo.Core.Availability.Block>([topology.System]);
        while (pending.TryPop(out var block))
        {
            predicted.TryAdd(block.Name, block.Availability);
            for (var i = block.Children.Count - 1; i >= 0; i--)
            {
                pending.Push(block.Children[i]);
            }
        }

        return options with { PredictedAvailability = predicted };
    }

    /// <summary>Accepts "host:port" or a full URL; rejects anything else with a message naming the option.</summary>
    public static string ListenUrl(string value, string option = "--listen")
    {
        var url = value.Contains("://", StringComparison.Ordinal) ? value : "http://" + value;
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme != "http" || uri.AbsolutePath != "/" || uri.IsDefaultPort && !value.EndsWith(":80", StringComparison.Ordinal))
        {
            throw new CliException($"{option}: '{value}' is not host:port (example: 127.0.0.1:7400)");
        }

        return $"http://{uri.Authority}";
    }
}

/// <summary>The etcd TLS flags of one invocation (each null when not given).</summary>
internal sealed record EtcdTlsFiles(string? Ca, string? Certificate, string? Key);

/// <summary>The configured store could not be opened or reached; the message is the one line the operator sees.</summary>
internal sealed class StoreStartException(string message) : Exception(message);

/// <summary>Opens the configured store.</summary>
internal static class StoreFactory
{
    /// <summary>How long start-up waits for etcd to answer before giving up with a reason; also each request's deadline later.</summary>
    private static readonly TimeSpan EtcdStartTimeout = TimeSpan.FromSeconds(5);

    public static Task<IStore> OpenAsync(ServerOptions options, CancellationToken ct) =>
        options.Store == StoreKind.Etcd ? OpenEtcdAsync(options.EtcdEndpoints!, ct, options.EtcdTls) : OpenEmbeddedAsync(options.DataDirectory, ct);

    public static string Describe(ServerOptions options) =>
        options.Store == StoreKind.Etcd ? $"store: etcd {options.EtcdEndpoints}" : $"data: {Path.GetFullPath(options.DataDirectory)}";

    public static async Task<IStore> OpenEmbeddedAsync(string directory, CancellationToken ct)
    {
        Directory.CreateDirectory(directory);
        try
        {
            return await EmbeddedStore.OpenAsync(directory, new EmbeddedStoreOptions(), TimeProvider.System, cancellationToken: ct);
        }
        catch (StoreUnavailableException ex)
        {
            throw new StoreStartException(ex.Message);
        }
    }

    /// <summary>
    /// Opens etcd and proves it answers (a quorum read of the revision) before the server starts, so an unreachable or
    /// quorum-less cluster is a one-line reason at start, not a stream of failing requests later.
    /// </summary>
    public static async Task<IStore> OpenEtcdAsync(string endpoints, CancellationToken ct, Action<System.Net.Security.SslClientAuthenticationOptions>? tls = null)
    {
        var options = new EtcdStoreOptions { Endpoints = endpoints, RequestTimeout = EtcdStartTimeout, ConfigureTls = tls };
        var store = new EtcdStore(options, TimeProvider.System);
        try
        {
            await store.GetRevisionAsync(ct);
            return store;
        }
        catch (StoreUnavailableException ex)
        {
            await store.DisposeAsync();
            throw new StoreStartException($"cannot reach etcd at {options.Describe()}: {OneLine(ex.Message.Replace("etcd: ", "", StringComparison.Ordinal))}");
        }
    }

    private static string OneLine(string message)
    {
        var line = message.ReplaceLineEndings(" ");
        return line.Length > 300 ? line[..300] + "…" : line;
    }
}
