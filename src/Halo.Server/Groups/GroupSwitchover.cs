using Halo.Core.Failover;
using Microsoft.Extensions.Logging;

namespace Halo.Server.Groups;

/// <summary>
/// A planned change of primary that loses no acknowledged write: hold writes on the primary, wait until the candidate's
/// replication offset reaches the primary's final one, then move leadership. If the candidate does not catch up in time,
/// the primary is released and nothing changes.
/// </summary>
internal sealed class GroupSwitchover(GroupRegistry registry, GroupsOptions options, GroupMetrics metrics, ILogger<GroupSwitchover> logger)
{
    public sealed record Outcome(bool Succeeded, string? Field, string Message);

    public async Task<Outcome> RunAsync(GroupRuntime g, string to, CancellationToken ct)
    {
        var time = registry.Time;
        var started = time.GetUtcNow();
        VersionedLeader observed;
        lock (g.Gate)
        {
            if (!g.Members.TryGetValue(to, out var candidate))
            {
                return new Outcome(false, "to", $"unknown member '{to}'");
            }

            if (g.Leader is not { } leader || !g.Confirmed)
            {
                return new Outcome(false, null, "the group has no confirmed primary to switch from");
            }

            if (leader.Member == to)
            {
                return new Outcome(false, "to", $"'{to}' is already the primary");
            }

            if (g.Pending is not null)
            {
                return new Outcome(false, null, $"another operation is running: {g.Pending}");
            }

            var reference = g.Members.Values.Max(m => m.Report?.Offset ?? 0);
            if (CandidateSelector.Reason(candidate.State(), g.Policy, leader.Member, reference, started) is { } reason)
            {
                return new Outcome(false, "to", $"'{to}' cannot be promoted: {reason}");
            }

            observed = new VersionedLeader(leader, g.LeaderRevision);
            g.Pending = $"switchover to {to}";
            g.FenceLeader = true;
            g.Bump();
        }

        GroupLog.Switchover(logger, g.Name, to, "started: holding writes on the primary");
        try
        {
            using var timeout = new CancellationTokenSource(options.SwitchoverTimeout, time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, timeout.Token);
            try
            {
                await WaitCaughtUpAsync(g, observed.Record!, to, linked.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (timeout.IsCancellationRequested && !ct.IsCancellationRequested)
            {
                GroupLog.Switchover(logger, g.Name, to, "aborted: candidate did not catch up");
                return new Outcome(false, "to", $"'{to}' did not catch up within {Core.Durations.Format(options.SwitchoverTimeout)}; the primary was released and nothing changed");
            }

            var taken = await GroupController.TakeOverAsync(registry, metrics, logger, g, observed, to, "switchover", started, ct).ConfigureAwait(false);
            GroupLog.Switchover(logger, g.Name, to, taken ? "done" : "lost to a concurrent change");
            return taken ? new Outcome(true, null, "done") : new Outcome(false, null, "the leader changed during the switchover; nothing was done");
        }
        finally
        {
            lock (g.Gate)
            {
                g.Pending = null;
                g.FenceLeader = false;
                g.Bump();
            }
        }
    }

    /// <summary>Waits for the primary to report itself fenced, then for the candidate to reach the primary's final offset.</summary>
    private async Task WaitCaughtUpAsync(GroupRuntime g, LeaderRecord leader, string to, CancellationToken ct)
    {
        while (true)
        {
            lock (g.Gate)
            {
                var primary = g.Members[leader.Member].Report;
                var candidate = g.Members[to].Report;
                if (primary is { Fenced: true, DbUp: true } && primary.Epoch == leader.Epoch && candidate is { DbUp: true } && candidate.Offset >= primary.Offset)
                {
                    return;
                }
            }

            await Task.Delay(TimeSpan.FromMilliseconds(10), registry.Time, ct).ConfigureAwait(false);
        }
    }
}
