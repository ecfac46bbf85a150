using Halo.Core;
using Halo.Agent.Drivers;
using Halo.Client;
using Halo.Core.Failover;
using Microsoft.Extensions.Logging;

namespace Halo.Agent;

/// <summary>
/// The sidecar of one group member. Every interval it probes the database, reports to the server and applies the answer:
/// promote when it is primary of the current epoch with a freshly renewed lease, follow the primary otherwise, fence when
/// it cannot renew. A long poll on the group status wakes it the moment leadership changes; a watchdog fences a primary
/// whose renewals stopped, at the deadline <see cref="FencingTiming"/> documents, whatever the main loop is doing.
/// </summary>
public sealed partial class GroupAgent(AgentOptions options, IDatabaseDriver driver, GroupClient client, TimeProvider time, ILogger logger, IManagedDatabase? managed = null)
{
    private readonly SemaphoreSlim _wake = new(0);
    private readonly SemaphoreSlim _dbGate = new(1, 1);
    private readonly object _leaseGate = new();
    private long _renewSent;
    private long _renewEpoch;
    private long _knownEpoch;
    private long _drillDone;
    private long _isolatedUntil;
    private bool _again;
    private bool _writable;
    private bool _serverDown;
    private long _lostInEpoch = -1;
    private long _round;
    private long _answeredRound;
    private long? _slowSince;
    // The database stopped answering probes in time (not refused): down for the reports, but not known to have restarted.
    private bool _downBySlowness;
    private int? _slowPid;
    // The epoch this agent promoted the running database in, and that database's pid: reported while the same process runs.
    private long _primaryOfEpoch;
    private int? _primaryPid;

    /// <summary>
    /// The client options an agent's <see cref="GroupClient"/> should use: with somewhere else to go, a server that holds a report
    /// (hung, or a process still being torn down after kill -9) for 400 ms is left within the same report (longer than a server
    /// waits for a group's decider before answering a report from the store, 300 ms, so that answer is not thrown away),
    /// and the next reports go to the server that answered. Without this a report cancelled by the agent's own timeout never
    /// moves the client, and a primary's renewals keep going to a server that cannot answer until its renew deadline passes.
    /// </summary>
    public static HaloClientOptions ClientOptions(HaloClientOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.Servers.Count > 1
            ? options with { ConnectTimeout = TimeSpan.FromMilliseconds(250), AttemptTimeout = TimeSpan.FromMilliseconds(400) }
            : options;
    }

    /// <summary>Test hook: while it returns true the agent cannot reach the server (a network partition).</summary>
    internal Func<bool> Partitioned { get; set; } = () => false;

    public Assignment? Assignment { get; private set; }
    public DbProbe? LastProbe { get; private set; }
    /// <summary>When the watchdog last fenced the database because the lease could not be renewed.</summary>
    public DateTimeOffset? WatchdogFencedAt { get; private set; }
    public DateTimeOffset? LastRenewalSentAt { get; private set; }

