using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.Time.Testing;

namespace Halo.Client.Tests;

/// <summary>
/// Hedged calls (<see cref="HaloHttp.HedgeAfter"/>) on a fake clock: a primary's renewal goes on to the next server when the one
/// it is waiting for is silent, at once when it fails, and the first answer wins.
/// </summary>
public sealed class HedgedCallTests
{
    private static readonly Uri[] Urls = [new("http://127.0.0.1:1/"), new("http://127.0.0.1:2/"), new("http://127.0.0.1:3/")];
    private static readonly TimeSpan Hedge = TimeSpan.FromMilliseconds(200);

    [Fact]
    public async Task HedgedCall_FirstServerSilent_NextAskedOnlyAfterTheHedgeAndItsAnswerWins()
    {
        var time = new FakeTimeProvider();
        var servers = new FakeServers();
        using var http = Client(servers, time);

        var call = Send(http, Hedge);
        await servers.UntilCalledAsync(1);
        time.Advance(Hedge - TimeSpan.FromMilliseconds(1));
        await Task.Yield();
        Assert.Equal([1], servers.Calls);

        time.Advance(TimeSpan.FromMilliseconds(1));
        await servers.UntilCalledAsync(2);
        servers.Answer(2, HttpStatusCode.OK);
        using var response = await call.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal([1, 2], servers.Calls);
        await servers.UntilCancelledAsync(1);
        Assert.Equal(Urls[1], servers.Handler!.CurrentServer);
    }

    [Fact]
    public async Task HedgedCall_FirstAnswersWithinTheHedge_NoOtherServerAsked()
    {
        var time = new FakeTimeProvider();
        var servers = new FakeServers();
        servers.Answer(1, HttpStatusCode.OK);
        using var http = Client(servers, time);

        using var response = await Send(http, Hedge).WaitAsync(TimeSpan.FromSeconds(10));
        time.Advance(TimeSpan.FromSeconds(1));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal([1], servers.Calls);
        Assert.Equal(Urls[0], servers.Handler!.CurrentServer);
    }

    [Fact]
    public async Task HedgedCall_FirstRefusesTheConnection_NextAskedWithoutWaitingForTheHedge()
    {
        var time = new FakeTimeProvider();
        var servers = new FakeServers();
        servers.Refuse(1);
        servers.Answer(2, HttpStatusCode.OK);
        using var http = Client(servers, time);

        using var response = await Send(http, Hedge).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal([1, 2], servers.Calls);
    }

    [Fact]
    public async Task HedgedCall_ZeroHedge_EveryServerAskedAtOnceFirstAnswerWins()
    {
        var time = new FakeTimeProvider();
        var servers = new FakeServers();
        using var http = Client(servers, time);

        var call = Send(http, TimeSpan.Zero);
        await servers.UntilCalledAsync(3);
        servers.Answer(3, HttpStatusCode.OK);
        using var response = await call.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal([1, 2, 3], servers.Calls.Order());
        Assert.Equal(Urls[2], servers.Handler!.CurrentServer);
    }

    [Fact]
    public async Task HedgedCall_EveryServerAnswers5xx_LastAnswerReturned()
    {
        var time = new FakeTimeProvider();
        var servers = new FakeServers();
        for (var i = 1; i <= 3; i++)
        {
            servers.Answer(i, HttpStatusCode.ServiceUnavailable);
        }

        using var http = Client(servers, time);

        using var response = await Send(http, Hedge).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal([1, 2, 3], servers.Calls);
    }

    [Fact]
    public async Task HedgedCall_EverySilent_CallerTokenEndsIt()
    {
        var time = new FakeTimeProvider();
        var servers = new FakeServers();
        using var http = Client(servers, time);
        using var cts = new CancellationTokenSource();

        var call = Send(http, Hedge, cts.Token);
        await servers.UntilCalledAsync(1);
        time.Advance(Hedge);
        await servers.UntilCalledAsync(2);
        time.Advance(Hedge);
        await servers.UntilCalledAsync(3);
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    private static HttpClient Client(FakeServers servers, FakeTimeProvider time)
    {
        servers.Handler = new ServerFailoverHandler(new HaloClientOptions { Servers = Urls }, time) { InnerHandler = servers };
        return new HttpClient(servers.Handler) { BaseAddress = Urls[0] };
    }

    private static Task<HttpResponseMessage> Send(HttpClient http, TimeSpan hedge, CancellationToken ct = default)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri("v1/groups/g/members/m/report", UriKind.Relative)) { Content = new StringContent("{}") };
        request.Options.Set(HaloHttp.Idempotent, true);
        request.Options.Set(HaloHttp.HedgeAfter, hedge);
        return http.SendAsync(request, ct);
    }

    /// <summary>Three servers by port: each call waits for the answer set for its port (or fails at once when refused).</summary>
    private sealed class FakeServers : HttpMessageHandler
    {
        private readonly ConcurrentDictionary<int, TaskCompletionSource<HttpStatusCode?>> _answers = new();
        private readonly ConcurrentDictionary<int, bool> _cancelled = new();
        private readonly ConcurrentQueue<int> _calls = new();

        public List<int> Calls => [.. _calls];

        public void Answer(int port, HttpStatusCode status) => Slot(port).TrySetResult(status);

        public void Refuse(int port) => Slot(port).TrySetResult(null);

        public ServerFailoverHandler? Handler { get; set; }

        public Task UntilCalledAsync(int count) => UntilAsync(() => _calls.Count >= count, $"{count} calls");

        /// <summary>Waits until the attempt on <paramref name="port"/> was cancelled (a loser, once another server answered).</summary>
        public Task UntilCancelledAsync(int port) => UntilAsync(() => _cancelled.ContainsKey(port), $"the attempt on {port} cancelled");

        private static async Task UntilAsync(Func<bool> condition, string what)
        {
            var started = Stopwatch.GetTimestamp();
            while (!condition())
            {
                Assert.True(Stopwatch.GetElapsedTime(started) < TimeSpan.FromSeconds(10), $"expected {what} within 10 s");
                await Task.Yield();
            }
        }

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var port = request.RequestUri!.Port;
            Assert.Equal("{}", await request.Content!.ReadAsStringAsync(cancellationToken));
            _calls.Enqueue(port);
            try
            {
                var status = await Slot(port).Task.WaitAsync(cancellationToken);
                return status is { } s ? new HttpResponseMessage(s) : throw new HttpRequestException(HttpRequestError.ConnectionError, "connection refused");
            }
            catch (OperationCanceledException)
            {
                _cancelled[port] = true;
                throw;
            }
        }

        private TaskCompletionSource<HttpStatusCode?> Slot(int port) => _answers.GetOrAdd(port, _ => new(TaskCreationOptions.RunContinuationsAsynchronously));
    }
}
