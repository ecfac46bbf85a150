using System.Collections.Concurrent;
using System.Net.Sockets;
using Grpc.Core;
using Halo.Store.Etcd;
using Microsoft.Extensions.Time.Testing;

namespace Halo.Store.Tests;

/// <summary>
/// The retry decision for etcd requests (<see cref="EtcdRetryPolicy"/>) and the attempts inside one request's budget
/// (<see cref="EtcdAttempts"/>), on a fake clock with attempts the test answers by hand.
/// </summary>
public sealed class EtcdRetryTests
{
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan AttemptTimeout = TimeSpan.FromSeconds(2);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static TheoryData<string, string> Failures => new()
    {
        { "Unavailable|etcdserver: no leader", "NotApplied" },
        { "ResourceExhausted|etcdserver: too many requests", "NotApplied" },
        { "Unknown|raft proposal dropped", "NotApplied" },
        { "Unavailable|etcdserver: request timed out", "Ambiguous" },
        { "Unavailable|etcdserver: request timed out, possibly due to previous leader failure", "Ambiguous" },
        { "Unavailable|etcdserver: leader changed", "Ambiguous" },
        { "Unavailable|Error reading from stream", "Ambiguous" },
        { "DeadlineExceeded|", "Ambiguous" },
        { "Cancelled|", "Ambiguous" },
        { "Unknown|stream reset", "Ambiguous" },
        { "InvalidArgument|etcdserver: duplicate key given in txn request", "Final" },
        { "NotFound|etcdserver: requested lease not found", "Final" },
        { "ResourceExhausted|grpc: received message larger than max", "Final" },
        { "PermissionDenied|etcdserver: permission denied", "Final" },
        { "FailedPrecondition|etcdserver: not capable", "Final" },
    };

    [Theory]
    [MemberData(nameof(Failures))]
    public void Classify_EtcdAnswers_ByWhetherTheRequestCanHaveBeenApplied(string status, string expected)
    {
        var (code, detail) = (Enum.Parse<StatusCode>(status.Split('|')[0]), status.Split('|')[1]);

        Assert.Equal(Enum.Parse<EtcdFailure>(expected), EtcdRetryPolicy.Classify(new RpcException(new Status(code, detail))));
    }

    /// <summary>Failures below gRPC (the socket, the caller's token) or outside etcd altogether, by name.</summary>
    private static readonly Dictionary<string, Exception> Errors = new()
    {
        ["connection refused"] = Refused(),
        ["connection refused inside gRPC"] = new RpcException(new Status(StatusCode.Unavailable, "Error connecting to subchannel.", Refused())),
        ["connection reset"] = new HttpRequestException("reset", new SocketException((int)SocketError.ConnectionReset)),
        ["cancelled"] = new OperationCanceledException(),
        ["not an etcd error"] = new InvalidOperationException(),
    };

    [Theory]
    [InlineData("connection refused", "NotApplied")]
    [InlineData("connection refused inside gRPC", "NotApplied")]
    [InlineData("connection reset", "Ambiguous")]
    [InlineData("cancelled", "Ambiguous")]
    [InlineData("not an etcd error", "Final")]
    public void Classify_TransportAndOtherErrors_ByWhetherTheRequestCanHaveBeenApplied(string error, string expected) =>
        Assert.Equal(Enum.Parse<EtcdFailure>(expected), EtcdRetryPolicy.Classify(Errors[error]));

    [Theory]
    [InlineData("Safe", "NotApplied", true)]
    [InlineData("Safe", "Ambiguous", true)]
    [InlineData("Safe", "Final", false)]
    [InlineData("IfNotApplied", "NotApplied", true)]
    [InlineData("IfNotApplied", "Ambiguous", false)]
    [InlineData("IfNotApplied", "Final", false)]
    public void ShouldRepeat_OnlyWhatARepetitionCannotHarm(string repeat, string failure, bool expected) =>
        Assert.Equal(expected, EtcdRetryPolicy.ShouldRepeat(Enum.Parse<EtcdRepeat>(repeat), Enum.Parse<EtcdFailure>(failure)));

    [Fact]
    public void Backoff_DoublesFrom50MsUpTo400Ms() =>
        Assert.Equal([50, 100, 200, 400, 400], Enumerable.Range(1, 5).Select(n => EtcdRetryPolicy.Backoff(n).TotalMilliseconds));

