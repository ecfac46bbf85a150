using Halo.Core.Registry;
using Microsoft.Extensions.Hosting;

namespace Halo.Client;

/// <summary>
/// Keeps one instance registered: registers, heartbeats at its TTL period, re-registers when the server
/// forgot it (restart with a wiped store, removal), and deregisters on a clean stop.
/// </summary>
public sealed class HeartbeatLoop(HaloClient client, string service, string id, object registration, TimeSpan period, TimeProvider time)
    : BackgroundService
{
    public InstanceRecord? Registered { get; private set; }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var registered = false;
        using var timer = new PeriodicTimer(period, time);
        do
        {
            try
            {
                if (!registered)
                {
                    Registered = await client.RegisterAsync(service, id, registration, stoppingToken).ConfigureAwait(false);
                    registered = true;
                }
                else
                {
                    registered = await client.HeartbeatAsync(service, id, stoppingToken).ConfigureAwait(false);
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or HaloApiException or TaskCanceledException && !stoppingToken.IsCancellationRequested)
            {
                // The server is down or restarting: keep trying at the heartbeat period; it will know us again when back.
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await client.DeregisterAsync(service, id, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is HttpRequestException or HaloApiException or TaskCanceledException)
        {
        }
    }
}
