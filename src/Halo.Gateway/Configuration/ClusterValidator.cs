using Halo.Core.Balancing;

namespace Halo.Gateway.Configuration;

/// <summary>Validates one cluster's section; every error names its field.</summary>
internal static class ClusterValidator
{
    private static readonly TimeSpan Ms = TimeSpan.FromMilliseconds(1);

    public static ClusterSettings Validate(string name, ClusterConfig c)
    {
        var f = "clusters." + name;
        if (!GatewayConfigLoader.IsName(name))
        {
            throw new GatewayConfigException(f, "cluster names must match ^[a-zA-Z0-9][a-zA-Z0-9._-]{0,62}$");
        }

        var pools = ValidatePools(f, c);
        var policy = ParsePolicy(c.Policy, f + ".policy");
        var hash = c.Hash ?? new HashConfig();
        var hashOn = (hash.On ?? "ip").ToLowerInvariant() switch
        {
            "ip" => HashSource.Ip,
            "header" => HashSource.Header,
            "cookie" => HashSource.Cookie,
            _ => throw new GatewayConfigException(f + ".hash.on", $"must be ip, header or cookie (got '{hash.On}')"),
        };
        if (hashOn != HashSource.Ip && string.IsNullOrWhiteSpace(hash.Name))
        {
            throw new GatewayConfigException(f + ".hash.name", "is required when hash.on is header or cookie");
        }

        var loadFactor = hash.LoadFactor ?? 1.25;
        if (loadFactor != 0 && loadFactor is < 1 or > 100)
        {
            throw new GatewayConfigException(f + ".hash.loadFactor", $"must be 0 (unbounded) or between 1 and 100 (got {loadFactor})");
        }

        var health = c.Health ?? new HealthConfig();
        ActiveHealthSettings? active = null;
        if (health.Active is { } a)
        {
            var af = f + ".health.active";
            var path = a.Path ?? "/healthz";
            if (!path.StartsWith('/'))
            {
                throw new GatewayConfigException(af + ".path", $"must start with '/' (got '{path}')");
            }

            active = new ActiveHealthSettings(
                path,
                GatewayConfigLoader.DurationField(a.Interval, TimeSpan.FromSeconds(1), af + ".interval", 10 * Ms, TimeSpan.FromMinutes(10)),
                GatewayConfigLoader.DurationField(a.FastInterval, TimeSpan.FromMilliseconds(250), af + ".fastInterval", 10 * Ms, TimeSpan.FromMinutes(10)),
                GatewayConfigLoader.DurationField(a.Timeout, TimeSpan.FromMilliseconds(500), af + ".timeout", Ms, TimeSpan.FromMinutes(1)),
                GatewayConfigLoader.IntField(a.Rise, 2, af + ".rise", 1, 100),
                GatewayConfigLoader.IntField(a.Fall, 2, af + ".fall", 1, 100));
        }

        var p = health.Passive ?? new PassiveHealthConfig();
        var pf = f + ".health.passive";
        var outlier = new OutlierOptions
        {
            ConsecutiveFailures = GatewayConfigLoader.IntField(p.ConsecutiveFailures, 3, pf + ".consecutiveFailures", 1, 1000),
            BaseEjectionTime = GatewayConfigLoader.DurationField(p.BaseEjectionTime, TimeSpan.FromSeconds(2), pf + ".baseEjectionTime", 10 * Ms, TimeSpan.FromHours(1)),
            MaxEjectionTime = GatewayConfigLoader.DurationField(p.MaxEjectionTime, TimeSpan.FromSeconds(60), pf + ".maxEjectionTime", 10 * Ms, TimeSpan.FromHours(1)),
            MaxEjectionPercent = GatewayConfigLoader.IntField(p.MaxEjectionPercent, 50, pf + ".maxEjectionPercent", 0, 100),
        };
        if (outlier.MaxEjectionTime < outlier.BaseEjectionTime)
        {
            throw new GatewayConfigException(pf + ".maxEjectionTime", "must not be shorter than baseEjectionTime");
        }

        var r = c.Retry ?? new RetryConfig();
        var rf = f + ".retry";
        var budget = r.BudgetRatio ?? 0.2;
        if (budget is < 0 or > 10 || double.IsNaN(budget))
        {
            throw new GatewayConfigException(rf + ".budgetRatio", $"must be between 0 and 10 (got {budget})");
        }

        var statuses = r.OnStatus ?? [502, 503, 504];
        foreach (var s in statuses)
        {
            if (s is < 500 or > 599)
            {
                throw new GatewayConfigException(rf + ".onStatus", $"only 5xx statuses may be retried (got {s})");
            }
        }

        AdaptiveTimeoutSettings? adaptive = null;
        if (r.AdaptiveTimeout is { } at)
        {
            var multiplier = at.Multiplier ?? 5;
            if (multiplier is < 1 or > 100 || double.IsNaN(multiplier))
            {
                throw new GatewayConfigException(rf + ".adaptiveTimeout.multiplier", $"must be between 1 and 100 (got {multiplier})");
            }

            adaptive = new AdaptiveTimeoutSettings(multiplier,
                GatewayConfigLoader.DurationField(at.Min, TimeSpan.FromMilliseconds(50), rf + ".adaptiveTimeout.min", Ms, TimeSpan.FromMinutes(10)));
        }

        var retry = new RetrySettings(
            GatewayConfigLoader.IntField(r.Attempts, 3, rf + ".attempts", 1, 10),
            GatewayConfigLoader.DurationField(r.PerTryTimeout, TimeSpan.FromSeconds(1), rf + ".perTryTimeout", Ms, TimeSpan.FromMinutes(10)),
            budget,
            GatewayConfigLoader.IntField(r.MinRetriesPerSecond, 10, rf + ".minRetriesPerSecond", 0, 100_000),
            GatewayConfigLoader.IntField(r.MaxReplayBodyBytes, 65_536, rf + ".maxReplayBodyBytes", 0, 16 * 1024 * 1024),
            string.IsNullOrWhiteSpace(r.IdempotencyHeader) ? "Idempotency-Key" : r.IdempotencyHeader,
            statuses.ToHashSet(),
            adaptive);
        if (adaptive is not null && adaptive.Min > retry.PerTryTimeout)
        {
            throw new GatewayConfigException(rf + ".adaptiveTimeout.min", "must not exceed perTryTimeout (the ceiling)");
        }

        return new ClusterSettings(
            name, pools, policy, hashOn, hash.Name, loadFactor, active, outlier,
            GatewayConfigLoader.IntField(health.PanicThreshold, 50, f + ".health.panicThreshold", 0, 100),
            GatewayConfigLoader.DurationField(health.SlowStart, TimeSpan.Zero, f + ".health.slowStart", TimeSpan.Zero, TimeSpan.FromHours(1)),
            retry,
            GatewayConfigLoader.DurationField(c.ConnectTimeout, TimeSpan.FromSeconds(1), f + ".connectTimeout", Ms, TimeSpan.FromMinutes(1)),
            ValidateTls(f, c.Tls, pools));
    }

