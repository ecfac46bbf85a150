using Halo.Store;
using Microsoft.Extensions.Logging;

namespace Halo.Server.Telemetry;

/// <summary>
/// Tells a store outage as one reader of the store sees it (a background loop, the API's requests, in the reader's own log
/// category): one warning when the store stops answering, naming the store and the reason, and one line when it answers
/// again, with how long it was gone and how many failures were not logged. An outage costs two lines per reader, not a stack
/// trace per request or per retry.
/// </summary>
/// <remarks>Thread-safe: the API's requests report from many threads at once; the first failure alone is logged.</remarks>
internal sealed partial class StoreOutageLog(string store, ILogger logger, TimeProvider time)
{
    /// <summary>Reasons are cut to this many characters: a gRPC status with its debug exception can run to several hundred.</summary>
    private const int MaxReason = 300;

    private readonly Lock _gate = new();
    private long _since;
    private int _failures;

    /// <summary>True from a failure until the next answer.</summary>
    public bool IsOut
    {
        get
        {
            lock (_gate)
            {
                return _failures > 0;
            }
        }
    }

    /// <summary>A read or write of the store failed because the store is unavailable; logs only the first of an outage.</summary>
    public void Failed(Exception error)
    {
        ArgumentNullException.ThrowIfNull(error);
        lock (_gate)
        {
            if (_failures++ > 0)
            {
                return;
            }

            _since = time.GetTimestamp();
        }

        LogUnreachable(store, OneLine(error.Message));
    }

    /// <summary>The store answered; logs once when it ends an outage.</summary>
    public void Answered()
    {
        int failures;
        TimeSpan gone;
        lock (_gate)
        {
            if (_failures == 0)
            {
                return;
            }

            failures = _failures;
            gone = time.GetElapsedTime(_since);
            _failures = 0;
        }

        LogReachable(gone.TotalSeconds, store, failures);
    }

    /// <summary>
    /// For a loop about to watch the store again: during an outage, asks the store for its revision (a new watch says nothing
    /// until something changes, so it cannot tell that the store is back) and logs the end of the outage; nothing otherwise.
    /// </summary>
    public async Task ConfirmAnsweringAsync(IStore store, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(store);
        if (IsOut)
        {
            await store.GetRevisionAsync(cancellationToken).ConfigureAwait(false);
            Answered();
        }
    }

    /// <summary>The store as an operator names it: "etcd http://10.0.0.1:2379,http://10.0.0.2:2379" or "embedded store".</summary>
    public static string Describe(ServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.Store == Halo.Core.Configuration.StoreKind.Etcd ? $"etcd {options.EtcdEndpoints}" : "embedded store";
    }

    private static string OneLine(string message)
    {
        var line = message.ReplaceLineEndings(" ");
        return line.Length > MaxReason ? line[..MaxReason] + "…" : line;
    }

    [LoggerMessage(EventId = 5103, Level = LogLevel.Warning, Message = "Store unreachable: {Store}: {Reason} (further failures are not logged until it answers)")]
    private partial void LogUnreachable(string store, string reason);

    [LoggerMessage(EventId = 5104, Level = LogLevel.Information, Message = "Store reachable again after {Seconds:0.0} s: {Store} ({Failures} failed calls meanwhile)")]
    private partial void LogReachable(double seconds, string store, int failures);
}