    [Fact]
    public async Task RunAsync_SafeAndUnanswered_SentAgainAfterAttemptTimeout_FirstAnswerWins()
    {
        var (clock, attempts) = (new WakeClock(), new Attempts());
        var startedAt = clock.GetUtcNow();
        var run = new EtcdAttempts(clock, Budget, AttemptTimeout).RunAsync(attempts.Next, EtcdRepeat.Safe, Ct);
        await attempts.WaitForAsync(1);
        await clock.WaitForWakesAsync(1);

        clock.Advance(AttemptTimeout - TimeSpan.FromMilliseconds(1));

        // The runner asleep since the first attempt, until exactly the attempt timeout: nothing woke it, so no second attempt
        // was or will be sent before then (each attempt is sent from a wake-up, each wake-up ends asleep on a new timer).
        Assert.Equal(startedAt + AttemptTimeout, Assert.Single(clock.Wakes));
        Assert.Equal(1, attempts.Count);
        clock.Advance(TimeSpan.FromMilliseconds(1));
        await attempts.WaitForAsync(2);
        attempts[1].SetResult(2);

        Assert.Equal(2, await run.WaitAsync(TimeSpan.FromSeconds(10), Ct));
        Assert.True(attempts.Token(0).IsCancellationRequested, "the slow attempt is ended once another answered");
    }

    [Fact]
    public async Task RunAsync_SlowFirstAttemptAnswersBeforeTheSecond_ItsAnswerWins()
    {
        var (clock, attempts) = (new FakeTimeProvider(), new Attempts());
        var run = new EtcdAttempts(clock, Budget, AttemptTimeout).RunAsync(attempts.Next, EtcdRepeat.Safe, Ct);
        await attempts.WaitForAsync(1);
        clock.Advance(AttemptTimeout);
        await attempts.WaitForAsync(2);

        attempts[0].SetResult(1);

        Assert.Equal(1, await run.WaitAsync(TimeSpan.FromSeconds(10), Ct));
        Assert.True(attempts.Token(1).IsCancellationRequested);
    }

    [Fact]
    public async Task RunAsync_AThirdAttempt_ReplacesTheOldest_AtMostTwoInFlight()
    {
        var (clock, attempts) = (new FakeTimeProvider(), new Attempts());
        var run = new EtcdAttempts(clock, Budget, AttemptTimeout).RunAsync(attempts.Next, EtcdRepeat.Safe, Ct);
        await attempts.WaitForAsync(1);
        clock.Advance(AttemptTimeout);
        await attempts.WaitForAsync(2);
        clock.Advance(AttemptTimeout);
        await attempts.WaitForAsync(3);

        Assert.True(attempts.Token(0).IsCancellationRequested);
        Assert.False(attempts.Token(1).IsCancellationRequested);
        attempts[2].SetResult(3);
        Assert.Equal(3, await run.WaitAsync(TimeSpan.FromSeconds(10), Ct));
    }

    [Fact]
    public void Describe_GrpcStatusWithCause_CodeDetailAndInnermostCause()
    {
        var refused = new HttpRequestException("connect", new SocketException((int)SocketError.ConnectionRefused));

        Assert.Equal("Unavailable: Error connecting to subchannel. (Connection refused)",
            EtcdRetryPolicy.Describe(new RpcException(new Status(StatusCode.Unavailable, "Error connecting to subchannel.", refused))));
        Assert.Equal("Unavailable: etcdserver: no leader", EtcdRetryPolicy.Describe(new RpcException(new Status(StatusCode.Unavailable, "etcdserver: no leader"))));
        Assert.Equal("connect", EtcdRetryPolicy.Describe(refused));
    }

    [Fact]
    public async Task RunAsync_NoAnswerWithinTheBudget_StoreUnavailableNamingTheAttempts()
    {
        var (clock, attempts) = (new FakeTimeProvider(), new Attempts());
        var run = new EtcdAttempts(clock, Budget, AttemptTimeout).RunAsync(attempts.Next, EtcdRepeat.Safe, Ct);
        for (var n = 1; n <= 3; n++)
        {
            await attempts.WaitForAsync(n);
            clock.Advance(AttemptTimeout);
        }

        var error = await Assert.ThrowsAsync<StoreUnavailableException>(() => run.WaitAsync(TimeSpan.FromSeconds(10), Ct));
        Assert.Contains("within 5 s (3 attempts)", error.Message, StringComparison.Ordinal);
        Assert.All(Enumerable.Range(0, 3), i => Assert.True(attempts.Token(i).IsCancellationRequested));
    }

