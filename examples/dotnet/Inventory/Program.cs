// Inventory: registers itself with Halo as "inventory" and answers stock queries.
var builder = WebApplication.CreateBuilder(args);
builder.Services.AddHealthChecks();
builder.AddHaloRegistration(o => o.Service = "inventory");

var app = builder.Build();
var instance = Environment.GetEnvironmentVariable("INSTANCE") ?? Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);
app.MapGet("/stock/{sku}", (string sku) => new { sku, available = sku.Length * 7, servedBy = instance });
app.MapHealthChecks("/healthz");
app.Run();
