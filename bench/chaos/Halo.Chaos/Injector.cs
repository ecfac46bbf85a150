using System.Diagnostics;
using System.Globalization;
using Halo.Core.Failover;
using Halo.Core.Availability;

namespace Halo.Chaos;

/// <summary>Carries out one <see cref="FaultPlan"/> and undoes it (resume, heal, restart) before returning.</summary>
public static class Faults
{
    /// <summary>Injects and undoes the fault; returns the fault as the model sees it, with what was measured on the way (a restarted server's start time).</summary>
    public static async Task<FaultShape> InjectAsync(FaultPlan plan, Cluster cluster, GroupStatus before, TimeProvider time, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(cluster);
        ArgumentNullException.ThrowIfNull(before);
        var primary = cluster.ByName(before.Primary) ?? throw new InvalidOperationException("no primary to inject a fault on");
        var replicas = cluster.Members.Where(m => m != primary).ToList();
        var target = plan.OnPrimary ? primary : replicas[(int)(plan.Duration.Ticks % replicas.Count)];
        var shape = plan.Shape;
        switch (plan.Kind)
        {
            case FaultKind.KillPrimary:
                Signal(await PidAsync(cluster, primary, ct).ConfigureAwait(false), Child.SigKill);
                break;
            case FaultKind.PausePrimary:
                var pid = await PidAsync(cluster, primary, ct).ConfigureAwait(false);
                Signal(pid, Child.SigStop);
                try
                {
                    await Task.Delay(plan.Duration, time, ct).ConfigureAwait(false);
                }
                finally
                {
                    // The primary's agent may have killed it meanwhile: a paused primary cannot run its fence command within
                    // the fence budget, so its watchdog kills it at the renew deadline (and the agent restarts it as a replica).
                    Child.TrySignal(pid, Child.SigCont);
                }

                break;
            case FaultKind.KillAgent:
                await target.Agent!.Kill9Async().ConfigureAwait(false);
                await Task.Delay(plan.Duration, time, ct).ConfigureAwait(false);
                await target.Agent.DisposeAsync().ConfigureAwait(false);
                cluster.StartAgent(target);
                break;
            case FaultKind.RestartServer:
                await cluster.KillServerAsync().ConfigureAwait(false);
                await Task.Delay(plan.Duration, time, ct).ConfigureAwait(false);
                shape = shape with { ServerStart = await cluster.RestartServerAsync(ct).ConfigureAwait(false) };
                break;
            case FaultKind.CpuStarvation:
                await StressAsync(plan.Duration, ct).ConfigureAwait(false);
                break;
            case FaultKind.KillPrimaryStarved:
                var stress = StressAsync(plan.Duration, ct);
                await Task.Delay(TimeSpan.FromSeconds(1), time, ct).ConfigureAwait(false);
                Signal(await PidAsync(cluster, primary, ct).ConfigureAwait(false), Child.SigKill);
                await stress.ConfigureAwait(false);
                break;
            case FaultKind.CutAgentServer or FaultKind.CutProxyDatabase:
                var link = plan.Kind == FaultKind.CutAgentServer ? target.ToServer! : target.ToDatabase!;
                link.Set(plan.Cut);
                try
                {
                    await Task.Delay(plan.Duration, time, ct).ConfigureAwait(false);
                }
                finally
                {
                    link.Set(Cut.None);
                }

                break;
        }

        return shape;
    }

    private static async Task<int> PidAsync(Cluster cluster, Cluster.Member m, CancellationToken ct) =>
        await cluster.RedisPidAsync(m, ct).ConfigureAwait(false) ?? throw new InvalidOperationException($"{m.Name}'s redis-server does not answer");

    private static void Signal(int pid, int signal) => Child.Signal(pid, signal);

    /// <summary>stress-ng --cpu 4 for <paramref name="duration"/> (CPU starvation on this 2-core machine), waited for.</summary>
    private static async Task StressAsync(TimeSpan duration, CancellationToken ct)
    {
        var info = new ProcessStartInfo("stress-ng") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "--cpu", "4", "--timeout", $"{Math.Max(1, (int)Math.Round(duration.TotalSeconds)).ToString(CultureInfo.InvariantCulture)}s", "--quiet" })
        {
            info.ArgumentList.Add(a);
        }

        using var p = Process.Start(info) ?? throw new InvalidOperationException("cannot start stress-ng (apt-get install stress-ng)");
        try
        {
            await p.WaitForExitAsync(ct).ConfigureAwait(false);
        }
        finally
        {
            if (!p.HasExited)
            {
                p.Kill(entireProcessTree: true);
            }
        }
    }
}

/// <summary>The epochs the store recorded: followed live from the status (each failover's decision time) and read back from the events.</summary>
public sealed class EpochLog
{
    private readonly Dictionary<long, EpochRecord> _seen = [];

    public void Observe(GroupStatus s)
    {
        ArgumentNullException.ThrowIfNull(s);
        lock (_seen)
        {
            if (s.Primary is { } p && !_seen.ContainsKey(s.Epoch))
            {
                var decided = s.LastFailover is { } f && f.Epoch == s.Epoch ? f.DecidedAt : DateTimeOffset.MinValue;
                _seen[s.Epoch] = new EpochRecord(s.Epoch, p, decided);
            }
        }
    }

    /// <summary>Long-polls the status, recording every epoch it sees, until cancelled.</summary>
    public async Task FollowAsync(Halo.Client.GroupClient client, CancellationToken ct)
    {
        long version = 0;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var s = await client.GetAsync(Cluster.Group, version, TimeSpan.FromSeconds(5), ct).ConfigureAwait(false);
                version = s.Version;
                Observe(s);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is HttpRequestException or Halo.Client.HaloApiException or OperationCanceledException)
            {
                version = 0; // the server restarted, or another one answers: its versions are its own
                try
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(100), TimeProvider.System, ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    /// <summary>Every epoch, with the decision times of the elected/failover/switchover events where the live view missed them.</summary>
    public Task<IReadOnlyList<EpochRecord>> AllAsync(Halo.Client.GroupClient client, CancellationToken ct)
    {
        lock (_seen)
        {
            return Task.FromResult<IReadOnlyList<EpochRecord>>(_seen.Values.OrderBy(e => e.Epoch).ToList());
        }
    }
}