    [Fact]
    public async Task RunAsync_WriteWithoutProof_NeverSentBesideASlowAttempt()
    {
        var (clock, attempts) = (new WakeClock(), new Attempts());
        var startedAt = clock.GetUtcNow();
        var run = new EtcdAttempts(clock, Budget, AttemptTimeout).RunAsync(attempts.Next, EtcdRepeat.IfNotApplied, Ct);
        await attempts.WaitForAsync(1);
        await clock.WaitForWakesAsync(1);

        clock.Advance(Budget - TimeSpan.FromMilliseconds(1));

        // Asleep until the budget ends, not until an attempt timeout: the runner plans no second attempt at all.
        Assert.Equal(startedAt + Budget, Assert.Single(clock.Wakes));
        Assert.Equal(1, attempts.Count);
        attempts[0].SetResult(1);
        Assert.Equal(1, await run.WaitAsync(TimeSpan.FromSeconds(10), Ct));
    }

    /// <summary>
    /// One attempt answered with a failure: sent again after the first backoff when a repetition cannot harm (a refusal that
    /// proves nothing was applied; a lost answer to a request that is safe to repeat), otherwise that failure is the answer,
    /// at once and after one attempt (a lost answer to a write without proof; an answer etcd will give again).
    /// </summary>
    [Theory]
    [InlineData("Safe", "Unavailable|etcdserver: request timed out", true)]
    [InlineData("IfNotApplied", "Unavailable|etcdserver: no leader", true)]
    [InlineData("IfNotApplied", "Unavailable|etcdserver: request timed out, possibly due to previous leader failure", false)]
    [InlineData("Safe", "InvalidArgument|etcdserver: duplicate key given in txn request", false)]
    public async Task RunAsync_OneFailedAttempt_RepeatedAfterABackoffOnlyWhenHarmless(string repeat, string status, bool repeated)
    {
        var (clock, attempts) = (new FakeTimeProvider(), new Attempts());
        var run = new EtcdAttempts(clock, Budget, AttemptTimeout).RunAsync(attempts.Next, Enum.Parse<EtcdRepeat>(repeat), Ct);
        await attempts.WaitForAsync(1);
        var failedAt = clock.GetUtcNow();
        var failure = new Status(Enum.Parse<StatusCode>(status.Split('|')[0]), status.Split('|')[1]);

        attempts[0].SetException(new RpcException(failure));

        if (repeated)
        {
            await attempts.AdvanceUntilAsync(clock, 2);
            Assert.True(clock.GetUtcNow() - failedAt >= EtcdRetryPolicy.Backoff(1), "repeated only after the backoff");
            attempts[1].SetResult(2);
            Assert.Equal(2, await run.WaitAsync(TimeSpan.FromSeconds(10), Ct));
        }
        else
        {
            var error = await Assert.ThrowsAsync<RpcException>(() => run.WaitAsync(TimeSpan.FromSeconds(10), Ct));
            Assert.Equal((failure.StatusCode, failure.Detail), (error.Status.StatusCode, error.Status.Detail));
            Assert.Equal(1, attempts.Count);
        }
    }

    [Fact]
    public async Task RunAsync_SecondAttemptRefusedWhileTheFirstIsStuck_RepeatedAfterTheBackoffBesideTheFirst()
    {
        var (clock, attempts) = (new FakeTimeProvider(), new Attempts());
        var run = new EtcdAttempts(clock, Budget, AttemptTimeout).RunAsync(attempts.Next, EtcdRepeat.Safe, Ct);
        await attempts.WaitForAsync(1);
        clock.Advance(AttemptTimeout);
        await attempts.WaitForAsync(2);
        var refusedAt = clock.GetUtcNow();

        attempts[1].SetException(new RpcException(new Status(StatusCode.Unavailable, "etcdserver: no leader")));
        await attempts.AdvanceUntilAsync(clock, 3);

        Assert.True(clock.GetUtcNow() - refusedAt < AttemptTimeout / 2, $"repeated {clock.GetUtcNow() - refusedAt} after the refusal");
        Assert.False(attempts.Token(0).IsCancellationRequested, "the first attempt stays in flight beside the new one");
        attempts[2].SetResult(3);
        Assert.Equal(3, await run.WaitAsync(TimeSpan.FromSeconds(10), Ct));
    }

