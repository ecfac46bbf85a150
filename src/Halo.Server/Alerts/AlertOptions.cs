namespace Halo.Server.Alerts;

/// <summary>
/// Webhook alert delivery for people who run no Prometheus/Alertmanager. Off until a webhook is configured.
/// Field names in validation errors are the config keys (camelCase under "alerts").
/// </summary>
public sealed record AlertOptions
{
    /// <summary>Absolute http(s) URLs that receive Alertmanager-compatible (version 4) webhook payloads. Default none; at most 16.</summary>
    public IReadOnlyList<string> Webhooks { get; init; } = [];

    /// <summary>Value of the payload's "receiver" field. Default "halo".</summary>
    public string Receiver { get; init; } = "halo";

    /// <summary>Attempts per delivery, the first included. Default 5; range 1 – 20.</summary>
    public int MaxAttempts { get; init; } = 5;

    /// <summary>Wait before the first retry; doubled each retry up to <see cref="MaxBackoff"/>. Default 1 s; range 10 ms – 1 min.</summary>
    public TimeSpan InitialBackoff { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Longest wait between retries. Default 30 s; range InitialBackoff – 10 min.</summary>
    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Per-attempt timeout. Default 5 s; range 100 ms – 1 min.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// A notification whose alert already had the same status notified within this window is suppressed
    /// (a replayed event, a second detector pass). Default 5 min; range 0 – 24 h (0 disables).
    /// </summary>
    public TimeSpan DedupWindow { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Returns (field, message) for every invalid key; empty when valid.</summary>
    public IReadOnlyList<(string Field, string Message)> Validate()
    {
        var errors = new List<(string, string)>();
        if (Webhooks.Count > 16)
        {
            errors.Add(("alerts.webhooks", "at most 16 webhooks"));
        }

        for (var i = 0; i < Webhooks.Count; i++)
        {
            if (!Uri.TryCreate(Webhooks[i], UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || !string.IsNullOrEmpty(uri.UserInfo))
            {
                errors.Add(($"alerts.webhooks[{i}]", "must be an absolute http or https URL without credentials in it"));
            }
        }

        if (string.IsNullOrWhiteSpace(Receiver) || Receiver.Length > 128)
        {
            errors.Add(("alerts.receiver", "must be 1 to 128 characters"));
        }

        Range(errors, "alerts.maxAttempts", MaxAttempts is >= 1 and <= 20, "must be between 1 and 20");
        Range(errors, "alerts.initialBackoff", InitialBackoff >= TimeSpan.FromMilliseconds(10) && InitialBackoff <= TimeSpan.FromMinutes(1), "must be between 10ms and 1m");
        Range(errors, "alerts.maxBackoff", MaxBackoff >= InitialBackoff && MaxBackoff <= TimeSpan.FromMinutes(10), "must be between initialBackoff and 10m");
        Range(errors, "alerts.timeout", Timeout >= TimeSpan.FromMilliseconds(100) && Timeout <= TimeSpan.FromMinutes(1), "must be between 100ms and 1m");
        Range(errors, "alerts.dedupWindow", DedupWindow >= TimeSpan.Zero && DedupWindow <= TimeSpan.FromHours(24), "must be between 0s and 24h");
        return errors;
    }

    /// <summary>The wait before retry number <paramref name="retry"/> (1-based): exponential, capped.</summary>
    public TimeSpan BackoffBefore(int retry)
    {
        var factor = Math.Pow(2, Math.Min(retry - 1, 30));
        return TimeSpan.FromTicks((long)Math.Min(InitialBackoff.Ticks * factor, MaxBackoff.Ticks));
    }

    private static void Range(List<(string, string)> errors, string field, bool ok, string message)
    {
        if (!ok)
        {
            errors.Add((field, message));
        }
    }
}
