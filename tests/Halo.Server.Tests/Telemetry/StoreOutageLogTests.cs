using Halo.Server.Security;
using Halo.Server.Telemetry;
using Halo.Store;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;

namespace Halo.Server.Tests.Telemetry;

/// <summary>
/// A store outage is told in two lines per reader (unreachable, with the store and the reason; reachable again, with how
/// long it was gone), whatever the number of failed calls in between: issue 9 found a stack trace per request and per second.
/// </summary>
public sealed class StoreOutageLogTests
{
    private const string Store = "etcd http://127.0.0.1:2379";

    [Fact]
    public void FailedManyTimes_ThenAnswered_LogsOneWarningAndOneRecovery()
    {
        var time = new FakeTimeProvider();
        var logger = new FakeLogger();
        var outage = new StoreOutageLog(Store, logger, time);

        outage.Answered(); // no outage yet: nothing to say
        for (var i = 0; i < 30; i++)
        {
            outage.Failed(new StoreUnavailableException($"etcd did not answer within 5 s ({i + 1} attempts)"));
            time.Advance(TimeSpan.FromSeconds(1));
        }

        Assert.True(outage.IsOut);
        var down = Assert.Single(logger.Collector.GetSnapshot());
        Assert.Equal(LogLevel.Warning, down.Level);
        Assert.Equal(5103, down.Id.Id);
        Assert.Null(down.Exception);
        Assert.Equal($"Store unreachable: {Store}: etcd did not answer within 5 s (1 attempts) (further failures are not logged until it answers)", down.Message);

        outage.Answered();
        outage.Answered();

        Assert.False(outage.IsOut);
        var records = logger.Collector.GetSnapshot();
        Assert.Equal(2, records.Count);
        Assert.Equal(5104, records[1].Id.Id);
        Assert.Equal($"Store reachable again after 30.0 s: {Store} (30 failed calls meanwhile)", records[1].Message);
    }

    [Fact]
    public void SecondOutage_IsToldAgain()
    {
        var time = new FakeTimeProvider();
        var logger = new FakeLogger();
        var outage = new StoreOutageLog(Store, logger, time);

        outage.Failed(new StoreUnavailableException("first"));
        outage.Answered();
        outage.Failed(new StoreUnavailableException("second"));

        Assert.Equal([5103, 5104, 5103], logger.Collector.GetSnapshot().Select(r => r.Id.Id));
        Assert.Contains("second", logger.Collector.LatestRecord.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Failed_LongMultiLineReason_IsOneLineCut()
    {
        var logger = new FakeLogger();
        var outage = new StoreOutageLog(Store, logger, new FakeTimeProvider());

        outage.Failed(new StoreUnavailableException("line one\nline two " + new string('x', 1000)));

        var message = logger.Collector.LatestRecord.Message;
        Assert.DoesNotContain('\n', message);
        Assert.Contains("line one line two", message, StringComparison.Ordinal);
        Assert.True(message.Length < 500, message);
    }

    [Fact]
    public async Task TokenFollower_StoreDownForTenRetries_LogsOnceDownAndOnceBack()
    {
        var time = new FakeTimeProvider();
        var dir = Directory.CreateTempSubdirectory("halo-outage-").FullName;
        var store = new ScriptedStore(await EmbeddedStore.OpenAsync(dir, new EmbeddedStoreOptions(), time));
        await using var _ = store;
        var collector = new FakeLogCollector();
        using var loggers = LoggerFactory.Create(b => b.AddProvider(new FakeLoggerProvider(collector)));
        var options = new ServerOptions { Store = Halo.Core.Configuration.StoreKind.Etcd, EtcdEndpoints = "http://127.0.0.1:2379" };
        using var follower = new TokenFollower(store, new TokenService(store, time), new SecurityState(), options, time, loggers.CreateLogger<TokenFollower>());

        store.Unreachable = true;
        await follower.StartAsync(CancellationToken.None);
        await AdvanceUntilAsync(time, () => store.Unanswered >= 10, "ten failed calls");

        var down = Assert.Single(collector.GetSnapshot());
        Assert.Equal(5103, down.Id.Id);
        Assert.StartsWith("Store unreachable: etcd http://127.0.0.1:2379: etcd did not answer within 5 s", down.Message, StringComparison.Ordinal);

        store.Unreachable = false;
        await AdvanceUntilAsync(time, () => collector.Count >= 2, "the recovery line");
        await follower.StopAsync(CancellationToken.None);

        var records = collector.GetSnapshot();
        Assert.Equal([5103, 5104], records.Select(r => r.Id.Id));
        Assert.Matches(@"^Store reachable again after \d+\.\d s: etcd http://127.0.0.1:2379 \(\d+ failed calls meanwhile\)$", records[1].Message);
        Assert.All(records, r => Assert.Null(r.Exception));
        Directory.Delete(dir, recursive: true);
    }

    // The follower runs on the thread pool: the fake clock moves one retry pause at a time until it has done what is awaited
    // (bounded in real time, never slept on as synchronisation).
    private static async Task AdvanceUntilAsync(FakeTimeProvider time, Func<bool> condition, string what)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"waited 10 s for {what}");
            time.Advance(TokenFollower.RetryAfter);
            await Task.Delay(TimeSpan.FromMilliseconds(5), TimeProvider.System, CancellationToken.None);
        }
    }
}