    /// <summary>clusters.NAME.tls: the files are read now, so a missing or unreadable one stops the start naming its key.</summary>
    private static BackendTls? ValidateTls(string f, BackendTlsConfig? tls, List<PoolSettings> pools)
    {
        if (tls is null)
        {
            return null;
        }

        var tf = f + ".tls";
        if (pools.SelectMany(p => p.Destinations).FirstOrDefault(d => d.Url.Scheme != Uri.UriSchemeHttps) is { } plain)
        {
            throw new GatewayConfigException(tf, $"destination '{plain.Url}' is http://; a cluster with tls reaches every backend over https://");
        }

        if (tls.Key is not null && tls.Certificate is null)
        {
            throw new GatewayConfigException(tf + ".key", "needs certificate");
        }

        try
        {
            var roots = Halo.Client.HaloHttp.LoadPinnedCa(Existing(tls.Ca ?? throw new GatewayConfigException(tf + ".ca", "required: the PEM CA the backends' certificates chain to"), tf + ".ca"), tf + ".ca");
            var client = tls.Certificate is { } cert
                ? Halo.Client.HaloHttp.LoadClientCertificate(Existing(cert, tf + ".certificate"), tls.Key is { } key ? Existing(key, tf + ".key") : null, tf + ".certificate")
                : null;
            return new BackendTls(roots, client);
        }
        catch (Halo.Client.HaloOptionsException ex)
        {
            throw new GatewayConfigException(ex.Option, ex.Problem);
        }

        static string Existing(string path, string field) =>
            File.Exists(path) ? path : throw new GatewayConfigException(field, $"no such file '{path}'");
    }

    private static PolicyKind ParsePolicy(string? text, string field) =>
        BalancingPolicies.TryParse(text ?? "peak-ewma", out var kind)
            ? kind
            : throw new GatewayConfigException(field, $"must be one of {BalancingPolicies.Names} (got '{text}')");

    private static List<PoolSettings> ValidatePools(string f, ClusterConfig c)
    {
        var shorthand = c.Service is not null || c.Destinations is not null;
        if (shorthand && c.Pools is not null)
        {
            throw new GatewayConfigException(f + ".pools", "use either pools or service/destinations, not both");
        }

        var raw = c.Pools ?? (shorthand ? [new PoolConfig { Service = c.Service, Destinations = c.Destinations }] : []);
        if (raw.Length == 0)
        {
            throw new GatewayConfigException(f + ".pools", "a cluster needs a service or destinations");
        }

        var pools = new List<PoolSettings>();
        for (var i = 0; i < raw.Length; i++)
        {
            var pool = raw[i] ?? new PoolConfig();
            var field = c.Pools is null ? f : $"{f}.pools[{i}]";
            if ((pool.Service is null) == (pool.Destinations is null))
            {
                throw new GatewayConfigException(field, "exactly one of service or destinations is required");
            }

            if (pool.Service is not null && !GatewayConfigLoader.IsName(pool.Service))
            {
                throw new GatewayConfigException(field + ".service", $"is not a valid service name (got '{pool.Service}')");
            }

            var destinations = new List<StaticDestination>();
            for (var j = 0; j < (pool.Destinations?.Length ?? 0); j++)
            {
                var d = pool.Destinations![j] ?? new DestinationConfig();
                var df = $"{field}.destinations[{j}]";
                if (!Uri.TryCreate(d.Url, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https") || url.AbsolutePath != "/")
                {
                    throw new GatewayConfigException(df + ".url", $"must be an http(s) URL with no path, like http://127.0.0.1:8080 (got '{d.Url}')");
                }

                destinations.Add(new StaticDestination(d.Name ?? url.Authority, url, GatewayConfigLoader.IntField(d.Weight, 100, df + ".weight", 1, 10_000)));
            }

            if (pool.Destinations is not null && destinations.Count == 0)
            {
                throw new GatewayConfigException(field + ".destinations", "must list at least one destination");
            }

            pools.Add(new PoolSettings(pool.Service, pool.Zone, destinations));
        }

        return pools;
    }
}
