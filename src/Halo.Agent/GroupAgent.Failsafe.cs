using System.Net.Http.Json;
using Halo.Core.Failover;
using Halo.Core.Serialization;

namespace Halo.Agent;

/// <summary>
/// The failsafe (docs/ha.md, "The data path outlives the control plane"): a primary whose lease cannot be renewed because no
/// server answers keeps accepting writes only while every member it must ask has promised, directly and recently, that it
/// follows this primary in this epoch and will not be promoted, re-pointed or answer a position round meanwhile.
/// </summary>
public sealed partial class GroupAgent
{
    private readonly object _failsafeGate = new();
    private readonly HashSet<string> _asks = new(StringComparer.Ordinal);
    private Dictionary<string, string> _peers = new(StringComparer.Ordinal);
    private long _asksEpoch;
    private long _failsafeEpoch;
    private volatile bool _inFailsafe;
    private HttpClient? _peerClient;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> _lastAsked = new(StringComparer.Ordinal);
    private string? _lastAnswered;
    // The last answer that came from the group's decider rather than from the store (a replica's store answer has no address).
    private volatile Assignment? _fromDecider;

    /// <summary>True while the primary keeps accepting writes on promises alone.</summary>
    public bool InFailsafe => _inFailsafe;

    /// <summary>True when this primary's decider has stored the members it asks for its epoch: it could use the failsafe now.</summary>
    public bool FailsafeArmed
    {
        get
        {
            lock (_failsafeGate)
            {
                return options.Failsafe && Assignment is { Role: MemberRole.Primary } a && _failsafeEpoch == a.Epoch && _asksEpoch == a.Epoch;
            }
        }
    }

    /// <summary>How many promises this agent has given (as a replica).</summary>
    public int PromisesGiven { get; private set; }

    private FailsafeHold Hold { get; } = new(time, TimeSpan.FromSeconds(2));

    private FailsafeLedger Ledger { get; } = new(time);

    /// <summary>Learns, from an answer to the primary's report, whom it must ask and whether the decider stored that set.</summary>
    private void LearnFailsafe(Assignment a)
    {
        if (!options.Failsafe || a.Role != MemberRole.Primary)
        {
            return;
        }

        lock (_failsafeGate)
        {
            if (a.Epoch != _asksEpoch)
            {
                _asks.Clear();
                _asksEpoch = a.Epoch;
                _failsafeEpoch = 0;
            }

            if (a.FailsafePeers is { } peers)
            {
                _asks.UnionWith(peers.Keys);
                // A decider that just (re)read the group from the store has not heard every member yet and lists it without an
                // address: keep the address this primary already knows rather than stop asking a member that still promises.
                var merged = new Dictionary<string, string>(_peers, StringComparer.Ordinal);
                foreach (var (member, address) in peers)
                {
                    if (address.Length > 0 || !merged.ContainsKey(member))
                    {
                        merged[member] = address;
                    }
                }

                _peers = merged;
            }

            if (a.FailsafeMembers is { } stored)
            {
                _asks.UnionWith(stored); // asks at least what the decider restricts promotion to
            }

            _failsafeEpoch = a.FailsafeEpoch == a.Epoch ? a.Epoch : _failsafeEpoch;
        }
    }

    /// <summary>The members this primary says it asks (sent with its reports), or null when it is not a primary with the failsafe on.</summary>
    private List<string>? FailsafeAsks()
    {
        if (!options.Failsafe || Assignment is not { Role: MemberRole.Primary } a)
        {
            return null;
        }

        lock (_failsafeGate)
        {
            return a.Epoch == _asksEpoch ? _asks.Order(StringComparer.Ordinal).ToList() : [];
        }
    }

    /// <summary>
    /// True while the primary of <paramref name="a"/> may keep writing on promises alone: the failsafe is on, the decider stored the
    /// members it asks for this epoch, its database has run as this epoch's primary without a restart, and every member it asks
    /// holds a promise still good by the primary's own clock.
    /// </summary>
    private bool FailsafeValid(Assignment a)
    {
        if (!options.Failsafe || a.Role != MemberRole.Primary || a.Fence || _primaryOfEpoch != a.Epoch)
        {
            return false;
        }

        List<string> asks;
        lock (_failsafeGate)
        {
            if (_failsafeEpoch != a.Epoch || _asksEpoch != a.Epoch)
            {
                return false;
            }

            asks = [.. _asks];
        }

        return Ledger.Covers(asks, a.Epoch, a.LeaseTtl);
    }

