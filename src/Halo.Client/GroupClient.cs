using Halo.Core.Failover;

namespace Halo.Client;

/// <summary>A typed client of the failover groups API (docs/failover.md), used by agents, the TCP proxy and the CLI.</summary>
public sealed class GroupClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly bool _ownsHttp;

    /// <summary>A client for the servers, token and TLS settings of <paramref name="options"/>.</summary>
    public GroupClient(HaloClientOptions options, TimeProvider? time = null)
        : this(HaloHttp.CreateClient(options, time), ownsHttp: true)
    {
    }

    /// <summary>A client for one server with default options.</summary>
    public GroupClient(Uri server)
        : this(new HaloClientOptions { Servers = [server] })
    {
    }

    /// <summary>A client over an <see cref="HttpClient"/> whose base address is the server; the caller keeps ownership.</summary>
    public GroupClient(HttpClient http)
        : this(http, ownsHttp: false)
    {
    }

    internal GroupClient(HttpClient http, bool ownsHttp)
    {
        ArgumentNullException.ThrowIfNull(http);
        _http = http;
        _ownsHttp = ownsHttp;
    }

    /// <summary>Every group with its primary and epoch.</summary>
    public Task<GroupList> ListAsync(CancellationToken ct = default) =>
        Send<GroupList>(HttpMethod.Get, "v1/groups", null, ct);

    /// <summary>Creates a group or replaces its policy.</summary>
    public Task<GroupStatus> PutAsync(string group, GroupPolicy policy, CancellationToken ct = default) =>
        Send<GroupStatus>(HttpMethod.Put, $"v1/groups/{Esc(group)}", policy, ct);

    /// <summary>The group's status; with <paramref name="after"/>, a long poll that returns once its version passes it (or after <paramref name="wait"/>).</summary>
    public Task<GroupStatus> GetAsync(string group, long? after = null, TimeSpan? wait = null, CancellationToken ct = default)
    {
        var url = $"v1/groups/{Esc(group)}";
        var poll = wait ?? TimeSpan.FromSeconds(10);
        if (after is not null)
        {
            url += $"?index={after.Value}&wait={Core.Durations.Format(poll)}";
        }

        return HaloClient.SendAsync<GroupStatus>(_http, HttpMethod.Get, url, null, ct, longPoll: after is null ? null : poll);
    }

    /// <summary>An agent's report on its member; answered with what the member must do. Safe to send again to another server.</summary>
    public Task<Assignment> ReportAsync(string group, string member, MemberReport report, CancellationToken ct = default) =>
        HaloClient.SendAsync<Assignment>(_http, HttpMethod.Post, $"v1/groups/{Esc(group)}/members/{Esc(member)}/report", report, ct, idempotent: true);

    /// <summary>
    /// A report hedged over the servers (<see cref="HaloHttp.HedgeAfter"/>): when no server has answered within
    /// <paramref name="hedgeAfter"/>, the same report also goes to the next server, and the first answer wins. For a primary,
    /// whose lease renewal must not wait behind one slow or dying server.
    /// </summary>
    public Task<Assignment> ReportAsync(string group, string member, MemberReport report, TimeSpan hedgeAfter, CancellationToken ct = default) =>
        HaloClient.SendAsync<Assignment>(_http, HttpMethod.Post, $"v1/groups/{Esc(group)}/members/{Esc(member)}/report", report, ct, idempotent: true, hedgeAfter: hedgeAfter);

    /// <summary>Moves the primary role to <paramref name="to"/> in a controlled way.</summary>
    public Task<GroupStatus> SwitchoverAsync(string group, string to, CancellationToken ct = default) =>
        Send<GroupStatus>(HttpMethod.Post, $"v1/groups/{Esc(group)}/switchover", new SwitchoverRequest(to), ct);

    /// <summary>Pauses or resumes automatic failover of a group.</summary>
    public Task<GroupStatus> SetPausedAsync(string group, bool paused, CancellationToken ct = default) =>
        Send<GroupStatus>(HttpMethod.Post, $"v1/groups/{Esc(group)}/{(paused ? "pause" : "resume")}", null, ct);

    /// <summary>Starts a failure drill on a group's member.</summary>
    public Task<DrillStarted> DrillAsync(string group, string mode, TimeSpan? duration = null, CancellationToken ct = default) =>
        Send<DrillStarted>(HttpMethod.Post, $"v1/groups/{Esc(group)}/drill", new DrillRequest(mode, duration), ct);

    /// <inheritdoc />
    public void Dispose()
    {
        if (_ownsHttp)
        {
            _http.Dispose();
        }
    }

    private Task<T> Send<T>(HttpMethod method, string url, object? body, CancellationToken ct) =>
        HaloClient.SendAsync<T>(_http, method, url, body, ct);

    private static string Esc(string s) => HaloClient.Esc(s);
}

/// <summary>Answer to POST /v1/groups/{group}/drill.</summary>
public sealed record DrillStarted(long DrillId, string Member, string Mode, long Epoch, DateTimeOffset At);
