using System.Net.Http.Json;
using Halo.Core.Failover;
using Halo.Core.Serialization;

namespace Halo.Client;

/// <summary>A typed client of the failover groups API (docs/failover.md), used by agents, the TCP proxy and the CLI.</summary>
public sealed class GroupClient(HttpClient http) : IDisposable
{
    public GroupClient(Uri server, TimeSpan? timeout = null)
        : this(new HttpClient(new SocketsHttpHandler { UseProxy = false, ConnectTimeout = TimeSpan.FromSeconds(2) })
        { BaseAddress = server, Timeout = timeout ?? TimeSpan.FromSeconds(60) })
    {
    }

    public async Task<GroupList> ListAsync(CancellationToken ct = default) =>
        await SendAsync<GroupList>(HttpMethod.Get, "v1/groups", null, ct).ConfigureAwait(false);

    public async Task<GroupStatus> PutAsync(string group, GroupPolicy policy, CancellationToken ct = default) =>
        await SendAsync<GroupStatus>(HttpMethod.Put, $"v1/groups/{Esc(group)}", policy, ct).ConfigureAwait(false);

    /// <summary>The group's status; with <paramref name="after"/>, a long poll that returns once its version passes it (or after <paramref name="wait"/>).</summary>
    public async Task<GroupStatus> GetAsync(string group, long? after = null, TimeSpan? wait = null, CancellationToken ct = default)
    {
        var url = $"v1/groups/{Esc(group)}";
        if (after is not null)
        {
            url += $"?index={after.Value}&wait={Core.Durations.Format(wait ?? TimeSpan.FromSeconds(10))}";
        }

        return await SendAsync<GroupStatus>(HttpMethod.Get, url, null, ct).ConfigureAwait(false);
    }

    public async Task<Assignment> ReportAsync(string group, string member, MemberReport report, CancellationToken ct = default) =>
        await SendAsync<Assignment>(HttpMethod.Post, $"v1/groups/{Esc(group)}/members/{Esc(member)}/report", report, ct).ConfigureAwait(false);

    public async Task<GroupStatus> SwitchoverAsync(string group, string to, CancellationToken ct = default) =>
        await SendAsync<GroupStatus>(HttpMethod.Post, $"v1/groups/{Esc(group)}/switchover", new SwitchoverRequest(to), ct).ConfigureAwait(false);

    public async Task<GroupStatus> SetPausedAsync(string group, bool paused, CancellationToken ct = default) =>
        await SendAsync<GroupStatus>(HttpMethod.Post, $"v1/groups/{Esc(group)}/{(paused ? "pause" : "resume")}", null, ct).ConfigureAwait(false);

    public async Task<DrillStarted> DrillAsync(string group, string mode, TimeSpan? duration = null, CancellationToken ct = default) =>
        await SendAsync<DrillStarted>(HttpMethod.Post, $"v1/groups/{Esc(group)}/drill", new DrillRequest(mode, duration), ct).ConfigureAwait(false);

    public void Dispose() => http.Dispose();

    private async Task<T> SendAsync<T>(HttpMethod method, string url, object? body, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(method, new Uri(url, UriKind.Relative));
        if (body is not null)
        {
            request.Content = JsonContent.Create(body, body.GetType(), options: HaloJson.Options);
        }

        using var response = await http.SendAsync(request, ct).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            var text = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
            string? detail = null;
            try
            {
                using var doc = System.Text.Json.JsonDocument.Parse(text);
                detail = doc.RootElement.TryGetProperty("detail", out var d) ? d.GetString() : null;
            }
            catch (System.Text.Json.JsonException)
            {
            }

            throw new HaloApiException(response.StatusCode, detail ?? $"{(int)response.StatusCode} {response.ReasonPhrase}");
        }

        return (await response.Content.ReadFromJsonAsync<T>(HaloJson.Options, ct).ConfigureAwait(false))!;
    }

    private static string Esc(string s) => Uri.EscapeDataString(s);
}

public sealed record DrillStarted(long DrillId, string Member, string Mode, long Epoch, DateTimeOffset At);
