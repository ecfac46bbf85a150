using Halo.Store;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Halo.Server.Security;

/// <summary>Follows security/tokens/ in the store, so a token created or revoked through any server applies on this one.</summary>
internal sealed partial class TokenFollower(IStore store, TokenService tokens, SecurityState state, TimeProvider time, ILogger<TokenFollower> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var from = state.LoadedRevision;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await foreach (var change in store.WatchAsync(TokenService.Prefix, from, stoppingToken).ConfigureAwait(false))
                {
                    tokens.Apply(change);
                    from = change.Item.ModRevision;
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (RevisionCompactedException)
            {
                from = await tokens.LoadAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                LogFollowFailed(ex);
                await Task.Delay(TimeSpan.FromSeconds(1), time, stoppingToken).ConfigureAwait(false);
            }
        }
    }

    [LoggerMessage(EventId = 1601, Level = LogLevel.Warning, Message = "Following tokens in the store failed; resuming")]
    private partial void LogFollowFailed(Exception ex);
}

/// <summary>What start-up loaded of the security state.</summary>
internal sealed class SecurityState
{
    public long LoadedRevision { get; set; }

    /// <summary>Where the bootstrap admin token is, when auth is on.</summary>
    public string? BootstrapTokenFile { get; set; }

    /// <summary>
    /// The bootstrap secret, which servers sharing one store share (one Secret): what a server presents to its peers
    /// when it forwards heartbeats (/v1/internal/*, admin). Null when auth is off.
    /// </summary>
    public string? PeerSecret { get; set; }
}
