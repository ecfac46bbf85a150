using System.Collections.Concurrent;

namespace Halo.Server.Alerts;

/// <summary>
/// Suppresses a notification when the same alert (fingerprint) was last notified with the same status within
/// the window: a replayed event or a repeated verdict must not page twice, while firing → resolved → firing
/// (a real second failure) always gets through.
/// </summary>
public sealed class AlertDeduplicator(TimeSpan window, TimeProvider time)
{
    private readonly ConcurrentDictionary<string, (string Status, DateTimeOffset At)> _last = new(StringComparer.Ordinal);

    /// <summary>True when <paramref name="alert"/> should be sent; records it as sent.</summary>
    public bool ShouldSend(Alert alert)
    {
        ArgumentNullException.ThrowIfNull(alert);
        var now = time.GetUtcNow();
        var key = alert.Fingerprint;
        if (window > TimeSpan.Zero && _last.TryGetValue(key, out var last) && last.Status == alert.Status && now - last.At < window)
        {
            return false;
        }

        _last[key] = (alert.Status, now);
        Trim(now);
        return true;
    }

    /// <summary>Forgets entries older than the window so the table stays as small as the set of recent alerts.</summary>
    private void Trim(DateTimeOffset now)
    {
        if (_last.Count < 1024)
        {
            return;
        }

        foreach (var (key, value) in _last)
        {
            if (now - value.At >= window)
            {
                _last.TryRemove(key, out _);
            }
        }
    }
}
