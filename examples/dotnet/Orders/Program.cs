// Orders: registers itself as "orders" and calls "inventory" by name; Halo resolves the name to live instances.
var builder = WebApplication.CreateBuilder(args);
builder.Services.AddHealthChecks();
builder.AddHaloRegistration(o => o.Service = "orders");
builder.Services.AddHaloServiceDiscovery();
// Halo chooses the instance (peak-ewma by default, Halo:Discovery:Balancing) and reports failed calls, as the gateway does.
builder.Services.AddHttpClient("inventory", c => c.BaseAddress = new Uri("http://inventory")).AddHaloServiceDiscovery();

var app = builder.Build();
app.MapGet("/order/{sku}", async (string sku, IHttpClientFactory clients) =>
{
    var stock = await clients.CreateClient("inventory").GetFromJsonAsync<Stock>($"/stock/{Uri.EscapeDataString(sku)}");
    return new { sku, accepted = stock is { Available: > 0 }, inventory = stock?.ServedBy };
});
app.MapHealthChecks("/healthz");
app.Run();

internal sealed record Stock(string Sku, int Available, string ServedBy);
