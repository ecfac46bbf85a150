using System.Net;
using Halo.Core.Failover;
using Halo.Core.Serialization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Halo.Agent;

/// <summary>
/// The agent's one HTTP endpoint, POST /v1/failsafe/promise, through which a primary's agent asks this member's agent for a
/// failsafe promise (docs/ha.md, "The data path outlives the control plane"). No token: a promise can only keep a member that
/// follows the primary and reaches no server from being promoted for a few seconds, which no server could do meanwhile anyway.
/// Binds loopback unless told otherwise.
/// </summary>
public sealed class FailsafeListener : IAsyncDisposable
{
    private readonly WebApplication _app;

    private FailsafeListener(WebApplication app) => _app = app;

    /// <summary>host:port the listener is bound to (port 0 resolved).</summary>
    public string Address { get; private set; } = "";

    /// <summary>Starts listening on <paramref name="endpoint"/> and answers requests with <paramref name="answer"/>.</summary>
    public static async Task<FailsafeListener> StartAsync(IPEndPoint endpoint, Func<FailsafePromiseRequest, Task<FailsafePromiseAnswer>> answer, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        ArgumentNullException.ThrowIfNull(answer);
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(endpoint);
            k.Limits.MaxRequestBodySize = 4096;
        });
        builder.Services.AddProblemDetails();
        var app = builder.Build();
        app.MapPost("/v1/failsafe/promise", async (HttpContext http) =>
        {
            FailsafePromiseRequest? request;
            try
            {
                request = await http.Request.ReadFromJsonAsync<FailsafePromiseRequest>(HaloJson.Options, http.RequestAborted).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is System.Text.Json.JsonException or InvalidOperationException or BadHttpRequestException)
            {
                return Invalid("body", $"not a promise request: {ex.Message}");
            }

            if (request is null)
            {
                return Invalid("body", "a JSON object with group, member, primary and epoch is required");
            }

            if (string.IsNullOrEmpty(request.Group))
            {
                return Invalid("group", "required");
            }

            if (string.IsNullOrEmpty(request.Member))
            {
                return Invalid("member", "required");
            }

            if (string.IsNullOrEmpty(request.Primary))
            {
                return Invalid("primary", "required");
            }

            if (request.Epoch < 1)
            {
                return Invalid("epoch", "must be 1 or more");
            }

            return TypedResults.Json(await answer(request).ConfigureAwait(false), HaloJson.Options);
        });
        await app.StartAsync(ct).ConfigureAwait(false);
        var listener = new FailsafeListener(app);
        var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var uri = new Uri(bound);
        listener.Address = $"{endpoint.Address}:{uri.Port}";
        return listener;
    }

    private static IResult Invalid(string field, string message) =>
        TypedResults.ValidationProblem(new Dictionary<string, string[]> { [field] = [message] }, title: "Invalid request", detail: $"{field}: {message}");

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }
}
