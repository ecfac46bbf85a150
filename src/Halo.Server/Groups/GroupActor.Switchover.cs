using Halo.Core;
using Halo.Core.Failover;

namespace Halo.Server.Groups;

/// <summary>
/// A planned change of primary that loses no acknowledged write: hold writes on the primary, wait until the candidate's
/// replication offset reaches the primary's final one, then move leadership. If the candidate does not catch up in time,
/// the primary is released and nothing changes. Each step is a turn; between them the group keeps taking reports.
/// </summary>
internal sealed partial class GroupActor
{
    public sealed record SwitchoverOutcome(bool Succeeded, string? Field, string Message);

    public async Task<SwitchoverOutcome> SwitchoverAsync(string to, CancellationToken ct)
    {
        var started = Now;
        var (refused, observed) = await TurnAsync(s => Task.FromResult(BeginSwitchover(s, to, started)), ct).ConfigureAwait(false);
        if (refused is not null)
        {
            return refused;
        }

        GroupLog.Switchover(_ctx.Logger, Name, to, "started: holding writes on the primary");
        try
        {
            using var deadline = new Deadline(_ctx.Options.SwitchoverTimeout, _ctx.Time, ct);
            try
            {
                await WaitCaughtUpAsync(observed!.Record!, to, deadline.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (deadline.Expired && !ct.IsCancellationRequested)
            {
                GroupLog.Switchover(_ctx.Logger, Name, to, "aborted: candidate did not catch up");
                return new SwitchoverOutcome(false, "to", $"'{to}' did not catch up within {Durations.Format(_ctx.Options.SwitchoverTimeout)}; the primary was released and nothing changed");
            }

            var taken = await TurnAsync(s => s.LeaderRevision == observed.Revision
                ? TakeOverAsync(s, observed, to, "switchover", started, null, [], ct)
                : Task.FromResult(false), ct).ConfigureAwait(false);
            GroupLog.Switchover(_ctx.Logger, Name, to, taken ? "done" : "lost to a concurrent change");
            return taken ? new SwitchoverOutcome(true, null, "done") : new SwitchoverOutcome(false, null, "the leader changed during the switchover; nothing was done");
        }
        finally
        {
            await TurnAsync(s =>
            {
                Publish(s with { Pending = null, FenceLeader = false });
                return Task.FromResult(0);
            }, CancellationToken.None).ConfigureAwait(false);
        }
    }

    private (SwitchoverOutcome? Refused, VersionedLeader? Observed) BeginSwitchover(GroupState s, string to, DateTimeOffset now)
    {
        if (!s.Members.TryGetValue(to, out var candidate))
        {
            return (new SwitchoverOutcome(false, "to", $"unknown member '{to}'"), null);
        }

        if (s.Leader is not { } leader || !s.Confirmed)
        {
            return (new SwitchoverOutcome(false, null, "the group has no confirmed primary to switch from"), null);
        }

        if (leader.Member == to)
        {
            return (new SwitchoverOutcome(false, "to", $"'{to}' is already the primary"), null);
        }

        if (s.Pending is not null)
        {
            return (new SwitchoverOutcome(false, null, $"another operation is running: {s.Pending}"), null);
        }

        var reference = s.Members.Values.Max(m => m.Report?.Offset ?? 0);
        if (CandidateSelector.Reason(candidate.State(), s.Policy, leader.Member, reference, now) is { } reason)
        {
            return (new SwitchoverOutcome(false, "to", $"'{to}' cannot be promoted: {reason}"), null);
        }

        Publish(s with { Pending = $"switchover to {to}", FenceLeader = true });
        return (null, new VersionedLeader(leader, s.LeaderRevision));
    }

    /// <summary>Waits for the primary to report itself fenced, then for the candidate to reach the primary's final offset.</summary>
    private async Task WaitCaughtUpAsync(LeaderRecord leader, string to, CancellationToken ct)
    {
        while (true)
        {
            var s = State;
            var primary = s.Members.TryGetValue(leader.Member, out var p) ? p.Report : null;
            var candidate = s.Members.TryGetValue(to, out var c) ? c.Report : null;
            if (primary is { Fenced: true, DbUp: true } && primary.Epoch == leader.Epoch && candidate is { DbUp: true } && candidate.Offset >= primary.Offset)
            {
                return;
            }

            // Offsets change without a visible version bump, so look every 10 ms (on the injected clock).
            await Task.Delay(TimeSpan.FromMilliseconds(10), _ctx.Time, ct).ConfigureAwait(false);
        }
    }
}
