using CsCheck;
using Halo.Core.Failover;

namespace Halo.Core.Tests.Failover;

/// <summary>
/// Several controllers race to change the leader over one compare-and-set register. A generated schedule decides which
/// pending store operation runs next, so each sample is one interleaving; no interleaving may give one epoch two primaries.
/// </summary>
public sealed class LeaderElectionInterleavingTests
{
    private static readonly DateTimeOffset Now = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public void TryTakeOver_ConcurrentControllersAnyInterleaving_NeverTwoPrimariesInOneEpoch()
    {
        var gen = Gen.Select(Gen.Int[2, 5], Gen.Int[1, 4], Gen.Int[0, 1000].Array[20, 200]);
        gen.Sample((controllers, rounds, schedule) =>
        {
            var register = new ScheduledRegister();
            var runs = Enumerable.Range(0, controllers).Select(c => RunController(register, c, rounds, schedule)).ToList();
            register.Drain(schedule);
            Assert.All(runs, r => Assert.True(r.IsCompletedSuccessfully));

            // Every successful write is the next epoch after the one it replaced, so epochs are unique and gapless.
            var epochs = register.History.Select(r => r.Epoch).ToList();
            Assert.Equal(Enumerable.Range(1, epochs.Count).Select(i => (long)i), epochs);
            Assert.Equal(epochs.Count, register.History.Select(r => r.Epoch).Distinct().Count());
            Assert.True(register.History.Count >= 1);
        }, iter: 2000);
    }

    private static async Task RunController(ScheduledRegister register, int id, int rounds, int[] choices)
    {
        for (var round = 0; round < rounds; round++)
        {
            var observed = await register.ReadAsync();
            // Each controller has its own, possibly stale, idea of the best candidate.
            var member = "m" + choices[(id * 7 + round) % choices.Length] % 3;
            await LeaderElection.TryTakeOverAsync(register, observed, member, id * 100 + round, Now, "test");
        }
    }

    /// <summary>An in-memory compare-and-set register whose operations wait until the schedule runs them.</summary>
    private sealed class ScheduledRegister : ILeaderRecordStore
    {
        private readonly List<Action> _pending = [];
        private LeaderRecord? _record;
        private long _revision;

        public List<LeaderRecord> History { get; } = [];

        public Task<VersionedLeader> ReadAsync(CancellationToken cancellationToken = default) =>
            Enqueue(() => new VersionedLeader(_record, _revision));

        public Task<bool> TryReplaceAsync(long expectedRevision, LeaderRecord next, CancellationToken cancellationToken = default) =>
            Enqueue(() =>
            {
                if (expectedRevision != _revision)
                {
                    return false;
                }

                _record = next;
                _revision++;
                History.Add(next);
                return true;
            });

        private Task<T> Enqueue<T>(Func<T> operation)
        {
            // Continuations run inline when the schedule completes the operation, so every controller is parked on its next one.
            var done = new TaskCompletionSource<T>();
            _pending.Add(() => done.SetResult(operation()));
            return done.Task;
        }

        public void Drain(int[] schedule)
        {
            for (var step = 0; _pending.Count > 0; step++)
            {
                var index = schedule[step % schedule.Length] % _pending.Count;
                var next = _pending[index];
                _pending.RemoveAt(index);
                next();
            }
        }
    }
}
