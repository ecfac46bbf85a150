using Halo.Server.Telemetry;
using Halo.Store;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Halo.Server.Security;

/// <summary>Follows security/tokens/ in the store, so a token created or revoked through any server applies on this one.</summary>
internal sealed partial class TokenFollower(
    IStore store, TokenService tokens, SecurityState state, ServerOptions options, TimeProvider time, ILogger<TokenFollower> logger)
    : BackgroundService
{
    /// <summary>The pause before following again after the store failed the watch: 1 s.</summary>
    public static readonly TimeSpan RetryAfter = TimeSpan.FromSeconds(1);

    // While the store is down the watch fails every second; the outage is told in two lines, not a stack trace each time.
    private readonly StoreOutageLog _outage = new(StoreOutageLog.Describe(options), logger, time);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var from = state.LoadedRevision;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await _outage.ConfirmAnsweringAsync(store, stoppingToken).ConfigureAwait(false);

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
            catch (StoreUnavailableException ex)
            {
                _outage.Failed(ex);
                await Task.Delay(RetryAfter, time, stoppingToken).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                LogFollowFailed(ex);
                await Task.Delay(RetryAfter, time, stoppingToken).ConfigureAwait(false);
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
