using System.Net.Http.Headers;
using System.Text.Json;

namespace Halo.Server.Alerts;

/// <summary>The outcome of one delivery: how many attempts it took and why the last one failed, if it did.</summary>
public sealed record DeliveryResult(string Webhook, bool Delivered, int Attempts, string? LastError);

/// <summary>
/// Posts one payload to one webhook, retrying with exponential back-off on the injected clock. Retries on
/// transport errors, timeouts, 5xx, 408 and 429 — the failures a receiver recovers from — and stops at any
/// other 4xx, which would fail the same way again (Alertmanager's notifier draws the same line).
/// </summary>
internal sealed class WebhookSender(IHttpClientFactory clients, AlertOptions options, TimeProvider time)
{
    public const string HttpClientName = "halo-alerts";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public async Task<DeliveryResult> SendAsync(string webhook, AlertPayload payload, CancellationToken cancellationToken)
    {
        var http = clients.CreateClient(HttpClientName);

        // Buffered with a Content-Length: many small receivers (scripts, chat bridges) do not read chunked bodies.
        var body = JsonSerializer.SerializeToUtf8Bytes(payload, Json);
        string? error = null;
        for (var attempt = 1; ; attempt++)
        {
            var retryable = true;
            using (var timeout = new CancellationTokenSource(options.Timeout, time))
            using (var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token))
            {
                try
                {
                    using var content = new ByteArrayContent(body);
                    content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
                    using var response = await http.PostAsync(webhook, content, linked.Token).ConfigureAwait(false);
                    if (response.IsSuccessStatusCode)
                    {
                        return new DeliveryResult(webhook, true, attempt, null);
                    }

                    var status = (int)response.StatusCode;
                    error = $"HTTP {status}";
                    retryable = status >= 500 || status is 408 or 429;
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    error = $"no answer within {options.Timeout.TotalSeconds:0.###} s";
                }
                catch (HttpRequestException ex)
                {
                    error = ex.Message;
                }
            }

            if (!retryable || attempt >= options.MaxAttempts)
            {
                return new DeliveryResult(webhook, false, attempt, error);
            }

            await Task.Delay(options.BackoffBefore(attempt), time, cancellationToken).ConfigureAwait(false);
        }
    }
}
