using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Halo.Core.Balancing;
using YamlDotNet.Core;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace Halo.Gateway.Configuration;

/// <summary>
/// Reads and validates the gateway config. Validation happens once, at start-up, and names the
/// offending field, so a typo fails the boot instead of surfacing during an incident.
/// </summary>
public static partial class GatewayConfigLoader
{
    private static readonly IDeserializer Yaml = new DeserializerBuilder()
        .WithNamingConvention(CamelCaseNamingConvention.Instance)
        .Build();

    /// <summary>Loads and validates <paramref name="path"/>; command-line values override the file.</summary>
    public static GatewaySettings LoadFile(string path, string? listenOverride, string? serverOverride)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new GatewayConfigException("config", $"cannot read '{path}': {ex.Message}", ex);
        }

        return Parse(text, listenOverride, serverOverride);
    }

    /// <summary>Parses and validates config text (YAML, or JSON which YAML accepts).</summary>
    public static GatewaySettings Parse(string text, string? listenOverride = null, string? serverOverride = null)
    {
        GatewayConfigFile? file;
        try
        {
            file = Yaml.Deserialize<GatewayConfigFile>(text);
        }
        catch (YamlException ex)
        {
            // YamlDotNet says "Property 'x' not found on type ..." for unknown fields; keep its position.
            var inner = ex.InnerException?.Message ?? ex.Message;
            throw new GatewayConfigException($"line {ex.Start.Line}", inner, ex);
        }

        return Validate(file ?? new GatewayConfigFile(), listenOverride, serverOverride);
    }

    private static GatewaySettings Validate(GatewayConfigFile file, string? listenOverride, string? serverOverride)
    {
        var listen = ParseEndPoint(listenOverride ?? file.Listen ?? "127.0.0.1:7480", "listen");
        var serverText = serverOverride ?? file.Server ?? "http://127.0.0.1:7400";
        IReadOnlyList<Uri> servers;
        try
        {
            servers = Halo.Client.HaloClientOptionsBuilder.ParseServers(serverText, "server");
        }
        catch (Halo.Client.HaloOptionsException ex)
        {
            throw new GatewayConfigException("server", $"must be one or more http(s) URLs, comma-separated ({ex.Problem})");
        }

        var metricsPath = file.MetricsPath ?? "/metrics";
        if (!metricsPath.StartsWith('/'))
        {
            throw new GatewayConfigException("metricsPath", "must start with '/'");
        }

        if (file.Clusters is null || file.Clusters.Count == 0)
        {
            throw new GatewayConfigException("clusters", "at least one cluster is required");
        }

        var clusters = new Dictionary<string, ClusterSettings>(StringComparer.Ordinal);
        foreach (var (name, cluster) in file.Clusters)
        {
            clusters[name] = ClusterValidator.Validate(name, cluster ?? new ClusterConfig());
        }

        if (file.Routes is null || file.Routes.Length == 0)
        {
            throw new GatewayConfigException("routes", "at least one route is required");
        }

        var routes = new List<RouteSettings>();
        for (var i = 0; i < file.Routes.Length; i++)
        {
            var r = file.Routes[i] ?? new RouteConfig();
            var field = $"routes[{i}]";
            if (string.IsNullOrWhiteSpace(r.Cluster))
            {
                throw new GatewayConfigException(field + ".cluster", "is required");
            }

            if (!clusters.ContainsKey(r.Cluster))
            {
                throw new GatewayConfigException(field + ".cluster", $"names unknown cluster '{r.Cluster}'");
            }

            var path = r.Path ?? "/";
            if (!path.StartsWith('/'))
            {
                throw new GatewayConfigException(field + ".path", $"must start with '/' (got '{path}')");
            }

            var host = string.IsNullOrWhiteSpace(r.Host) || r.Host == "*" ? null : r.Host.Trim();
            routes.Add(new RouteSettings(host, path, r.Cluster));
        }

        return new GatewaySettings(listen, servers, metricsPath, routes, clusters)
        {
            FeedRetry = DurationField(file.FeedRetry, TimeSpan.FromSeconds(1), "feedRetry", TimeSpan.FromMilliseconds(10), TimeSpan.FromMinutes(5)),
            TrustedProxies = TrustedProxies(file.TrustedProxies),
            AdminListen = file.AdminListen is { } admin ? AdminEndPoint(admin, listen) : null,
            Tls = file.Tls is { } tls ? new Halo.Core.Configuration.TlsConfig
            {
                Certificate = tls.Certificate,
                Key = tls.Key,
                ClientCertificates = tls.ClientCertificates,
                ClientCa = tls.ClientCa,
            } : null,
        };
    }

    /// <summary>Parses host:port (IPv4, [IPv6] or localhost).</summary>
    private static IReadOnlyList<IPNetwork> TrustedProxies(string[]? values)
    {
        var networks = new List<IPNetwork>();
        for (var i = 0; i < (values?.Length ?? 0); i++)
        {
            var text = values![i]?.Trim() ?? "";
            if (Halo.Core.Networking.Networks.TryParse(text, out var network))
            {
                networks.Add(network);
            }
            else
            {
                throw new GatewayConfigException($"trustedProxies[{i}]", $"'{text}' is not an IP address or CIDR network (10.0.0.0/8)");
            }
        }

        return networks;
    }

    private static IPEndPoint AdminEndPoint(string text, IPEndPoint listen)
    {
        var admin = ParseEndPoint(text, "adminListen");
        if (admin.Port != 0 && admin.Port == listen.Port)
        {
            throw new GatewayConfigException("adminListen", $"must be another port than listen ({listen.Port})");
        }

        return admin;
    }

    public static IPEndPoint ParseEndPoint(string text, string field)
    {
        var t = text.Trim();
        if (t.StartsWith("http://", StringComparison.OrdinalIgnoreCase))
        {
            t = t["http://".Length..].TrimEnd('/');
        }

        if (t.StartsWith("localhost:", StringComparison.OrdinalIgnoreCase))
        {
            t = "127.0.0.1" + t["localhost".Length..];
        }

        if (!IPEndPoint.TryParse(t, out var ep) || ep.Port is < 0 or > 65535 || !t.Contains(':', StringComparison.Ordinal))
        {
            throw new GatewayConfigException(field, $"must be host:port, e.g. 127.0.0.1:7480 (got '{text}')");
        }

        return ep;
    }

    internal static TimeSpan DurationField(string? text, TimeSpan defaultValue, string field, TimeSpan min, TimeSpan max)
    {
        if (text is null)
        {
            return defaultValue;
        }

        if (!Halo.Core.Durations.TryParseOrSeconds(text, out var value))
        {
            throw new GatewayConfigException(field, $"must be a duration like 250ms, 3s or 1m (got '{text}')");
        }

        if (value < min || value > max)
        {
            throw new GatewayConfigException(field, $"must be between {Format(min)} and {Format(max)} (got '{text}')");
        }

        return value;
    }

    internal static int IntField(int? value, int defaultValue, string field, int min, int max)
    {
        var v = value ?? defaultValue;
        if (v < min || v > max)
        {
            throw new GatewayConfigException(field, $"must be between {min} and {max} (got {v})");
        }

        return v;
    }

    internal static bool IsName(string value) => Halo.Core.Registry.Names.IsValid(value);

    private static string Format(TimeSpan t) =>
        t < TimeSpan.FromSeconds(1) ? t.TotalMilliseconds.ToString(CultureInfo.InvariantCulture) + "ms" : t.TotalSeconds.ToString(CultureInfo.InvariantCulture) + "s";
}
