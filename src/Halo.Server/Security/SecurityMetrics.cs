using System.Diagnostics.Metrics;
using Halo.Server.Telemetry;

namespace Halo.Server.Security;

/// <summary>Security instruments on the server's meter: failed authentications and refusals, by reason.</summary>
public sealed class SecurityMetrics
{
    private readonly Counter<long> _authFailures;
    private readonly Counter<long> _refused;

    public SecurityMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(RegistryMetrics.MeterName);
        _authFailures = meter.CreateCounter<long>("halo.security.auth.failures", "{request}",
            "Requests refused for a missing, malformed or unknown token (reason), or because their source failed too often (rate_limited)");
        _refused = meter.CreateCounter<long>("halo.security.refused", "{request}",
            "Authenticated or anonymous requests refused: role, scope, cross-origin, host or media type (reason)");
    }

    public void AuthFailed(string reason) => _authFailures.Add(1, new KeyValuePair<string, object?>("reason", reason));

    public void Refused(string reason) => _refused.Add(1, new KeyValuePair<string, object?>("reason", reason));
}
