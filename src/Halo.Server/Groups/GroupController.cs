using Halo.Core;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Halo.Server.Groups;

/// <summary>
/// The failover controller's loop: on every change that may matter (reports wake it) and at least every
/// <see cref="GroupsOptions.ControllerTick"/> on the injected clock, it asks each group's actor to decide.
/// </summary>
internal sealed class GroupController(GroupRegistry registry, GroupsOptions options, ILogger<GroupController> logger) : BackgroundService
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
        foreach (var g in registry.All)
        {
            try
            {
                await g.DecideAsync(ct).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                GroupLog.TickFailed(logger, g.Name, ex);
            }
        }
    }
}
