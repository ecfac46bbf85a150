using Halo.Core;
using System.Globalization;
using Halo.Core.Configuration;
using Halo.Core.Detection;

namespace Halo.Cli.Configuration;

/// <summary>A loaded config plus the line each field was set on (absent: the built-in default applies).</summary>
public sealed record LoadedConfig(HaloConfig Config, IReadOnlyDictionary<string, int> Lines)
{
    /// <summary>"groups.cache.leaseTtl (line 9)", or "… (default)" when the file does not set it.</summary>
    public string Describe(string field) =>
        Lines.TryGetValue(field, out var line)
            ? string.Create(CultureInfo.InvariantCulture, $"{field} (line {line})")
            : $"{field} (default)";
}

/// <summary>
/// Loads Halo's configuration file (YAML or JSON), validating every range at load time so a bad TTL
/// fails here with its line and field rather than during a failover.
/// </summary>
public static class HaloConfigLoader
{
    private const string DetectorFields = "kind, heartbeatInterval, missedHeartbeats, phiThreshold, suspectPhi, minStdDeviation, acceptablePause, sampleWindow, downAfter, upAfter, evaluationInterval, removeAfter";
    private const string GroupFields = "leaseTtl, renewInterval, controllerInterval, maxLagBytes, promoteTimeout, rerouteBound, driver, synchronous, agentInterval";
    private static readonly TimeSpan Widest = TimeSpan.FromDays(365);

    /// <summary>server.limits: each key read as a number or duration, ranges checked by <see cref="LimitOptions.Validate"/> (one place).</summary>
    private static LimitOptions Limits(MappingReader l)
    {
        var d = new LimitOptions();
        var limits = new LimitOptions
        {
            MaxStreamsPerToken = l.Integer("maxStreamsPerToken", int.MinValue, int.MaxValue) ?? d.MaxStreamsPerToken,
            MaxStreams = l.Integer("maxStreams", int.MinValue, int.MaxValue) ?? d.MaxStreams,
            RequestsPerSecondPerToken = l.Integer("requestsPerSecondPerToken", int.MinValue, int.MaxValue) ?? d.RequestsPerSecondPerToken,
            RequestsPerSecondPerSource = l.Integer("requestsPerSecondPerSource", int.MinValue, int.MaxValue) ?? d.RequestsPerSecondPerSource,
            MaxConnections = l.Integer("maxConnections", int.MinValue, int.MaxValue) ?? d.MaxConnections,
            MaxRequestHeaderCount = l.Integer("maxRequestHeaderCount", int.MinValue, int.MaxValue) ?? d.MaxRequestHeaderCount,
            MaxRequestHeadersBytes = l.Integer("maxRequestHeadersBytes", int.MinValue, int.MaxValue) ?? d.MaxRequestHeadersBytes,
            RequestHeadersTimeout = l.Duration("requestHeadersTimeout", TimeSpan.Zero, TimeSpan.MaxValue) ?? d.RequestHeadersTimeout,
            KeepAliveTimeout = l.Duration("keepAliveTimeout", TimeSpan.Zero, TimeSpan.MaxValue) ?? d.KeepAliveTimeout,
            MaxServices = l.Integer("maxServices", int.MinValue, int.MaxValue) ?? d.MaxServices,
            MaxInstancesPerService = l.Integer("maxInstancesPerService", int.MinValue, int.MaxValue) ?? d.MaxInstancesPerService,
        };
        l.RejectUnknown("maxStreamsPerToken, maxStreams, requestsPerSecondPerToken, requestsPerSecondPerSource, maxConnections, "
            + "maxRequestHeaderCount, maxRequestHeadersBytes, requestHeadersTimeout, keepAliveTimeout, maxServices, maxInstancesPerService");
        if (limits.Validate() is [var (field, message), ..])
        {
            throw l.Error(field, message);
        }

        return limits;
    }