    /// <summary>
    /// Asks every member for a promise while the renewal is late, so the promises are there before the renew deadline. A round
    /// starts every report interval without waiting for the ones still out (at most <see cref="RoundsInFlight"/>): an answer
    /// counts from its request's send, so a slow one still helps, and it must not hold up the next request. Measured under
    /// stress-ng (2026-11-29, etcd leader kill, load 19): the first round, cut off at 0.5 s, got no answer in time from
    /// either replica (the first request of a process: a new connection, code never run before), and the second was granted
    /// 0.2 s before the renew deadline.
    /// </summary>
    private async Task FailsafeLoopAsync(CancellationToken ct)
    {
        if (!options.Failsafe)
        {
            return;
        }

        var rounds = new List<Task>();
        try
        {
            while (!ct.IsCancellationRequested)
            {
                await Task.Delay(options.Interval, time, ct).ConfigureAwait(false);
                rounds.RemoveAll(r => r.IsCompleted);
                if (rounds.Count < RoundsInFlight)
                {
                    rounds.Add(AskRoundAsync(ct));
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        finally
        {
            await Task.WhenAll(rounds).ConfigureAwait(false); // each round logs its own failure
            _peerClient?.Dispose();
        }
    }

    /// <summary>How many rounds of promise requests may be out at once: three report intervals' worth.</summary>
    private const int RoundsInFlight = 3;

    private async Task AskRoundAsync(CancellationToken ct)
    {
        try
        {
            await AskForPromisesAsync(ct).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            AgentLog.CommandFailed(logger, options.Member, ex);
        }
        catch (OperationCanceledException)
        {
            // stopping
        }
    }

    /// <summary>One round of promise requests, when this writable primary's renewal is late; public for tests.</summary>
    public async Task AskForPromisesAsync(CancellationToken ct)
    {
        if (!options.Failsafe || Assignment is not { Role: MemberRole.Primary } a || !_writable)
        {
            SetFailsafe(false);
            return;
        }

        bool late;
        lock (_leaseGate)
        {
            late = _renewEpoch != a.Epoch || _renewSent == 0 || time.GetElapsedTime(_renewSent) >= FailsafeTiming.AskAfter(a.LeaseTtl);
        }

        if (!late)
        {
            SetFailsafe(false);
            return;
        }

        List<(string Member, string Address)> targets;
        lock (_failsafeGate)
        {
            if (_asksEpoch != a.Epoch || _failsafeEpoch != a.Epoch)
            {
                return;
            }

            targets = _asks.Select(m => (m, _peers.GetValueOrDefault(m, ""))).ToList();
        }

        if (targets.FirstOrDefault(t => t.Address.Length == 0) is { Member: { } unknown })
        {
            // A member without a failsafe address can never promise: the primary fences at its deadline as before.
            NoteAsked(unknown, a.Epoch, "no failsafe address known");
            return;
        }

        if (_peerClient is null)
        {
            var created = new HttpClient(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromMilliseconds(250), UseProxy = false });
            if (Interlocked.CompareExchange(ref _peerClient, created, null) is not null)
            {
                created.Dispose(); // another round made one first
            }
        }

        // An answer is worth waiting for as long as it could still count: a promise is relied on for RelyFor from its send.
        using var deadline = new Halo.Core.Deadline(FailsafeTiming.RelyFor(a.LeaseTtl), time, ct);
        await Task.WhenAll(targets.Select(t => AskAsync(t.Member, t.Address, a, deadline.Token))).ConfigureAwait(false);
        // Rounds overlap, and the watchdog may have fenced meanwhile: the failsafe never resumes, so only a writable primary is in it.
        SetFailsafe(_writable && !LeaseValid(a) && FailsafeValid(a));
    }

    private async Task AskAsync(string member, string address, Assignment a, CancellationToken ct)
    {
        var sent = time.GetTimestamp();
        string outcome;
        try
        {
            using var response = await _peerClient!.PostAsJsonAsync(new Uri($"http://{address}/v1/failsafe/promise"),
                new FailsafePromiseRequest(options.Group, member, options.Member, a.Epoch), HaloJson.Options, ct).ConfigureAwait(false);
            var answer = response.IsSuccessStatusCode ? await response.Content.ReadFromJsonAsync<FailsafePromiseAnswer>(HaloJson.Options, ct).ConfigureAwait(false) : null;
            if (answer is { Granted: true } && answer.Ttl >= FailsafeTiming.PromiseTtl(a.LeaseTtl))
            {
                Ledger.Record(member, a.Epoch, sent);
                outcome = "granted";
            }
            else
            {
                outcome = answer is null ? $"answered {(int)response.StatusCode}" : $"refused: {answer.Reason}";
            }
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or System.Text.Json.JsonException && !ct.IsCancellationRequested || ex is OperationCanceledException)
        {
            // No promise this time; the previous one may still be good.
            outcome = ex is OperationCanceledException ? "no answer in time" : $"failed: {ex.GetType().Name}";
        }

        NoteAsked(member, a.Epoch, outcome);
    }

    /// <summary>Logs the outcome of asking <paramref name="member"/>, on change only: asked every report interval while the renewal is late.</summary>
    private void NoteAsked(string member, long epoch, string outcome)
    {
        if (!_lastAsked.TryGetValue(member, out var was) || was != outcome)
        {
            _lastAsked[member] = outcome;
            AgentLog.PromiseAsked(logger, options.Member, member, epoch, outcome);
        }
    }

    /// <summary>Why the failsafe does not cover the primary of <paramref name="a"/> now, for the fencing log line.</summary>
    private string FailsafeGap(Assignment a)
    {
        lock (_failsafeGate)
        {
            return $"failsafe promises ran out ({Ledger.Describe([.. _asks], a.Epoch)}; stored for epoch {_failsafeEpoch})";
        }
    }

    private void SetFailsafe(bool on)
    {
        lock (_failsafeGate) // rounds overlap: one log line per change
        {
            if (_inFailsafe != on)
            {
                _inFailsafe = on;
                AgentLog.Failsafe(logger, options.Member, on);
            }
        }
    }

    /// <summary>
    /// Answers a primary's promise request (the agent's failsafe endpoint). Grants only when this member is a replica following
    /// that primary in that epoch, in its assignment and in its database, and has reached no server for a while; the promise
    /// binds this agent before the answer leaves.
    /// </summary>
    public async Task<FailsafePromiseAnswer> AnswerPromiseAsync(FailsafePromiseRequest request, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var answer = await DecidePromiseAsync(request, ct).ConfigureAwait(false);
        var outcome = answer.Granted ? "granted" : $"refused: {answer.Reason}";
        if (outcome != _lastAnswered)
        {
            _lastAnswered = outcome; // logged on change only
            AgentLog.PromiseAnswered(logger, options.Member, request.Primary, request.Epoch, outcome);
        }

        return answer;
    }

    private async Task<FailsafePromiseAnswer> DecidePromiseAsync(FailsafePromiseRequest request, CancellationToken ct)
    {
        if (!options.Failsafe)
        {
            return Refused("the failsafe is off on this agent");
        }

        if (request.Group != options.Group || request.Member != options.Member)
        {
            return Refused($"this is member '{options.Member}' of group '{options.Group}'");
        }

        // Serialised with promotion and re-pointing (ApplyAsync holds the same gate): either the promise binds first, or the
        // assignment this agent acts on already says it is no longer this primary's replica.
        using var wait = new Halo.Core.Deadline(TimeSpan.FromMilliseconds(200), time, ct);
        try
        {
            await _dbGate.WaitAsync(wait.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return Refused("busy");
        }

        try
        {
            // A report answered from the store while the decider is away names the primary and the epoch but neither the primary's
            // address nor the decider's position round: for those, the decider's last answer stands (a store answer says round 0
            // whatever the decider has open, and promising on it would stall that round).
            if (Assignment is not { Role: MemberRole.Replica } a || a.Primary != request.Primary || a.Epoch != request.Epoch ||
                _fromDecider is not { Role: MemberRole.Replica, PrimaryAddress: { } address } d || d.Primary != request.Primary || d.Epoch != request.Epoch)
            {
                return Refused($"not a replica of '{request.Primary}' in epoch {request.Epoch}");
            }

            if (LastProbe is not { Up: true, Role: MemberRole.Replica, Fenced: false } probe || probe.FollowingAddress != address)
            {
                return Refused($"the database does not replicate from {address}");
            }

            if (d.Round != 0)
            {
                // The decider is collecting positions to replace a primary: it must be able to, so no promise that would stall it.
                return Refused($"the decider has a position round open (round {d.Round})");
            }

            Hold.Promise(a.LeaseTtl);
            PromisesGiven++;
            return new FailsafePromiseAnswer(true, "promised", FailsafeTiming.PromiseTtl(a.LeaseTtl));
        }
        finally
        {
            _dbGate.Release();
        }
    }

    private static FailsafePromiseAnswer Refused(string why) => new(false, why, TimeSpan.Zero);
}
