using System.CommandLine;
using System.Net.Http.Json;
using System.Text.Json;
using Halo.Client;
using Halo.Core.Serialization;
using Halo.Server.Security;

namespace Halo.Cli.Commands;

/// <summary>`halo token create/list/revoke`: admin-only token management (docs/security.md).</summary>
internal static class TokenCommands
{
    public static Command Create()
    {
        var name = new Argument<string>("name") { Description = "Token name (unique; shown in audit events)" };
        var role = new Option<string>("--role") { Description = HaloRoles.Rule, Required = true };
        var services = new Option<string[]>("--service") { Description = "Limit the token to this service (repeatable)" };
        var groups = new Option<string[]>("--group") { Description = "Limit the token to this group (repeatable)" };
        var member = new Option<string?>("--member") { Description = "group/member: an agent's register token, which may report only as that member" };
        var output = new Option<string?>("--out") { Description = "Write the secret to this file (0600) instead of printing it" };
        var create = new Command("create", "Create a token; its secret is shown once") { name, role, services, groups, member, output };
        create.SetAction((parse, ct) => CommonOptions.Run(async () =>
        {
            using var http = Http(parse);
            var body = new
            {
                name = parse.GetValue(name),
                role = parse.GetValue(role),
                services = parse.GetValue(services) is { Length: > 0 } s ? s : null,
                groups = parse.GetValue(groups) is { Length: > 0 } g ? g : null,
                member = parse.GetValue(member),
            };
            using var response = await http.PostAsJsonAsync("v1/tokens", body, HaloJson.Options, ct);
            var created = await ReadAsync(response, ct);
            var secret = created.GetProperty("token").GetString()!;
            if (parse.GetValue(output) is { } file)
            {
                await TokenSecret.WriteFileAsync(file, secret, ct);
                Console.WriteLine($"token {body.name} ({body.role}) written to {file}");
            }
            else if (parse.GetValue(CommonOptions.Json))
            {
                CommonOptions.WriteJson(created);
            }
            else
            {
                Console.WriteLine(secret);
                await Console.Error.WriteLineAsync($"token {body.name} ({body.role}): the secret above is shown once; keep it in a file readable by its user only");
            }

            return 0;
        }));

        var list = new Command("list", "List tokens (names, roles, scopes; never secrets)");
        list.SetAction((parse, ct) => CommonOptions.Run(async () =>
        {
            using var http = Http(parse);
            using var response = await http.GetAsync(new Uri("v1/tokens", UriKind.Relative), ct);
            var tokens = await ReadAsync(response, ct);
            if (parse.GetValue(CommonOptions.Json))
            {
                CommonOptions.WriteJson(tokens);
                return 0;
            }

            foreach (var t in tokens.GetProperty("tokens").EnumerateArray())
            {
                var scope = new List<string>();
                if (t.TryGetProperty("services", out var s)) scope.Add("services " + string.Join(',', s.EnumerateArray().Select(x => x.GetString())));
                if (t.TryGetProperty("groups", out var g)) scope.Add("groups " + string.Join(',', g.EnumerateArray().Select(x => x.GetString())));
                if (t.TryGetProperty("member", out var m)) scope.Add("member " + m.GetString());
                Console.WriteLine($"{t.GetProperty("name").GetString(),-24} {t.GetProperty("role").GetString(),-9} {t.GetProperty("id").GetString()}  {(scope.Count == 0 ? "all" : string.Join("; ", scope))}");
            }

            return 0;
        }));

        var target = new Argument<string>("token") { Description = "Name or id of the token" };
        var revoke = new Command("revoke", "Revoke a token: it stops working at once") { target };
        revoke.SetAction((parse, ct) => CommonOptions.Run(async () =>
        {
            using var http = Http(parse);
            using var response = await http.DeleteAsync(new Uri($"v1/tokens/{Uri.EscapeDataString(parse.GetValue(target)!)}", UriKind.Relative), ct);
            if (!response.IsSuccessStatusCode)
            {
                await ReadAsync(response, ct);
            }

            Console.WriteLine($"token {parse.GetValue(target)} revoked");
            return 0;
        }));

        return new Command("token", "Manage access tokens (admin)") { create, list, revoke };
    }

    private static HttpClient Http(ParseResult parse) => HaloHttp.CreateClient(CommonOptions.ClientOptions(parse));

    private static async Task<JsonElement> ReadAsync(HttpResponseMessage response, CancellationToken ct)
    {
        var text = await response.Content.ReadAsStringAsync(ct);
        if (!response.IsSuccessStatusCode)
        {
            var detail = text;
            try
            {
                detail = JsonDocument.Parse(text).RootElement.GetProperty("detail").GetString() ?? text;
            }
            catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException)
            {
            }

            throw new CliException($"{(int)response.StatusCode} {detail}");
        }

        return JsonDocument.Parse(text).RootElement.Clone();
    }
}