    /// <summary>server.tls: file paths and the client-certificate mode; the files themselves are read when the server starts.</summary>
    private static TlsConfig Tls(MappingReader t)
    {
        var tls = new TlsConfig
        {
            Certificate = t.String("certificate") ?? throw t.Error("certificate", "required: the PEM certificate file"),
            Key = t.String("key") ?? throw t.Error("key", "required: the PEM private key file"),
            ClientCertificates = t.String("clientCertificates"),
            ClientCa = t.String("clientCa"),
        };
        if (tls.ClientCertificates is not (null or "none" or "allow" or "require"))
        {
            throw t.Error("clientCertificates", $"'{tls.ClientCertificates}' is not a mode (expected require, allow or none)");
        }

        t.RejectUnknown("certificate, key, clientCertificates, clientCa");
        return tls;
    }

    /// <summary>server.checks: allowedNetworks as a list (or comma-separated string) of CIDR networks or addresses.</summary>
    private static IReadOnlyList<string>? CheckNetworks(MappingReader c)
    {
        IReadOnlyList<string>? networks = null;
        if (c.Has("allowedNetworks"))
        {
            networks = c.Value("allowedNetworks") switch
            {
                YamlDotNet.RepresentationModel.YamlSequenceNode list => list.Children
                    .Select(n => n is YamlDotNet.RepresentationModel.YamlScalarNode { Value: { } v } ? v.Trim() : throw c.Error("allowedNetworks", "expected a list of networks"))
                    .ToArray(),
                _ => (c.String("allowedNetworks") ?? string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
            };
            if (networks.FirstOrDefault(n => !Halo.Core.Networking.Networks.TryParse(n, out _)) is { } bad)
            {
                throw c.Error("allowedNetworks", $"'{bad}' is not a network (expected CIDR such as 10.0.0.0/8 or fd00::/8, or one address)");
            }
        }

        c.RejectUnknown("allowedNetworks");
        return networks;
    }

    /// <summary>server.registrations: ownAddressOnly, true or false.</summary>
    private static bool OwnAddressOnly(MappingReader r)
    {
        var own = r.String("ownAddressOnly") switch
        {
            null or "false" => false,
            "true" => true,
            var other => throw r.Error("ownAddressOnly", $"'{other}' is not true or false"),
        };
        r.RejectUnknown("ownAddressOnly");
        return own;
    }

    public static LoadedConfig Load(string text, bool isJson)
    {
        var lines = new Dictionary<string, int>(StringComparer.Ordinal);
        var root = new MappingReader(YamlInput.LoadMapping(text, isJson), string.Empty);

        var server = new ServerConfig();
        if (root.Mapping("server") is { } s)
        {
            Track(s, lines, "listen", "data");
            var listen = s.String("listen") ?? server.Listen;
            if (!IsEndpoint(listen))
            {
                throw s.Error("listen", $"'{listen}' is not host:port with a port from 1 to 65535");
            }

            var data = s.String("data") ?? server.Data;
            if (string.IsNullOrWhiteSpace(data))
            {
                throw s.Error("data", "must be a directory path");
            }

            var detector = s.Mapping("detector") is { } d ? Detector(d, new DetectorOptions(), lines) : server.Detector;
            Track(s, lines, "store", "etcd", "advertise", "memberTtl");
            var store = s.String("store") switch
            {
                null or "embedded" => StoreKind.Embedded,
                "etcd" => StoreKind.Etcd,
                var other => throw s.Error("store", $"unknown store '{other}' (expected embedded or etcd)"),
            };
            var etcd = Etcd(s);
            if (store == StoreKind.Etcd && etcd is null)
            {
                throw s.Error("store", "store etcd needs the etcd endpoints (etcd: http://host:2379,...)");
            }

            if (store == StoreKind.Embedded && etcd is not null && s.Has("store"))
            {
                throw s.Error("etcd", "etcd endpoints are given but store is embedded");
            }

            var advertise = s.String("advertise");
            if (advertise is not null && !IsEndpoint(advertise))
            {
                throw s.Error("advertise", $"'{advertise}' is not host:port with a port from 1 to 65535");
            }

            var memberTtl = s.Duration("memberTtl", TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(60)) ?? server.MemberTtl;
            var limits = s.Mapping("limits") is { } l ? Limits(l) : server.Limits;
            var tls = s.Mapping("tls") is { } t ? Tls(t) : null;
            var (etcdCa, etcdCert, etcdKey) = (s.String("etcdCa"), s.String("etcdCert"), s.String("etcdKey"));
            var checkNetworks = s.Mapping("checks") is { } c ? CheckNetworks(c) : null;
            var ownAddressOnly = s.Mapping("registrations") is { } r && OwnAddressOnly(r);
            s.RejectUnknown("listen, data, detector, store, etcd, etcdCa, etcdCert, etcdKey, advertise, memberTtl, limits, tls, checks, registrations");
            server = new ServerConfig
            {
                Listen = listen, Data = data, Detector = detector, Store = etcd is null ? store : StoreKind.Etcd, Etcd = etcd, Advertise = advertise,
                EtcdCa = etcdCa, EtcdCert = etcdCert, EtcdKey = etcdKey,
                MemberTtl = memberTtl, Limits = limits, Tls = tls, CheckNetworks = checkNetworks,
                OwnAddressOnly = ownAddressOnly,
            };
        }

        var services = new Dictionary<string, ServiceConfig>(StringComparer.Ordinal);
        if (root.Mapping("services") is { } servicesNode)
        {
            foreach (var name in servicesNode.Keys.ToArray())
            {
                var service = servicesNode.Mapping(name) ?? throw servicesNode.Error(name, "expected a mapping of fields");
                var detector = service.Mapping("detector") is { } d ? Detector(d, server.Detector, lines) : server.Detector;
                service.RejectUnknown("detector");
                services[name] = new ServiceConfig { Detector = detector };
            }
        }

        var groups = new Dictionary<string, GroupConfig>(StringComparer.Ordinal);
        if (root.Mapping("groups") is { } groupsNode)
        {
            foreach (var name in groupsNode.Keys.ToArray())
            {
                groups[name] = Group(groupsNode.Mapping(name) ?? throw groupsNode.Error(name, "expected a mapping of fields"), lines);
            }
        }

        var gateway = new GatewayConfig();
        if (root.Mapping("gateway") is { } g)
        {
            Track(g, lines, "feedRetry");
            gateway = new GatewayConfig { FeedRetry = g.Duration("feedRetry", TimeSpan.FromMilliseconds(10), TimeSpan.FromMinutes(5)) ?? gateway.FeedRetry };
            g.RejectUnknown("feedRetry");
        }

        root.RejectUnknown("server, services, groups, gateway");
        return new LoadedConfig(new HaloConfig { Server = server, Services = services, Groups = groups, Gateway = gateway }, lines);
    }

    private static GroupConfig Group(MappingReader g, Dictionary<string, int> lines)
    {
        Track(g, lines, GroupFields.Split(", "));
        var defaults = new GroupConfig();
        var group = new GroupConfig
        {
            LeaseTtl = g.Duration("leaseTtl", TimeSpan.FromMilliseconds(100), TimeSpan.FromMinutes(10)) ?? defaults.LeaseTtl,
            RenewInterval = g.Duration("renewInterval", TimeSpan.FromMilliseconds(10), TimeSpan.FromMinutes(5)) ?? defaults.RenewInterval,
            ControllerInterval = g.Duration("controllerInterval", TimeSpan.FromMilliseconds(10), TimeSpan.FromMinutes(1)) ?? defaults.ControllerInterval,
            MaxLagBytes = g.Long("maxLagBytes", 0, 1L << 40) ?? defaults.MaxLagBytes,
            PromoteTimeout = g.Duration("promoteTimeout", TimeSpan.FromMilliseconds(100), TimeSpan.FromMinutes(10)) ?? defaults.PromoteTimeout,
            RerouteBound = g.Duration("rerouteBound", TimeSpan.Zero, TimeSpan.FromMinutes(1)) ?? defaults.RerouteBound,
            Driver = g.String("driver") is { } driver ? driver is "redis" or "postgres" or "exec" ? driver : throw g.Error("driver", $"unknown driver '{driver}' (expected redis, postgres or exec)") : defaults.Driver,
            Synchronous = g.String("synchronous") switch
            {
                null or "off" => Halo.Core.Failover.SynchronousMode.Off,
                "preferred" => Halo.Core.Failover.SynchronousMode.Preferred,
                "strict" => Halo.Core.Failover.SynchronousMode.Strict,
                var other => throw g.Error("synchronous", $"unknown mode '{other}' (expected off, preferred or strict)"),
            },
            AgentInterval = g.Duration("agentInterval", TimeSpan.FromMilliseconds(10), TimeSpan.FromSeconds(10)) ?? defaults.AgentInterval,
        };
        g.RejectUnknown(GroupFields);

        // A primary must be able to renew at least once before its lease lapses, or it demotes itself
        // (and loses the lease) even while healthy.
        if (group.RenewInterval >= group.LeaseTtl)
        {
            throw g.Error(g.Has("renewInterval") ? "renewInterval" : "leaseTtl",
                $"renewInterval ({Durations.Format(group.RenewInterval)}) must be shorter than leaseTtl ({Durations.Format(group.LeaseTtl)})");
        }

        return group;
    }

    private static DetectorOptions Detector(MappingReader d, DetectorOptions fallback, Dictionary<string, int> lines)
    {
        Track(d, lines, DetectorFields.Split(", "));
        var kindText = d.String("kind");
        var kind = kindText switch
        {
            null => fallback.Kind,
            "fixed" => DetectorKind.Fixed,
            "phiAccrual" => DetectorKind.PhiAccrual,
            _ => throw d.Error("kind", $"unknown detector kind '{kindText}' (expected fixed or phiAccrual)"),
        };
        var options = fallback with
        {
            Kind = kind,
            HeartbeatInterval = d.Duration("heartbeatInterval", TimeSpan.Zero, Widest) ?? fallback.HeartbeatInterval,
            MissedHeartbeats = d.Integer("missedHeartbeats", int.MinValue, int.MaxValue) ?? fallback.MissedHeartbeats,
            PhiThreshold = d.Number("phiThreshold") ?? fallback.PhiThreshold,
            SuspectPhi = d.Number("suspectPhi") ?? fallback.SuspectPhi,
            MinStdDeviation = d.Duration("minStdDeviation", TimeSpan.Zero, Widest) ?? fallback.MinStdDeviation,
            AcceptablePause = d.Duration("acceptablePause", TimeSpan.Zero, Widest) ?? fallback.AcceptablePause,
            SampleWindow = d.Integer("sampleWindow", int.MinValue, int.MaxValue) ?? fallback.SampleWindow,
            DownAfter = d.Integer("downAfter", int.MinValue, int.MaxValue) ?? fallback.DownAfter,
            UpAfter = d.Integer("upAfter", int.MinValue, int.MaxValue) ?? fallback.UpAfter,
            EvaluationInterval = d.Duration("evaluationInterval", TimeSpan.Zero, Widest) ?? fallback.EvaluationInterval,
            RemoveAfter = d.Duration("removeAfter", TimeSpan.Zero, Widest) ?? fallback.RemoveAfter,
        };
        d.RejectUnknown(DetectorFields);

        // One set of ranges, owned by Detection: the loader only adds the line.
        var errors = DetectorOptionsValidator.Validate(options);
        if (errors.Count > 0)
        {
            var (field, message) = errors[0];
            throw d.Error(field, message);
        }

        return options;
    }

    /// <summary>server.etcd: a comma-separated string or a list of client URLs, normalized to one comma-separated string.</summary>
    private static string? Etcd(MappingReader s)
    {
        if (!s.Has("etcd"))
        {
            return null;
        }

        var text = s.Value("etcd") is YamlDotNet.RepresentationModel.YamlSequenceNode list
            ? string.Join(',', list.Children.Select(c => c is YamlDotNet.RepresentationModel.YamlScalarNode { Value: { } v } ? v : throw s.Error("etcd", "expected a list of URLs")))
            : s.String("etcd");
        try
        {
            return string.Join(',', Halo.Store.EtcdStoreOptions.ParseEndpoints(text).Select(e => e.GetLeftPart(UriPartial.Authority)));
        }
        catch (FormatException ex)
        {
            throw s.Error("etcd", ex.Message);
        }
    }

    private static void Track(MappingReader m, Dictionary<string, int> lines, params string[] keys)
    {
        foreach (var key in keys)
        {
            if (m.Has(key))
            {
                lines[m.FieldPath(key)] = m.LineOf(key);
            }
        }
    }

    private static bool IsEndpoint(string text)
    {
        return Halo.Core.Networking.HostPort.TryParse(text, out _);
    }
}
