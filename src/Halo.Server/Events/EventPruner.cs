using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Halo.Server.Events;

/// <summary>Keeps the stored event history within its retention, every 30 s.</summary>
internal sealed partial class EventPruner(EventLog events, TimeProvider time, ILogger<EventPruner> logger) : BackgroundService
{
    private static readonly TimeSpan PruneEvery = TimeSpan.FromSeconds(30);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(PruneEvery, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                try
                {
                    await events.PruneAsync(stoppingToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
                {
                    LogPruneFailed(ex.Message);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    [LoggerMessage(EventId = 1102, Level = LogLevel.Warning, Message = "Pruning the event history failed: {Reason}")]
    private partial void LogPruneFailed(string reason);
}
