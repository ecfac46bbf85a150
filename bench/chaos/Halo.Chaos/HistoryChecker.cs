namespace Halo.Chaos;

/// <summary>
/// Judges a write history against what the final primary holds and the epochs the store recorded:
/// <list type="bullet">
/// <item><b>lost</b>: acknowledged (OK and WAIT ≥ 1), absent from the final data;</item>
/// <item><b>unexpected</b>: refused (an error reply, or never sent), yet present;</item>
/// <item><b>split brain</b>: a write acknowledged by the primary of an older epoch that was <i>sent after</i> the primary of a newer
/// epoch had acknowledged one (so two members took writes as primary at once), or a write acknowledged by a member that was
/// not primary of any epoch by then.</item>
/// </list>
/// Overlapping intervals alone are not counted: the TCP proxy holds a new connection until a primary is confirmed, so a write can
/// be sent before a failover and answered after it, while a slow answer of the old primary is still on its way. "Sent after the
/// other was answered" is the order the client itself observed, which no honest system can produce.
/// </summary>
public static class HistoryChecker
{
    public static CheckResult Check(IReadOnlyList<WriteRecord> writes, IReadOnlyList<EpochRecord> epochs, IReadOnlySet<long> present)
    {
        ArgumentNullException.ThrowIfNull(writes);
        ArgumentNullException.ThrowIfNull(epochs);
        ArgumentNullException.ThrowIfNull(present);
        var lost = writes.Where(w => w.Outcome == WriteOutcome.Acked && !present.Contains(w.Id))
            .Select(w => new Defect("lost", $"write {w.Id} acknowledged by {w.Member} at {w.End:HH:mm:ss.fff} is missing")).ToList();
        var unexpected = writes.Where(w => w.Outcome == WriteOutcome.Failed && present.Contains(w.Id))
            .Select(w => new Defect("unexpected", $"write {w.Id} refused at {w.End:HH:mm:ss.fff} ({w.Detail}) is present")).ToList();
        return new CheckResult(lost, unexpected, SplitBrains(writes, epochs));
    }

    private static List<Defect> SplitBrains(IReadOnlyList<WriteRecord> writes, IReadOnlyList<EpochRecord> epochs)
    {
        var ordered = epochs.OrderBy(e => e.Epoch).ToList();
        var defects = new List<Defect>();
        var acked = writes.Where(w => w.Outcome == WriteOutcome.Acked).ToList();
        var epochOf = new Dictionary<long, EpochRecord>();
        foreach (var w in acked)
        {
            // The member's latest reign decided before the write was answered.
            var reign = ordered.LastOrDefault(e => e.Member == w.Member && e.DecidedAt <= w.End);
            if (reign is null)
            {
                defects.Add(new Defect("split-brain", $"write {w.Id} acknowledged by {w.Member ?? "an unknown member"} at {w.End:HH:mm:ss.fff}, which was not primary of any epoch by then"));
            }
            else
            {
                epochOf[w.Id] = reign;
            }
        }

        // The first acknowledgement each epoch's primary gave (end time), then for every epoch the earliest such moment of any newer
        // epoch whose primary is another member.
        var firstAck = acked.Where(w => epochOf.ContainsKey(w.Id)).GroupBy(w => epochOf[w.Id].Epoch)
            .ToDictionary(g => g.Key, g => g.MinBy(w => w.End)!);
        foreach (var w in acked.Where(w => epochOf.ContainsKey(w.Id)))
        {
            var mine = epochOf[w.Id];
            var newer = firstAck.Where(f => f.Key > mine.Epoch && f.Value.Member != w.Member && f.Value.End <= w.Start).OrderBy(f => f.Value.End).ToList();
            if (newer.Count > 0)
            {
                var (epoch, other) = (newer[0].Key, newer[0].Value);
                defects.Add(new Defect("split-brain",
                    $"write {w.Id} sent {w.Start:HH:mm:ss.fff} was acknowledged by {w.Member} (epoch {mine.Epoch}) after write {other.Id} had been " +
                    $"acknowledged by {other.Member} (epoch {epoch}) at {other.End:HH:mm:ss.fff}"));
            }
        }

        return defects;
    }
}
