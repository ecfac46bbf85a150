using Halo.Core.Balancing;
using Halo.Gateway.Configuration;
using Halo.Gateway.Telemetry;
using Microsoft.Extensions.Logging;

namespace Halo.Gateway.Routing;

/// <summary>
/// Long-lived state of one configured cluster: its policy, retry budget and destination runtimes,
/// and the current <see cref="ClusterSnapshot"/>. Membership comes from the routing-table builder;
/// eligibility is recomputed on every health event and on a short tick (ejections expire, slow start ramps).
/// </summary>
public sealed class ClusterRuntime
{
    private readonly TimeProvider _time;
    private readonly GatewayMetrics _metrics;
    private readonly ILogger _logger;
    private readonly object _refreshGate = new();
    private IReadOnlyList<IReadOnlyList<DestinationRuntime>> _members = [];
    private ClusterSnapshot _snapshot = ClusterSnapshot.Empty;
    private long _revision;

    /// <summary>Creates the runtime for <paramref name="settings"/>.</summary>
    public ClusterRuntime(ClusterSettings settings, TimeProvider time, GatewayMetrics metrics, ILogger logger)
    {
        Settings = settings;
        _time = time;
        _metrics = metrics;
        _logger = logger;
        Policy = CreatePolicy(settings);
        Budget = new RetryBudget(settings.Retry.BudgetRatio, settings.Retry.MinRetriesPerSecond, 10, time);
    }

    /// <summary>Validated settings.</summary>
    public ClusterSettings Settings { get; }

    /// <summary>Name.</summary>
    public string Name => Settings.Name;

    /// <summary>Balancing policy (one instance per cluster: some keep state).</summary>
    public IBalancingPolicy Policy { get; }

    /// <summary>Retry budget shared by all requests to this cluster.</summary>
    public RetryBudget Budget { get; }

    /// <summary>Current snapshot.</summary>
    public ClusterSnapshot Snapshot => Volatile.Read(ref _snapshot);

    /// <summary>All current members of all pools.</summary>
    public IEnumerable<DestinationRuntime> AllMembers => Volatile.Read(ref _members).SelectMany(p => p);

    /// <summary>Replaces pool membership (from a new routing table) and republishes.</summary>
    public void SetMembership(IReadOnlyList<IReadOnlyList<DestinationRuntime>> pools, long revision)
    {
        lock (_refreshGate)
        {
            _members = pools;
            _revision = revision;
        }

        Refresh();
    }

    /// <summary>Recomputes eligibility, pool shares, panic and slow-start factors; publishes a new snapshot.</summary>
    public void Refresh()
    {
        lock (_refreshGate)
        {
            var now = _time.GetTimestamp();
            var previous = _snapshot;
            var pools = new PoolSnapshot[_members.Count];
            int healthyTotal = 0, liveTotal = 0;
            for (var i = 0; i < pools.Length; i++)
            {
                var members = _members[i];
                int healthy = 0, live = 0;
                foreach (var m in members)
                {
                    var ok = m.IsHealthy;
                    if (ok && !m.WasHealthy)
                    {
                        m.HealthySince = now;
                    }

                    m.WasHealthy = ok;
                    healthy += ok ? 1 : 0;
                    live += m.Draining ? 0 : 1;
                    m.Balancing.WeightFactor = SlowStart.Factor(_time.GetElapsedTime(m.HealthySince, now), Settings.SlowStart);
                }

                healthyTotal += healthy;
                liveTotal += live;
                pools[i] = new PoolSnapshot(members, [], healthy, live);
            }

            // Panic (Envoy's healthy_panic_threshold): below the threshold, trust no health signal
            // rather than crush the few destinations still believed healthy.
            var panic = liveTotal > 0 && healthyTotal * 100 < Settings.PanicThresholdPercent * liveTotal;
            var fractions = new double[pools.Length];
            for (var i = 0; i < pools.Length; i++)
            {
                var members = pools[i].Members;
                var eligible = members.Where(m => !m.Draining && (panic || m.IsHealthy)).Select(m => m.Balancing).ToArray();
                // Reuse the previous array when membership is unchanged, so caches keyed on it (hash rings) stay warm.
                if (i < previous.Pools.Count && previous.Pools[i].Eligible.AsSpan().SequenceEqual(eligible))
                {
                    eligible = previous.Pools[i].Eligible;
                }

                pools[i] = pools[i] with { Eligible = eligible };
                fractions[i] = members.Count == 0 ? 0 : panic ? (double)pools[i].NotDraining / members.Count : (double)pools[i].Healthy / members.Count;
            }

            if (panic && !previous.Panic)
            {
                Log.Panic(_logger, Name, healthyTotal, liveTotal);
            }

            Volatile.Write(ref _snapshot, new ClusterSnapshot(pools, PoolLoad.Shares(fractions), panic, _revision));
        }
    }

