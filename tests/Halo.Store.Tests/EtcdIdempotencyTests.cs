using System.Text;
using Halo.Store.Etcd;

namespace Halo.Store.Tests;

/// <summary>
/// The idempotency check against a real etcd. A retry after a lost answer sends exactly the request the first attempt sent,
/// so sending a request a second time here is what a retry does after etcd applied the first and the answer was lost
/// with the leader: a transaction carrying a unique put answers as the first attempt did and is applied once; a genuine
/// conflict stays a conflict.
/// </summary>
public sealed class EtcdIdempotencyTests(EtcdFixture etcd) : IClassFixture<EtcdFixture>, IAsyncLifetime
{
    private readonly string _p = $"idem/{Guid.NewGuid():N}/";
    private IStore _store = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public ValueTask InitializeAsync()
    {
        _store = etcd.CreateStore();
        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync() => _store.DisposeAsync();

    [Fact]
    public async Task TxnAsync_MarkedCasSentAgainAfterItApplied_AnswersAsTheFirstAndAppliesOnce()
    {
        var request = Registration("i-1", expected: 0, "v1", "event-1");

        var first = await _store.TxnAsync(request, Ct);
        var again = await _store.TxnAsync(request, Ct);

        Assert.True(first.Succeeded);
        Assert.Equal((true, first.Revision), (again.Succeeded, again.Revision));
        Assert.Empty(again.Gets);
        var stored = (await _store.GetAsync(_p + "i-1", Ct)).Item!;
        Assert.Equal((1L, first.Revision, "v1"), (stored.Version, stored.ModRevision, S(stored.Value)));
        Assert.Equal(1L, (await _store.GetAsync(_p + "events/event-1", Ct)).Item!.Version);
    }

    [Fact]
    public async Task TxnAsync_MarkedCasAppliedThenOverwritten_RetryStillReportsTheFirstAndChangesNothing()
    {
        var request = Registration("i-1", expected: 0, "v1", "event-1");
        var first = await _store.TxnAsync(request, Ct);
        var other = await _store.TxnAsync(Registration("i-1", expected: first.Revision, "v2", "event-2"), Ct);

        var again = await _store.TxnAsync(request, Ct);

        Assert.True(other.Succeeded);
        Assert.Equal((true, first.Revision), (again.Succeeded, again.Revision));
        var stored = (await _store.GetAsync(_p + "i-1", Ct)).Item!;
        Assert.Equal((other.Revision, "v2"), (stored.ModRevision, S(stored.Value)));
    }

    [Fact]
    public async Task TxnAsync_MarkedCasLosingToAnotherWriter_IsAConflictWithTheCallersReadsOnly()
    {
        var other = await _store.TxnAsync(Registration("i-1", expected: 0, "theirs", "event-theirs"), Ct);

        var mine = await _store.TxnAsync(Registration("i-1", expected: 0, "mine", "event-mine"), Ct);

        Assert.False(mine.Succeeded);
        var current = Assert.Single(mine.Gets);
        Assert.Equal(("theirs", other.Revision), (S(current!.Value), current.ModRevision));
        Assert.Null((await _store.GetAsync(_p + "events/event-mine", Ct)).Item);
    }

    [Fact]
    public async Task TxnAsync_UnmarkedCasSentAgain_IsAConflict_WhatTheMarkerPrevents()
    {
        var request = new TxnRequest([Compare.Missing(_p + "i-1")], [TxnOp.Put(_p + "i-1", B("v1")), TxnOp.Put(_p + "events/e", B("e"))], [TxnOp.Get(_p + "i-1")]);

        Assert.True((await _store.TxnAsync(request, Ct)).Succeeded);
        Assert.False((await _store.TxnAsync(request, Ct)).Succeeded);
    }

    [Fact]
    public async Task TxnAsync_UnconditionalMarkedAppendSentAgain_AppliedOnce()
    {
        var request = new TxnRequest([], [TxnOp.PutUnique(_p + "events/audit-1", B("audit"))], []);

        var first = await _store.TxnAsync(request, Ct);
        var again = await _store.TxnAsync(request, Ct);

        Assert.Equal((true, true, first.Revision), (first.Succeeded, again.Succeeded, again.Revision));
        Assert.Equal(1L, (await _store.GetAsync(_p + "events/audit-1", Ct)).Item!.Version);
    }

    [Fact]
    public async Task TxnAsync_MarkerKeyHoldingAnotherValue_IsNotTakenAsApplied()
    {
        await _store.PutAsync(_p + "events/event-1", B("someone else's"), cancellationToken: Ct);

        var result = await _store.TxnAsync(Registration("i-1", expected: 0, "v1", "event-1"), Ct);

        Assert.False(result.Succeeded);
        Assert.Equal([null], result.Gets);
        Assert.Null((await _store.GetAsync(_p + "i-1", Ct)).Item);
    }

    [Fact]
    public void MarkerOf_OnlyTransactionsARepetitionCannotChange()
    {
        var unique = TxnOp.PutUnique(_p + "e", B("e"));
        var put = TxnOp.Put(_p + "k", B("v"));

        Assert.Same(unique, EtcdIdempotency.MarkerOf(new TxnRequest([], [put, unique], [TxnOp.Get(_p + "k")])));
        Assert.Null(EtcdIdempotency.MarkerOf(new TxnRequest([], [put], [])));
        Assert.Null(EtcdIdempotency.MarkerOf(new TxnRequest([], [unique, TxnOp.Get(_p + "k")], [])));
        Assert.Null(EtcdIdempotency.MarkerOf(new TxnRequest([], [unique], [put])));
        Assert.Null(EtcdIdempotency.MarkerOf(new TxnRequest([], [unique with { LeaseId = 7 }], [])));
        Assert.Equal(EtcdRepeat.Safe, EtcdIdempotency.Repeat(new TxnRequest([], [TxnOp.Get(_p + "k")], []), null));
        Assert.Equal(EtcdRepeat.IfNotApplied, EtcdIdempotency.Repeat(new TxnRequest([], [put], []), null));
    }

    /// <summary>The shape of a registry write: a compare-and-set of the instance's key with its event, as InstanceRegistry sends it.</summary>
    private TxnRequest Registration(string id, long expected, string value, string eventId) => new(
        [Compare.ModRevisionIs(_p + id, expected)],
        [TxnOp.Put(_p + id, B(value)), TxnOp.PutUnique(_p + "events/" + eventId, B($"{eventId}: {value}"))],
        [TxnOp.Get(_p + id)]);

    private static byte[] B(string text) => Encoding.UTF8.GetBytes(text);

    private static string S(ReadOnlyMemory<byte> bytes) => Encoding.UTF8.GetString(bytes.Span);
}
