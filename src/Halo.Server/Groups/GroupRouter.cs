using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Halo.Core.Failover;
using Halo.Core.Serialization;
using Halo.Server.Api;
using Halo.Server.Cluster;
using Halo.Store;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Halo.Server.Groups;

/// <summary>
/// Sends a group's calls to the one server that decides it (its owner on the membership), whichever server they reach: the
/// caller's request goes on once, with the caller's own credentials, and the owner's answer comes back unchanged. With one
/// server, or on the owner, the call is answered here.
/// </summary>
/// <remarks>
/// An agent's report cannot wait for a dead owner to leave the membership (up to its TTL): the primary's lease would lapse
/// and the primary fence itself, a database outage caused by the control plane. So when the owner does not answer, the
/// report is answered from the store (<see cref="AnswerFromStoreAsync"/>), which can only keep a running primary running,
/// never change anything.
/// </remarks>
internal sealed class GroupRouter(
    ServerMembership membership, PeerEviction eviction, GroupRegistry registry, IHttpClientFactory clients, IStore store, GroupsOptions options, TimeProvider time,
    ILogger<GroupRouter> logger)
{
    /// <summary>How long a report waits for the owner before it is answered from the store: short against the renew deadline.</summary>
    public static readonly TimeSpan ReportForwardTimeout = TimeSpan.FromMilliseconds(300);

    /// <summary>
    /// How long after an owner failed to answer a report the next reports for its groups go straight to the store: a dead owner
    /// stays a member until its lease expires, and trying it again on every report spends the primary's renewal budget on it.
    /// </summary>
    public static readonly TimeSpan SkipUnreachableOwner = TimeSpan.FromSeconds(1);

    private long _lastUnreachableLog;
    private long _lastSlowAnswerLog;
    private Unreachable? _unreachable;

    private sealed record Unreachable(string OwnerId, long At);

    /// <summary>Where a group's calls are answered.</summary>
    public enum Route
    {
        /// <summary>Here: one server, or this server owns the group.</summary>
        Here,
        /// <summary>At the owner, another server.</summary>
        Owner,
        /// <summary>Nowhere now: the call came forwarded to a server that does not own it (views of the membership disagree), or no server is a member.</summary>
        Nobody,
    }

    public async Task<(Route Route, Member? Owner)> RouteAsync(string group, HttpContext context, CancellationToken ct)
    {
        var view = membership.Current;
        if (!view.Clustered)
        {
            return (Route.Here, null);
        }

        var owner = view.OwnerOf(group);
        if (owner is not null && owner.Id == view.Self?.Id)
        {
            await registry.EnsureLoadedAsync().ConfigureAwait(false);
            if (registry.Find(group) is { } g)
            {
                await registry.AcquireAsync(g, ct).ConfigureAwait(false);
            }

            return (Route.Here, owner);
        }

        return owner is null || context.Request.Headers.ContainsKey(HeartbeatForwarder.ForwardedHeader) ? (Route.Nobody, owner) : (Route.Owner, owner);
    }

    /// <summary>Sends the caller's request to <paramref name="owner"/> and returns its answer; null when the owner did not answer.</summary>
    public async Task<IResult?> ForwardAsync(Member owner, HttpContext context, object? body, TimeSpan timeout)
    {
        var request = context.Request;
        using var message = new HttpRequestMessage(new HttpMethod(request.Method), new Uri(owner.Url, request.Path.Value!.TrimStart('/') + request.QueryString));
        if (body is not null)
        {
            message.Content = JsonContent.Create(body, options: HaloJson.Options);
        }
        else if (request.ContentLength > 0 || request.Headers.TransferEncoding.Count > 0)
        {
            message.Content = new StreamContent(request.Body);
            if (request.ContentType is { } type)
            {
                message.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(type);
            }
        }

        // The owner checks the caller's own token again (an agent may speak only for its member); without one, the peers' token.
        if (AuthenticationHeaderValue.TryParse(request.Headers.Authorization, out var authorization))
        {
            message.Headers.Authorization = authorization;
        }

        if (request.Headers.IfMatch.Count > 0)
        {
            message.Headers.TryAddWithoutValidation("If-Match", request.Headers.IfMatch.ToString());
        }

        message.Headers.Add(HeartbeatForwarder.ForwardedHeader, membership.Current.Self?.Id ?? "unknown");
        using var deadline = new CancellationTokenSource(timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, deadline.Token);
        try
        {
            using var response = await clients.CreateClient(HeartbeatForwarder.HttpClientName).SendAsync(message, linked.Token).ConfigureAwait(false);
            var text = await response.Content.ReadAsStringAsync(linked.Token).ConfigureAwait(false);
            if (response.Headers.ETag is { } etag)
            {
                context.Response.Headers.ETag = etag.ToString();
            }

            if (response.Headers.Location is { } location)
            {
                context.Response.Headers.Location = location.OriginalString;
            }

            return Results.Text(text, response.Content.Headers.ContentType?.MediaType, System.Text.Encoding.UTF8, (int)response.StatusCode);
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException && !context.RequestAborted.IsCancellationRequested)
        {
            Volatile.Write(ref _unreachable, new Unreachable(owner.Id, time.GetTimestamp()));
            eviction.Suspect(owner, ex);
            var last = Interlocked.Read(ref _lastUnreachableLog);
            if (time.GetElapsedTime(last) >= TimeSpan.FromSeconds(1) && Interlocked.CompareExchange(ref _lastUnreachableLog, time.GetTimestamp(), last) == last)
            {
                GroupLog.DeciderUnreachable(logger, context.Request.RouteValues["name"]?.ToString() ?? "?", owner.Id, ex.Message);
            }

            return null;
        }
    }

    /// <summary>
    /// Sends a report to its decider, <paramref name="owner"/>, and asks the store beside it when the decider is slow
    /// (<see cref="ReportHedge"/>): the decider's answer when it comes within <see cref="ReportForwardTimeout"/>, else the store's
    /// (<paramref name="fromStore"/>, <see cref="AnswerFromStoreAsync"/>), with the timestamp the store was asked at.
    /// </summary>
    public async Task<(IResult? FromDecider, Assignment? FromStore, long StoreAsked)> ForwardReportAsync(
        Member owner, HttpContext context, MemberReport report, Func<CancellationToken, Task<Assignment?>> fromStore)
    {
        long asked = 0;
        var (decided, stored) = await ReportHedge.RunAsync(
            ForwardAsync(owner, context, report, ReportForwardTimeout),
            ct =>
            {
                asked = time.GetTimestamp();
                return fromStore(ct);
            },
            ReportHedge.StoreAfter, time, context.RequestAborted).ConfigureAwait(false);
        return (decided, stored, asked);
    }

    /// <summary>True when <paramref name="owner"/> failed to answer within the last <see cref="SkipUnreachableOwner"/>.</summary>
    public bool RecentlyUnreachable(Member owner) =>
        Volatile.Read(ref _unreachable) is { } u && u.OwnerId == owner.Id && time.GetElapsedTime(u.At) < SkipUnreachableOwner;

    /// <summary>How long a forwarded call may take at the owner: a long poll's wait, a switchover's timeout, or a moment.</summary>
    public TimeSpan TimeoutFor(HttpContext context) =>
        context.Request.Query.ContainsKey("index") ? options.MaxWatchWait + TimeSpan.FromSeconds(5)
        : HttpMethods.IsPost(context.Request.Method) ? options.SwitchoverTimeout + TimeSpan.FromSeconds(5)
        : TimeSpan.FromSeconds(5);

    /// <summary>The answer when the group's decider cannot be reached now; clients that take several servers retry elsewhere.</summary>
    public static IResult DeciderAway(string group, Member? owner) => TypedResults.Problem(
        title: "Decider unavailable", statusCode: StatusCodes.Status503ServiceUnavailable,
        detail: owner is null
            ? $"no server decides group '{group}' right now; retry"
            : $"the server that decides group '{group}' ({owner.Url}) did not answer or is changing; retry");

    /// <summary>
    /// Answers a report without the decider, from the store's leader record: it renews the primary's lease only for a member
    /// that the record names primary of the epoch it reports and that reports its database a writable primary
    /// (<see cref="GroupLease.MayRenew"/>), and tells every other member to change nothing it would not change anyway (no
    /// promotion, no unfencing, no drill). A replica is told where the primary of the recorded epoch is once that primary
    /// confirmed its promotion (the stored confirmed epoch and member record, as the decider's <see cref="GroupState.AssignmentFor"/>
    /// tells it), so a replica follows the current primary while the decider is away. What a report normally adds (positions,
    /// freshness, confirmation, rounds) waits for the decider.
    /// </summary>
    /// <remarks>
    /// The renewal goes through this server's <see cref="GroupLease"/>, the same path as the decider's own, so a store that fails
    /// it here is on record if this server decides the group next. Two store round trips after one another for a primary, not
    /// three: the renewal of the lease named by the record this server last saw (<see cref="GroupRegistry.LastLeader"/>) is sent
    /// beside the read of the group, and counts only when that read finds the same record (same revision, so the same lease);
    /// the read after the renewal still decides whether it renewed anything. With no record seen, or another one, the renewal
    /// waits for the read as before.
    /// </remarks>
    public Task<Assignment?> AnswerFromStoreAsync(string group, string member, MemberReport report, CancellationToken ct) =>
        AnswerFromStoreAsync(store, registry.Lease, group, member, report, registry.LastLeader(group), ct);

    /// <inheritdoc cref="AnswerFromStoreAsync(string, string, MemberReport, CancellationToken)"/>
    internal static async Task<Assignment?> AnswerFromStoreAsync(
        IStore store, GroupLease lease, string group, string member, MemberReport report, VersionedLeader? seen, CancellationToken ct)
    {
        var early = seen is { Record: { } r } && GroupLease.MayRenew(r, member, report, byDecider: false)
            ? lease.RenewAsync(group, r.LeaseId, cancelIsStoreFailure: false, ct)
            : null;
        try
        {
            return await AnswerAsync().ConfigureAwait(false);
        }
        finally
        {
            // An early renewal not used (another record, an error before it was needed): observe how it ends.
            _ = early?.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }

        async Task<Assignment?> AnswerAsync()
        {
            var listing = await store.ListAsync(GroupKeys.Of(group), ct).ConfigureAwait(false);
            // The group as the store holds it, so the answer is the decider's own (GroupState.AssignmentFor) minus what only the
            // decider may hand out (rounds, a switchover's fence, a drill: a drill changes things, and waits for the decider).
            if (GroupRegistry.Build(listing.Items, 0).GetValueOrDefault(group) is not { } stored)
            {
                return null;
            }

            var state = stored with { Drill = null };
            var leader = state.Leader;
            if (leader is null || leader.Member != member)
            {
                return state.AssignmentFor(member, renewed: false);
            }

            // For the recorded primary: keep the synchronous standbys it applies (changing them is the decider's call).
            var mine = state.AssignmentFor(member, renewed: false) with { SynchronousStandbys = report.SynchronousStandbys };
            if (!GroupLease.MayRenew(leader, member, report, byDecider: false))
            {
                // Not (yet) a writable primary of this epoch: promoting or unfencing it is the decider's call.
                return mine with { Fence = true };
            }

            // The early renewal is of this very lease when the record seen is the one read (a key's revision names its value).
            var renewed = early is not null && seen!.Revision == state.LeaderRevision
                ? await early.ConfigureAwait(false)
                : await lease.RenewAsync(group, leader.LeaseId, cancelIsStoreFailure: false, ct).ConfigureAwait(false);
            // Renewed only if the record still names this lease after the renewal: a takeover meanwhile revokes it anyway.
            var after = await store.GetAsync(GroupKeys.Leader(group), ct).ConfigureAwait(false);
            renewed = renewed && after.Item?.ModRevision == state.LeaderRevision;
            return mine with { LeaseRenewed = renewed, PrimaryAddress = report.Address };
        }
    }

    /// <summary>A timestamp of the server's clock, for <see cref="SlowStoreAnswer"/>.</summary>
    public long Now => time.GetTimestamp();

    /// <summary>
    /// Logs (event 3025, at most once a second) a primary's report answered from the store more than
    /// <see cref="GroupActor.SlowRenewalAfter"/> after it arrived: how long the forward to the decider took and how long the store.
    /// </summary>
    public void SlowStoreAnswer(string group, string member, long arrived, long asking, Assignment? answer)
    {
        var took = time.GetElapsedTime(arrived);
        var last = Interlocked.Read(ref _lastSlowAnswerLog);
        if (answer is not { Role: MemberRole.Primary } || took < GroupActor.SlowRenewalAfter || (last != 0 && time.GetElapsedTime(last) < TimeSpan.FromSeconds(1)) ||
            Interlocked.CompareExchange(ref _lastSlowAnswerLog, time.GetTimestamp(), last) != last)
        {
            return;
        }

        GroupLog.SlowStoreAnswer(logger, group, member, took.TotalMilliseconds, time.GetElapsedTime(arrived, asking).TotalMilliseconds,
            time.GetElapsedTime(asking).TotalMilliseconds, answer.LeaseRenewed);
    }

    /// <summary>The status of a group from its owner, for the list on a server that does not decide it; null when the owner did not answer.</summary>
    public async Task<GroupStatus?> StatusFromOwnerAsync(Member owner, string group, string? authorization, CancellationToken ct)
    {
        using var message = new HttpRequestMessage(HttpMethod.Get, new Uri(owner.Url, $"v1/groups/{Uri.EscapeDataString(group)}"));
        if (authorization is not null && AuthenticationHeaderValue.TryParse(authorization, out var auth))
        {
            message.Headers.Authorization = auth;
        }

        message.Headers.Add(HeartbeatForwarder.ForwardedHeader, membership.Current.Self?.Id ?? "unknown");
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(2), time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, deadline.Token);
        try
        {
            using var response = await clients.CreateClient(HeartbeatForwarder.HttpClientName).SendAsync(message, linked.Token).ConfigureAwait(false);
            return response.IsSuccessStatusCode
                ? await response.Content.ReadFromJsonAsync<GroupStatus>(HaloJson.Options, linked.Token).ConfigureAwait(false)
                : null;
        }
        catch (Exception ex) when (ex is HttpRequestException or JsonException or OperationCanceledException && !ct.IsCancellationRequested)
        {
            return null;
        }
    }
}
