using System.Net.Security;

namespace Halo.Store;

/// <summary>Where and how <see cref="EtcdStore"/> talks to etcd (v3 API, tested against 3.4).</summary>
public sealed class EtcdStoreOptions
{
    /// <summary>
    /// Comma-separated endpoints, e.g. "http://10.0.0.1:2379,http://10.0.0.2:2379": every member of the cluster, so the
    /// client balances over them and keeps working while one is down. Default the local etcd. Checked by <see cref="ParseEndpoints"/>.
    /// </summary>
    public string Endpoints { get; set; } = "http://127.0.0.1:2379";

    /// <summary>
    /// The budget of each unary call (not of watches), every attempt included: the call answers or fails with
    /// <see cref="StoreUnavailableException"/> within it. Default 5 s; 100 ms to 5 min.
    /// </summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long an attempt of a call that is safe to repeat (reads; transactions with a <see cref="TxnOp.Unique"/> put) goes
    /// unanswered before the call is sent again beside it, to the next member; the first answer wins, at most two attempts are
    /// in flight, all inside <see cref="RequestTimeout"/>. What hides an etcd leader's death: etcd answers a write it lost with
    /// the leader only when its own 7 s timeout ends. Default 2 s (a new leader within about 1–2 s of etcd's 1 s election
    /// timeout, with room for answers slowed by load); 50 ms to <see cref="RequestTimeout"/>.
    /// </summary>
    public TimeSpan AttemptTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>etcd user for etcd's own authentication (with <see cref="Password"/>). Default none: etcd without auth.</summary>
    public string? Username { get; set; }

    /// <summary>Password of <see cref="Username"/>. Default none.</summary>
    public string? Password { get; set; }

    /// <summary>
    /// TLS settings for https:// endpoints (trusted CA, client certificate for mTLS). Default none: http:// endpoints only;
    /// https:// endpoints are refused without it, so a cleartext fallback never happens by accident.
    /// </summary>
    public Action<SslClientAuthenticationOptions>? ConfigureTls { get; set; }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid option.</summary>
    public void Validate()
    {
        IReadOnlyList<Uri> endpoints;
        try
        {
            endpoints = ParseEndpoints(Endpoints);
        }
        catch (FormatException ex)
        {
            throw new ArgumentException(ex.Message, nameof(Endpoints), ex);
        }

        if (endpoints.Any(e => e.Scheme == Uri.UriSchemeHttps) != (ConfigureTls is not null))
        {
            throw new ArgumentException(ConfigureTls is null
                ? "https:// etcd endpoints need TLS settings (ConfigureTls)"
                : "TLS settings were given but the etcd endpoints are http://", nameof(Endpoints));
        }

        if (endpoints.Select(e => e.Scheme).Distinct().Count() > 1)
        {
            throw new ArgumentException("etcd endpoints must all be http:// or all https://", nameof(Endpoints));
        }

        if (string.IsNullOrEmpty(Username) != string.IsNullOrEmpty(Password))
        {
            throw new ArgumentException("etcd username and password go together", nameof(Username));
        }

        if (ConfigureTls is not null && !string.IsNullOrEmpty(Username))
        {
            throw new ArgumentException("TLS together with etcd user authentication is not supported yet; use client certificates for identity", nameof(Username));
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(RequestTimeout, TimeSpan.FromMilliseconds(100), nameof(RequestTimeout));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(RequestTimeout, TimeSpan.FromMinutes(5), nameof(RequestTimeout));
        ArgumentOutOfRangeException.ThrowIfLessThan(AttemptTimeout, TimeSpan.FromMilliseconds(50), nameof(AttemptTimeout));
        if (AttemptTimeout > RequestTimeout)
        {
            throw new ArgumentOutOfRangeException(nameof(AttemptTimeout), AttemptTimeout,
                $"AttemptTimeout ({AttemptTimeout.TotalSeconds:0.###} s) must not be longer than RequestTimeout ({RequestTimeout.TotalSeconds:0.###} s), the budget it divides");
        }
    }

    /// <summary>
    /// Parses a comma-separated endpoint list: each entry an absolute http:// or https:// URL with a host and an explicit
    /// port and nothing else (no path, query or credentials), no duplicates. The message of the
    /// <see cref="FormatException"/> names the offending entry, for a command-line or config error.
    /// </summary>
    public static IReadOnlyList<Uri> ParseEndpoints(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            throw new FormatException("no etcd endpoint given (example: http://127.0.0.1:2379)");
        }

        var result = new List<Uri>();
        foreach (var raw in text.Split(','))
        {
            var entry = raw.Trim();
            if (!Uri.TryCreate(entry, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps) ||
                string.IsNullOrEmpty(uri.Host) || uri.IsDefaultPort && !HasExplicitPort(entry) || uri.AbsolutePath != "/" ||
                uri.Query.Length > 0 || uri.Fragment.Length > 0 || uri.UserInfo.Length > 0)
            {
                throw new FormatException($"'{entry}' is not an etcd endpoint http(s)://host:port (example: http://127.0.0.1:2379)");
            }

            var normalized = new Uri($"{uri.Scheme}://{uri.Authority}");
            if (result.Contains(normalized))
            {
                throw new FormatException($"'{entry}' is listed twice");
            }

            result.Add(normalized);
        }

        return result;
    }

    /// <summary>The endpoints as one display string, "http://a:2379, http://b:2379", for messages.</summary>
    public string Describe() => string.Join(", ", ParseEndpoints(Endpoints).Select(e => e.GetLeftPart(UriPartial.Authority)));

    private static bool HasExplicitPort(string entry)
    {
        var authority = entry[(entry.IndexOf("://", StringComparison.Ordinal) + 3)..].TrimEnd('/');
        var colon = authority.LastIndexOf(':');
        return colon > authority.LastIndexOf(']') && colon < authority.Length - 1;
    }
}
