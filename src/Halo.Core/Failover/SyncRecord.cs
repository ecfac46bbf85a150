namespace Halo.Core.Failover;

/// <summary>
/// The members that may hold a commit acknowledged in <paramref name="Epoch"/> (store key groups/{name}/sync, Patroni's /sync):
/// every commit waited for <paramref name="Count"/> of the standbys the primary named, and the record is always a superset of
/// those names — it grows before the primary's setting does and shrinks only after the primary has applied the smaller one.
/// Empty members: commits are acknowledged by the primary alone (asynchronous, or preferred mode degraded).
/// </summary>
public sealed record SyncRecord(long Epoch, IReadOnlyList<string> Members, int Count)
{
    /// <summary>The synchronous_standby_names value that waits for <paramref name="count"/> of <paramref name="members"/>: ANY n ("a", "b").</summary>
    public static string Format(IEnumerable<string> members, int count)
    {
        ArgumentNullException.ThrowIfNull(members);
        var names = members.Order(StringComparer.Ordinal).ToList();
        return names.Count == 0 ? "" : $"ANY {Math.Min(count, names.Count)} ({string.Join(", ", names.Select(n => $"\"{n}\""))})";
    }
}
