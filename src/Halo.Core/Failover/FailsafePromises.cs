namespace Halo.Core.Failover;

/// <summary>
/// The timing of the failsafe (docs/ha.md, "The data path outlives the control plane"). A replica's agent promises the
/// primary of an epoch, on the primary's direct request, that for <see cref="PromiseTtl"/> from the moment it decided to answer
/// it will not be promoted, re-pointed or answer a position round. The primary counts a promise from the moment it SENT the
/// request, for <see cref="FencingTiming.RenewDeadline"/> of the promise TTL: the same margin as a lease (clock-rate drift plus
/// the fencing command), so the primary has stopped accepting writes before any promise it relied on can end.
/// </summary>
public static class FailsafeTiming
{
    /// <summary>How long one promise binds the replica that gave it: one lease TTL.</summary>
    public static TimeSpan PromiseTtl(TimeSpan leaseTtl) => leaseTtl;

    /// <summary>How long the primary may rely on a promise after sending the request it answered.</summary>
    public static TimeSpan RelyFor(TimeSpan leaseTtl) => FencingTiming.RenewDeadline(PromiseTtl(leaseTtl));

    /// <summary>The primary starts asking for promises once its renewal is this late (a third of the renew deadline).</summary>
    public static TimeSpan AskAfter(TimeSpan leaseTtl) => FencingTiming.RenewDeadline(leaseTtl) / 3;
}

/// <summary>
/// A replica's side of the failsafe: until when it is bound by a promise. A new hold starts bound for one promise TTL, because an
/// agent that restarted forgot the promises it gave.
/// </summary>
public sealed class FailsafeHold
{
    private readonly TimeProvider _time;
    private readonly object _gate = new();
    private long _until;

    public FailsafeHold(TimeProvider time, TimeSpan leaseTtl)
    {
        ArgumentNullException.ThrowIfNull(time);
        _time = time;
        _until = time.GetTimestamp() + Ticks(FailsafeTiming.PromiseTtl(leaseTtl));
    }

    /// <summary>Binds the replica for one promise TTL from now. Called before the promise is answered, never after.</summary>
    public void Promise(TimeSpan leaseTtl)
    {
        var until = _time.GetTimestamp() + Ticks(FailsafeTiming.PromiseTtl(leaseTtl));
        lock (_gate)
        {
            _until = Math.Max(_until, until);
        }
    }

    /// <summary>True while a promise (or the start-up hold) binds the replica: no promotion, no re-pointing, no position answers.</summary>
    public bool Holding
    {
        get
        {
            lock (_gate)
            {
                return _time.GetTimestamp() < _until;
            }
        }
    }

    private long Ticks(TimeSpan span) => (long)(span.TotalSeconds * _time.TimestampFrequency);
}

/// <summary>
/// A primary's side of the failsafe: the promises it holds in its epoch, each counted from when its request was sent. It may
/// keep accepting writes past its renew deadline only while every member it must ask holds an unexpired promise.
/// </summary>
public sealed class FailsafeLedger(TimeProvider time)
{
    private readonly object _gate = new();
    private readonly Dictionary<string, long> _sent = new(StringComparer.Ordinal);
    private long _epoch;

    /// <summary>Records that <paramref name="member"/> promised for <paramref name="epoch"/> in answer to a request sent at <paramref name="sentTimestamp"/>.</summary>
    public void Record(string member, long epoch, long sentTimestamp)
    {
        ArgumentNullException.ThrowIfNull(member);
        lock (_gate)
        {
            if (epoch != _epoch)
            {
                _sent.Clear();
                _epoch = epoch;
            }

            _sent[member] = Math.Max(_sent.GetValueOrDefault(member), sentTimestamp);
        }
    }

    /// <summary>True when every member of <paramref name="required"/> holds a promise for <paramref name="epoch"/> that is still good.</summary>
    public bool Covers(IReadOnlyCollection<string> required, long epoch, TimeSpan leaseTtl)
    {
        ArgumentNullException.ThrowIfNull(required);
        lock (_gate)
        {
            var rely = FailsafeTiming.RelyFor(leaseTtl);
            return epoch == _epoch && epoch > 0 && required.All(m => _sent.TryGetValue(m, out var sent) && time.GetElapsedTime(sent) < rely);
        }
    }

    /// <summary>How old each promise of <paramref name="epoch"/> is, for a log line that says why the failsafe ended.</summary>
    public string Describe(IReadOnlyCollection<string> required, long epoch)
    {
        ArgumentNullException.ThrowIfNull(required);
        lock (_gate)
        {
            return string.Join(", ", required.Order(StringComparer.Ordinal).Select(m =>
                epoch == _epoch && _sent.TryGetValue(m, out var sent) ? $"{m} asked {time.GetElapsedTime(sent).TotalSeconds:0.00} s ago" : $"{m} never promised"));
        }
    }

    /// <summary>Forgets every promise: the primary fenced, and the failsafe never resumes without a renewal.</summary>
    public void Clear()
    {
        lock (_gate)
        {
            _sent.Clear();
        }
    }
}

/// <summary>
/// The members a primary of <paramref name="Epoch"/> said it asks for promises (store key groups/{name}/failsafe, written by the
/// decider from the primary's reports, only ever grown within an epoch). After that primary's lease lapses, only these members
/// can be promoted from its epoch: a member it never asked never promised, so it must not take over while the old primary may
/// still be writing on the others' promises (Patroni keeps its /failsafe key for the same reason).
/// </summary>
public sealed record FailsafeRecord(long Epoch, IReadOnlyList<string> Members)
{
    /// <summary>This record grown by <paramref name="reported"/> for <paramref name="epoch"/>, or null when it already holds them all.</summary>
    public static FailsafeRecord? Grow(FailsafeRecord? stored, long epoch, IReadOnlyList<string> reported)
    {
        ArgumentNullException.ThrowIfNull(reported);
        var have = stored is not null && stored.Epoch == epoch ? stored.Members : [];
        if (stored is not null && stored.Epoch == epoch && reported.All(have.Contains))
        {
            return null;
        }

        return new FailsafeRecord(epoch, have.Union(reported, StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList());
    }
}

/// <summary>A primary's request to one member's agent (POST /v1/failsafe/promise): "promise you follow me in this epoch".</summary>
public sealed record FailsafePromiseRequest(string? Group, string? Member, string? Primary, long Epoch);

/// <summary>The answer: granted (binding the member for <paramref name="Ttl"/> from before it answered) or refused, with why.</summary>
public sealed record FailsafePromiseAnswer(bool Granted, string Reason, TimeSpan Ttl);