    /// <summary>
    /// Chooses a destination for one attempt, avoiding those already tried. Picks a pool by the
    /// spill shares, then a destination by the policy; falls back to other pools, then to any
    /// non-draining member, before giving up.
    /// </summary>
    public DestinationRuntime? Pick(BalancingRequest request, List<DestinationRuntime>? tried)
    {
        var snap = Snapshot;
        if (snap.Pools.Count == 0)
        {
            return null;
        }

        var poolIndex = snap.Pools.Count == 1 ? 0 : PoolLoad.Choose(snap.Shares, request.Random.NextDouble());
        if (poolIndex > 0)
        {
            _metrics.Spilled(Name, poolIndex);
        }

        var pool = snap.Pools[poolIndex];
        if (tried is null || tried.Count == 0)
        {
            var d = Policy.Pick(pool.Eligible, request);
            if (d is not null)
            {
                return pool.Find(d);
            }
        }

        for (var pass = 0; pass < 2; pass++)
        {
            for (var k = 0; k < snap.Pools.Count; k++)
            {
                var p = snap.Pools[(poolIndex + k) % snap.Pools.Count];
                IReadOnlyList<BalancingDestination> candidates = pass == 0
                    ? p.Eligible.Where(b => !Tried(tried, b)).ToArray()
                    : p.Members.Where(m => !m.Draining && !Tried(tried, m.Balancing)).Select(m => m.Balancing).ToArray();
                var d = Policy.Pick(candidates, request);
                if (d is not null)
                {
                    return p.Find(d);
                }
            }
        }

        return null;
    }

    /// <summary>Feeds one attempt's outcome to latency, outlier detection and report counters.</summary>
    public void RecordOutcome(DestinationRuntime destination, TimeSpan elapsed, FailureKind failure)
    {
        destination.Balancing.Latency.Observe(elapsed, failure != FailureKind.None);
        destination.CountAttempt(failure);
        if (failure == FailureKind.None)
        {
            destination.Outlier.RecordSuccess();
            return;
        }

        var ejected = destination.Outlier.RecordFailure(() => MayEject(destination));
        if (ejected is { } length)
        {
            _metrics.Ejected(Name, destination.Name);
            Log.Ejected(_logger, Name, destination.Name, length);
            Refresh();
        }
    }

    private bool MayEject(DestinationRuntime destination)
    {
        foreach (var pool in Snapshot.Pools)
        {
            if (pool.Members.Contains(destination))
            {
                var ejected = pool.Members.Count(m => m.Outlier.IsEjected);
                return OutlierDetector.EjectionAllowed(ejected, pool.Members.Count, Settings.Outlier.MaxEjectionPercent);
            }
        }

        return false;
    }

    private static bool Tried(List<DestinationRuntime>? tried, BalancingDestination d) =>
        tried is not null && tried.Exists(t => ReferenceEquals(t.Balancing, d));

    private static IBalancingPolicy CreatePolicy(ClusterSettings s) => BalancingPolicies.Create(s.Policy, s.HashLoadFactor);
}