    public async Task RunAsync(CancellationToken ct)
    {
        var watch = WatchLoopAsync(ct);
        var watchdog = WatchdogLoopAsync(ct);
        var failsafe = FailsafeLoopAsync(ct);
        try
        {
            while (!ct.IsCancellationRequested)
            {
                try
                {
                    await TickAsync(ct).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not DatabaseSetupException && (ex is not OperationCanceledException || !ct.IsCancellationRequested))
                {
                    // The loop must outlive any one bad tick (a setup problem no retry can fix stops it): log it and carry on.
                    AgentLog.CommandFailed(logger, options.Member, ex);
                }

                if (_again)
                {
                    _again = false;
                    continue;
                }

                await _wake.WaitAsync(options.Interval, time, ct).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }

        await Task.WhenAll(watch, watchdog, failsafe).ConfigureAwait(false);
    }

    /// <summary>One probe, report and apply.</summary>
    public async Task TickAsync(CancellationToken ct)
    {
        if (managed is not null)
        {
            var a = Assignment;
            var follow = a is { Role: MemberRole.Replica, PrimaryAddress: { } p } ? Split(p) : ((string, int)?)null;
            // A crashed primary stays down until leadership has moved: restarted empty on the same port, it would be found by
            // the replicas' reconnecting links and they would full-sync from it, wiping their copy of the data.
            // Likewise it waits until the new primary is known, and then starts as its replica.
            var holdDown = managed.Started && !managed.Running && (a is null or { Role: MemberRole.Primary, ResumeAfterRestart: false } or { Role: MemberRole.Replica, PrimaryAddress: null });
            if (!holdDown && await managed.EnsureRunningAsync(a?.Role ?? MemberRole.Unknown, follow?.Item1, follow?.Item2, ct).ConfigureAwait(false) && managed.Restarts > 0)
            {
                _writable = false;
                _lostInEpoch = Interlocked.Read(ref _knownEpoch);
                _primaryOfEpoch = 0;
                AgentLog.Restarted(logger, options.Member, managed.Restarts);
            }
        }

        // Read before probing: a report naming this round carries a position read after the round was opened.
        var round = Interlocked.Read(ref _round);
        var probe = await driver.ProbeAsync(ct).ConfigureAwait(false);
        var stale = false;
        if (probe.TimedOut && LastProbe is { Up: true } last && time.GetElapsedTime(_slowSince ??= time.GetTimestamp()) < options.ProbeTimeoutGrace)
        {
            // Slow is not down: report the last answer, which is not a fresh position, so it answers no new round.
            (probe, round, stale) = (last with { Detail = $"probe timed out ({probe.Detail}); last answer shown" }, _answeredRound, true);
        }
        else
        {
            _slowSince = probe.TimedOut ? _slowSince : null;
            _answeredRound = round;
        }

        if (!probe.Up && probe.TimedOut && LastProbe?.Up != false)
        {
            // Slow past the grace: reported down, but the same process may still be running and taking writes. It stays
            // "writable" for the watchdog (which must still fence it at the deadline), and whether it lost anything is
            // judged when it answers again: only a different process (a restart) did.
            _slowPid = LastProbe?.Pid;
            _downBySlowness = true;
            AgentLog.DatabaseDown(logger, options.Member, probe.Detail);
        }
        else if (!probe.Up && (LastProbe?.Up != false || _downBySlowness && !probe.TimedOut) ||
                 probe.Up && _downBySlowness && (probe.Pid is null || probe.Pid != _slowPid))
        {
            _writable = false;
            // Whatever comes back may have lost its data (Redis without persistence restarts empty): not a primary of this epoch.
            _lostInEpoch = Interlocked.Read(ref _knownEpoch);
            _primaryOfEpoch = 0;
            _downBySlowness = false;
            if (!probe.Up)
            {
                AgentLog.DatabaseDown(logger, options.Member, probe.Detail);
            }
        }
        else if (probe.Up)
        {
            _downBySlowness = false; // the same process answers again: slow, never gone
        }

        LastProbe = probe;
        if (await ReportAsync(probe, round, ct).ConfigureAwait(false) is { } assignment)
        {
            Assignment = assignment;
            await DrillAsync(assignment, ct).ConfigureAwait(false);
        }

        if (!stale)
        {
            await ApplyAsync(probe, ct).ConfigureAwait(false);
        }
    }

    private bool Isolated => Partitioned() || time.GetTimestamp() < Interlocked.Read(ref _isolatedUntil);

    private async Task<Assignment?> ReportAsync(DbProbe probe, long round, CancellationToken ct)
    {
        if (Isolated)
        {
            return null;
        }

        var sent = time.GetTimestamp();
        var sentAt = time.GetUtcNow();
        var report = new MemberReport
        {
            Address = driver.Address, Role = probe.Role, Epoch = Interlocked.Read(ref _knownEpoch), DbUp = probe.Up, Healthy = probe.Healthy,
            Offset = probe.Offset, Fenced = probe.Fenced, DrillDone = _drillDone, Detail = probe.Detail, Round = round,
            Following = probe.FollowingAddress, Kind = driver.Kind, Timeline = probe.Timeline, SynchronousStandbys = probe.SynchronousStandbys,
            StreamingStandbys = probe.StreamingStandbys, Bootstrappable = probe.Bootstrappable,
            PrimaryOfEpoch = probe.Up && probe.Pid is { } pid && pid == _primaryPid ? _primaryOfEpoch : 0,
            FailsafeAddress = options.Failsafe ? options.FailsafeAddress : null, FailsafeMembers = FailsafeAsks(), Failsafe = _inFailsafe,
        };
        if (options.Failsafe && (Assignment is null || Interlocked.Read(ref _knownEpoch) > 0) && Hold.Holding)
        {
            // Bound by a promise (or the start-up hold): a position read now may not be final, the primary may still be writing.
            report = report with { Round = 0 };
        }

        try
        {
            // A primary's renewal counts from its send: an answer is worth waiting for as long as it could still renew, its
            // whole renew deadline, not just the usual report timeout (the client leaves a silent server sooner meanwhile).
            var budget = Assignment is { Role: MemberRole.Primary } current && FencingTiming.RenewDeadline(current.LeaseTtl) > options.ReportTimeout
                ? FencingTiming.RenewDeadline(current.LeaseTtl)
                : options.ReportTimeout;
            using var deadline = new Deadline(budget, time, ct);
            var a = HedgeAfter() is { } hedge
                ? await client.ReportAsync(options.Group, options.Member, report, hedge, deadline.Token).ConfigureAwait(false)
                : await client.ReportAsync(options.Group, options.Member, report, deadline.Token).ConfigureAwait(false);
            _serverDown = false;
            if (Assignment is null && options.Failsafe)
            {
                Hold.Promise(a.LeaseTtl); // an agent that (re)started forgot its promises: bound for one promise TTL
            }

            LearnFailsafe(a);
            if (a.Role != MemberRole.Replica || a.PrimaryAddress is not null)
            {
                _fromDecider = a;
            }

            if (a.LeaseRenewed && a.Role == MemberRole.Primary)
            {
                lock (_leaseGate)
                {
                    // Measured from the send: the store renewed the lease after this instant, so it cannot expire before send + TTL.
                    _renewSent = sent;
                    _renewEpoch = a.Epoch;
                    LastRenewalSentAt = sentAt;
                }
            }
            else if (a.Epoch != report.Epoch)
            {
                _again = true; // a new epoch: report again at once so a new primary renews (and promotes) without waiting an interval
            }

            if (a.Round > round)
            {
                // The controller is asking for final positions: probe again and answer at once.
                InterlockedMax(ref _round, a.Round);
                _again = true;
            }

            InterlockedMax(ref _knownEpoch, a.Epoch);
            return a;
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or HaloApiException && !ct.IsCancellationRequested)
        {
            if (!_serverDown)
            {
                // Once, right away rather than an interval later: the client has moved to the next server, and a primary's
                // renewal is worth the time (its renew deadline runs from the last renewal sent, not from this failure).
                _again = true;
                _serverDown = true;
                AgentLog.ServerUnreachable(logger, options.Member, ex.Message);
            }

            return null;
        }
    }

    /// <summary>
    /// How long a primary's report waits for one server before it also goes to the next: <see cref="AgentOptions.ReportHedgeAfter"/>,
    /// or zero (every server at once) once half its renew deadline has passed since its last renewal was sent. Null for a
    /// member that holds no lease: its report can wait for the usual failover between servers.
    /// </summary>
    private TimeSpan? HedgeAfter()
    {
        if (Assignment is not { Role: MemberRole.Primary } a)
        {
            return null;
        }

        lock (_leaseGate)
        {
            var late = _renewEpoch == a.Epoch && _renewSent != 0 && time.GetElapsedTime(_renewSent) >= FencingTiming.RenewDeadline(a.LeaseTtl) / 2;
            return late ? TimeSpan.Zero : options.ReportHedgeAfter;
        }
    }

    private bool LeaseValid(Assignment a)
    {
        lock (_leaseGate)
        {
            return _renewEpoch == a.Epoch && _renewSent != 0 && time.GetElapsedTime(_renewSent) < FencingTiming.RenewDeadline(a.LeaseTtl);
        }
    }

    private async Task ApplyAsync(DbProbe probe, CancellationToken ct)
    {
        if (Assignment is not { } a || !probe.Up)
        {
            return;
        }

        await _dbGate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (a.Role == MemberRole.Primary && !a.Fence && !LeaseValid(a) && _writable && probe.Role == MemberRole.Primary && !probe.Fenced && FailsafeValid(a))
            {
                return; // writing on the members' promises: nothing to change until a renewal or the watchdog says otherwise
            }

            if (a.Role == MemberRole.Primary && LeaseValid(a) && !a.Fence)
            {
                if (probe.Role != MemberRole.Primary && options.Failsafe && a.Epoch > 1 && Hold.Holding)
                {
                    // Promised the old primary not to be promoted (or restarted and forgot whether it did): wait until that ends.
                    // Epoch 1 is the first election: there was no primary to promise anything to.
                    return;
                }

                if ((probe.Role != MemberRole.Primary || probe.Fenced) && _lostInEpoch == a.Epoch && !a.ResumeAfterRestart)
                {
                    return; // stays fenced until the controller moves leadership (or the policy allows restart in place)
                }

                if (probe.Role != MemberRole.Primary || probe.Fenced)
                {
                    // Which standbys commits wait for is set before the database takes its first write.
                    if (a.SynchronousStandbys is { } names)
                    {
                        await driver.ConfigureSynchronousAsync(names, ct).ConfigureAwait(false);
                    }

                    await driver.PromoteAsync(a.MinReplicasToWrite, ct).ConfigureAwait(false);
                    // A database restarted in its epoch (restart in place) may have lost writes: it never vouches for the epoch.
                    (_primaryOfEpoch, _primaryPid) = _lostInEpoch == a.Epoch ? (0, null) : (a.Epoch, probe.Pid);
                    AgentLog.Promoted(logger, options.Member, a.Epoch);
                    _again = true;
                }
                else if (a.SynchronousStandbys is { } names && probe.SynchronousStandbys is { } applied && names != applied)
                {
                    await driver.ConfigureSynchronousAsync(names, ct).ConfigureAwait(false);
                    _again = true;
                }

                _writable = true;
            }
            else if (a.Role == MemberRole.Replica && a.PrimaryAddress is { } primary && Split(primary) is var (host, port))
            {
                _writable = false;
                if (options.Failsafe && Hold.Holding && probe.Role == MemberRole.Replica && probe.FollowingAddress != primary)
                {
                    return; // promised the primary it follows not to be re-pointed: wait until the promise ends
                }

                if (probe.Role != MemberRole.Replica || probe.FollowingAddress != primary || probe.Fenced)
                {
                    _primaryOfEpoch = 0; // a replica's data is its new primary's from now on
                    await driver.FollowAsync(host, port, ct).ConfigureAwait(false);
                    AgentLog.Following(logger, options.Member, primary, a.Epoch);
                    _again = true;
                }
            }
            else if (probe.Role == MemberRole.Primary && !probe.Fenced)
            {
                await FenceLockedAsync(a.Role == MemberRole.Primary ? (a.Fence ? "switchover in progress" : "lease not renewed") : "not the primary of any epoch", ct).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or IOException or OperationCanceledException && !ct.IsCancellationRequested)
        {
            AgentLog.CommandFailed(logger, options.Member, ex);
        }
        finally
        {
            _dbGate.Release();
        }
    }

    /// <summary>Fences a writable primary whose lease was not renewed in time, independently of the main loop.</summary>
    private async Task WatchdogLoopAsync(CancellationToken ct)
    {
        try
        {
            while (!ct.IsCancellationRequested)
            {
                await Task.Delay(options.WatchdogInterval, time, ct).ConfigureAwait(false);
                await CheckDeadlineAsync(ct).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    /// <summary>
    /// One watchdog check: fences a primary the agent let take writes once neither its lease nor failsafe promises cover it. Also
    /// while its probes time out: a database too slow to answer a probe may still take writes. Public for tests.
    /// </summary>
    public async Task CheckDeadlineAsync(CancellationToken ct)
    {
        if (!_writable || Assignment is not { } a || LeaseValid(a) || FailsafeValid(a))
        {
            return;
        }

        await _dbGate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (_writable && !LeaseValid(a) && !FailsafeValid(a))
            {
                await FenceLockedAsync(_inFailsafe ? FailsafeGap(a) : "lease not renewed before the deadline", ct).ConfigureAwait(false);
                WatchdogFencedAt = time.GetUtcNow();
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            AgentLog.CommandFailed(logger, options.Member, ex);
        }
        finally
        {
            _dbGate.Release();
        }
    }

    private async Task FenceLockedAsync(string reason, CancellationToken ct)
    {
        _writable = false;
        // The failsafe only ever prolongs writing that never stopped: once fenced, only a lease renewal makes it writable again.
        Ledger.Clear();
        SetFailsafe(false);
        try
        {
            using var deadline = new Deadline(FencingTiming.FenceCommandBudget(Assignment?.LeaseTtl ?? TimeSpan.FromSeconds(2)), time, ct);
            await driver.FenceAsync(deadline.Token).ConfigureAwait(false);
            AgentLog.Fenced(logger, options.Member, reason);
        }
        catch (Exception ex) when (ex is InvalidOperationException or IOException or OperationCanceledException && !ct.IsCancellationRequested)
        {
            // A database that cannot be fenced in time is stopped instead: refusing writes is the promise, not staying up.
            AgentLog.CommandFailed(logger, options.Member, ex);
            await driver.KillAsync(ct).ConfigureAwait(false);
        }
    }

    private async Task DrillAsync(Assignment a, CancellationToken ct)
    {
        if (a.Drill is not { } mode || a.DrillId <= _drillDone)
        {
            return;
        }

        _drillDone = a.DrillId;
        if (mode == "kill")
        {
            await driver.KillAsync(ct).ConfigureAwait(false);
        }
        else
        {
            Interlocked.Exchange(ref _isolatedUntil, time.GetTimestamp() + (long)(a.Duration.TotalSeconds * time.TimestampFrequency));
        }

        AgentLog.Drill(logger, options.Member, mode);
    }

    /// <summary>Long-polls the group status and wakes the main loop the moment it changes.</summary>
    private async Task WatchLoopAsync(CancellationToken ct)
    {
        long version = 0;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                if (Isolated)
                {
                    await Task.Delay(options.Interval, time, ct).ConfigureAwait(false);
                    continue;
                }

                var status = await client.GetAsync(options.Group, version, TimeSpan.FromSeconds(10), ct).ConfigureAwait(false);
                if (status.Version != version)
                {
                    version = status.Version;
                    InterlockedMax(ref _round, status.Round?.Id ?? 0);
                    InterlockedMax(ref _knownEpoch, status.Epoch);
                    _wake.Release();
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or HaloApiException)
            {
                try
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(200), time, ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }
    }

    private static (string Host, int Port)? Split(string address)
    {
        return Halo.Core.Networking.HostPort.TryParse(address, out var endpoint) ? (endpoint.Host, endpoint.Port) : null;
    }

    private static void InterlockedMax(ref long target, long value)
    {
        long current;
        while (value > (current = Interlocked.Read(ref target)) && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }
}