    [Fact]
    public async Task RunAsync_CallerCancels_OperationCanceledAndAttemptsEnded()
    {
        var (clock, attempts) = (new FakeTimeProvider(), new Attempts());
        using var caller = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var run = new EtcdAttempts(clock, Budget, AttemptTimeout).RunAsync(attempts.Next, EtcdRepeat.Safe, caller.Token);
        await attempts.WaitForAsync(1);

        await caller.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run.WaitAsync(TimeSpan.FromSeconds(10), Ct));
        Assert.True(attempts.Token(0).IsCancellationRequested);
    }

    [Fact]
    public void Validate_AttemptTimeoutOutOfRange_NamesTheField()
    {
        var tooShort = new EtcdStoreOptions { AttemptTimeout = TimeSpan.FromMilliseconds(10) };
        var longerThanBudget = new EtcdStoreOptions { RequestTimeout = TimeSpan.FromSeconds(1), AttemptTimeout = TimeSpan.FromSeconds(2) };

        Assert.Equal(nameof(EtcdStoreOptions.AttemptTimeout), Assert.Throws<ArgumentOutOfRangeException>(tooShort.Validate).ParamName);
        var error = Assert.Throws<ArgumentOutOfRangeException>(longerThanBudget.Validate);
        Assert.Equal(nameof(EtcdStoreOptions.AttemptTimeout), error.ParamName);
        Assert.Contains("RequestTimeout", error.Message, StringComparison.Ordinal);
        new EtcdStoreOptions().Validate();
        Assert.Equal((TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(2)), (new EtcdStoreOptions().RequestTimeout, new EtcdStoreOptions().AttemptTimeout));
    }

    private static HttpRequestException Refused() => new("connect", new SocketException((int)SocketError.ConnectionRefused));

    /// <summary>
    /// A fake clock that records when each timer armed on it is due. The runner arms one after every pass of its loop (after any
    /// attempt that pass sent) and sleeps on it: a timer armed is the positive signal that the runner has done all it will do
    /// until that time, unless an attempt answers first.
    /// </summary>
    private sealed class WakeClock : TimeProvider
    {
        private readonly FakeTimeProvider _clock = new();
        private readonly ConcurrentQueue<DateTimeOffset> _wakes = new();

        /// <summary>The due time of every timer armed so far, in order.</summary>
        public IReadOnlyCollection<DateTimeOffset> Wakes => _wakes;

        public override DateTimeOffset GetUtcNow() => _clock.GetUtcNow();

        public override long GetTimestamp() => _clock.GetTimestamp();

        public override long TimestampFrequency => _clock.TimestampFrequency;

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            var dueAt = _clock.GetUtcNow() + dueTime;
            var timer = _clock.CreateTimer(callback, state, dueTime, period);
            _wakes.Enqueue(dueAt);
            return timer;
        }

        public void Advance(TimeSpan by) => _clock.Advance(by);

        public Task WaitForWakesAsync(int count) =>
            TestWait.UntilAsync(() => Task.FromResult(_wakes.Count >= count), because: $"{count} timer(s) armed");
    }

    /// <summary>Attempts the test answers by hand, in the order the runner starts them.</summary>
    private sealed class Attempts
    {
        private readonly ConcurrentQueue<(TaskCompletionSource<int> Answer, CancellationToken Token)> _started = new();

        public int Count => _started.Count;

        public TaskCompletionSource<int> this[int index] => _started.ElementAt(index).Answer;

        public CancellationToken Token(int index) => _started.ElementAt(index).Token;

        public Task<int> Next(DateTime deadline, CancellationToken token)
        {
            var answer = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
            token.Register(() => answer.TrySetCanceled(token));
            _started.Enqueue((answer, token));
            return answer.Task;
        }

        /// <summary>Moves the clock on 10 ms at a time until attempt <paramref name="count"/> starts (the runner's pause is on that clock).</summary>
        public Task AdvanceUntilAsync(FakeTimeProvider clock, int count) =>
            TestWait.UntilAsync(async () =>
            {
                if (_started.Count >= count)
                {
                    return true;
                }

                clock.Advance(TimeSpan.FromMilliseconds(10));
                await Task.Delay(5);
                return _started.Count >= count;
            }, because: $"attempt {count} started");

        public Task WaitForAsync(int count) =>
            TestWait.UntilAsync(() => Task.FromResult(_started.Count >= count), because: $"attempt {count} started");
    }
}
