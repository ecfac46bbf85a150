using System.Net;
using System.Net.Http.Json;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Halo.Core.Registry;
using Halo.Core.Serialization;

namespace Halo.Client;

/// <summary>A typed client of the control-plane API (docs/api.md), used by the CLI, agents, samples and SDK users.</summary>
public sealed class HaloClient(HttpClient http) : IDisposable
{
    public HaloClient(Uri server) : this(new HttpClient(new SocketsHttpHandler { UseProxy = false }) { BaseAddress = server, Timeout = TimeSpan.FromSeconds(30) })
    {
    }

    public Uri? BaseAddress => http.BaseAddress;

    public async Task<InstanceRecord> RegisterAsync(string service, string id, object registration, CancellationToken ct = default)
    {
        using var response = await http.PutAsJsonAsync($"v1/services/{Esc(service)}/instances/{Esc(id)}", registration, HaloJson.Options, ct).ConfigureAwait(false);
        return await ReadAsync<InstanceRecord>(response, ct).ConfigureAwait(false);
    }

    /// <summary>Heartbeats one instance. Returns false when the server does not know it (the caller should re-register).</summary>
    public async Task<bool> HeartbeatAsync(string service, string id, CancellationToken ct = default)
    {
        using var response = await http.PostAsync(new Uri($"v1/services/{Esc(service)}/instances/{Esc(id)}/heartbeat", UriKind.Relative), null, ct).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return false;
        }

        await EnsureAsync(response, ct).ConfigureAwait(false);
        return true;
    }

    public async Task DeregisterAsync(string service, string id, CancellationToken ct = default)
    {
        using var response = await http.DeleteAsync(new Uri($"v1/services/{Esc(service)}/instances/{Esc(id)}", UriKind.Relative), ct).ConfigureAwait(false);
        await EnsureAsync(response, ct).ConfigureAwait(false);
    }

    public async Task<InstanceRecord> DrainAsync(string service, string id, bool draining, CancellationToken ct = default)
    {
        using var response = await http.PutAsJsonAsync($"v1/services/{Esc(service)}/instances/{Esc(id)}/drain", new { draining }, HaloJson.Options, ct).ConfigureAwait(false);
        return await ReadAsync<InstanceRecord>(response, ct).ConfigureAwait(false);
    }

    public async Task<ServiceList> ServicesAsync(CancellationToken ct = default)
    {
        using var response = await http.GetAsync(new Uri("v1/services", UriKind.Relative), ct).ConfigureAwait(false);
        return await ReadAsync<ServiceList>(response, ct).ConfigureAwait(false);
    }

    /// <summary>Instances of a service; with <paramref name="index"/>, a blocking query that returns once the service changes past it.</summary>
    public async Task<InstanceList> InstancesAsync(string service, string? health = null, long? index = null, TimeSpan? wait = null, CancellationToken ct = default)
    {
        var query = new List<string>();
        if (health is not null) query.Add("health=" + Uri.EscapeDataString(health));
        if (index is not null) query.Add("index=" + index.Value.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (wait is not null) query.Add("wait=" + Core.Durations.Format(wait.Value));
        var url = $"v1/services/{Esc(service)}/instances" + (query.Count > 0 ? "?" + string.Join('&', query) : "");
        using var response = await http.GetAsync(new Uri(url, UriKind.Relative), ct).ConfigureAwait(false);
        return await ReadAsync<InstanceList>(response, ct).ConfigureAwait(false);
    }

    public async Task<EventList> EventsAsync(long after = 0, int limit = 100, string? service = null, string? type = null, CancellationToken ct = default)
    {
        var url = $"v1/events?after={after}&limit={limit}" + (service is null ? "" : "&service=" + Esc(service)) + (type is null ? "" : "&type=" + Esc(type));
        using var response = await http.GetAsync(new Uri(url, UriKind.Relative), ct).ConfigureAwait(false);
        return await ReadAsync<EventList>(response, ct).ConfigureAwait(false);
    }

    /// <summary>Follows a Server-Sent Events stream (the change feed or the event stream), resuming after disconnects from the last id seen.</summary>
    public async IAsyncEnumerable<SseMessage> StreamAsync(string path, long? from, [EnumeratorCancellation] CancellationToken ct = default)
    {
        var separator = path.Contains('?', StringComparison.Ordinal) ? '&' : '?';
        var url = from is null ? path : $"{path}{separator}{(path.Contains("events", StringComparison.Ordinal) ? "after" : "from")}={from}";
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(url, UriKind.Relative));
        request.Headers.Accept.ParseAdd("text/event-stream");
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
        await EnsureAsync(response, ct).ConfigureAwait(false);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false), Encoding.UTF8);
        string? type = null, data = null;
        long id = 0;
        while (await reader.ReadLineAsync(ct).ConfigureAwait(false) is { } line)
        {
            if (line.Length == 0)
            {
                if (data is not null)
                {
                    yield return new SseMessage(type ?? "message", id, data);
                }

                type = data = null;
            }
            else if (line.StartsWith("event: ", StringComparison.Ordinal)) type = line[7..];
            else if (line.StartsWith("data: ", StringComparison.Ordinal)) data = line[6..];
            else if (line.StartsWith("id: ", StringComparison.Ordinal)) _ = long.TryParse(line.AsSpan(4), out id);
        }
    }

    public void Dispose() => http.Dispose();

    private static string Esc(string s) => Uri.EscapeDataString(s);

    private static async Task<T> ReadAsync<T>(HttpResponseMessage response, CancellationToken ct)
    {
        await EnsureAsync(response, ct).ConfigureAwait(false);
        return (await response.Content.ReadFromJsonAsync<T>(HaloJson.Options, ct).ConfigureAwait(false))!;
    }

    private static async Task EnsureAsync(HttpResponseMessage response, CancellationToken ct)
    {
        if (response.IsSuccessStatusCode)
        {
            return;
        }

        var body = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
        string? detail = null;
        try
        {
            using var doc = JsonDocument.Parse(body);
            detail = doc.RootElement.TryGetProperty("detail", out var d) ? d.GetString() : null;
            detail ??= doc.RootElement.TryGetProperty("title", out var t) ? t.GetString() : null;
        }
        catch (JsonException)
        {
        }

        throw new HaloApiException(response.StatusCode, detail ?? $"{(int)response.StatusCode} {response.ReasonPhrase}");
    }
}

public sealed class HaloApiException(HttpStatusCode status, string message) : Exception(message)
{
    public HttpStatusCode Status { get; } = status;
}

public sealed record SseMessage(string Event, long Id, string Data);

public sealed record ServiceSummary(string Name, int Instances, int Passing, int Suspect, int Critical, int Draining, bool BrakeEngaged, string? DetectionBound = null);

public sealed record ServiceList(long Revision, IReadOnlyList<ServiceSummary> Services);

public sealed record InstanceList(string Service, long Revision, IReadOnlyList<InstanceRecord> Instances);

public sealed record EventList(IReadOnlyList<RegistryEvent> Events);
