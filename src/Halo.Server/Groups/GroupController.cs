using Halo.Core;
using Halo.Server.Cluster;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Halo.Server.Groups;

/// <summary>
/// The failover controller's loop: on every change that may matter (reports wake it) and at least every
/// <see cref="GroupsOptions.ControllerTick"/> on the injected clock, it asks each group this server decides to decide. With
/// several servers a group is decided by its owner on the membership (rendezvous hashing, as services are judged); the loop
/// takes over groups that became this server's and lets go of those that went to another.
/// </summary>
internal sealed class GroupController(GroupRegistry registry, ServerMembership membership, GroupsOptions options, ILogger<GroupController> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await registry.EnsureLoadedAsync().ConfigureAwait(false);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await registry.Signal.WaitAsync(options.ControllerTick, registry.Time, stoppingToken).ConfigureAwait(false);
                while (registry.Signal.CurrentCount > 0)
                {
                    await registry.Signal.WaitAsync(stoppingToken).ConfigureAwait(false);
                }

                await TickAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
        }
    }

    /// <summary>One decision pass over every group; tests call it directly on a fake clock.</summary>
    public async Task TickAsync(CancellationToken ct)
    {
        var view = membership.Current;
        foreach (var g in registry.All)
        {
            try
            {
                if (!view.Owns(g.Name))
                {
                    if (g.Owned)
                    {
                        await g.ReleaseAsync(ct).ConfigureAwait(false);
                        GroupLog.Released(logger, g.Name);
                    }

                    continue;
                }

                await registry.AcquireAsync(g, ct).ConfigureAwait(false);
                await g.DecideAsync(ct).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                GroupLog.TickFailed(logger, g.Name, ex);
            }
        }
    }
}
