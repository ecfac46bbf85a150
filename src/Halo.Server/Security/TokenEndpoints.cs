using Halo.Core.Registry;
using Halo.Server.Api;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Halo.Server.Security;

/// <summary>Token management (`halo token create/list/revoke`): admin only. A secret is returned once, at creation.</summary>
internal static class TokenEndpoints
{
    public sealed record TokenRequest(string? Name, string? Role, List<string>? Services, List<string>? Groups, string? Member);

    public sealed record TokenView(string Id, string Name, HaloRole Role, IReadOnlyList<string>? Services, IReadOnlyList<string>? Groups,
        string? Member, DateTimeOffset Created, string? CreatedBy)
    {
        public static TokenView Of(TokenRecord r) => new(r.Id, r.Name, r.Role, r.Services, r.Groups, r.Member, r.Created, r.CreatedBy);
    }

    public sealed record CreatedToken(string Token, TokenView Record);

    public static void MapTokens(this IEndpointRouteBuilder app)
    {
        app.MapPost("/v1/tokens", CreateAsync).RequireRole(HaloRole.Admin);
        app.MapGet("/v1/tokens", (TokenService tokens) =>
            TypedResults.Ok(new { tokens = tokens.All.OrderBy(t => t.Name, StringComparer.Ordinal).Select(TokenView.Of).ToList() })).RequireRole(HaloRole.Admin);
        app.MapDelete("/v1/tokens/{token}", RevokeAsync).RequireRole(HaloRole.Admin);
    }

    private static async Task<IResult> CreateAsync(HttpContext context, TokenService tokens, ServerOptions options)
    {
        var (request, error) = await JsonBody.ReadAsync<TokenRequest>(context, options.MaxRequestBodyBytes);
        if (error is not null)
        {
            return error;
        }

        var r = request!;
        var errors = new Dictionary<string, string[]>();
        if (!Names.IsValid(r.Name)) errors["name"] = [$"required: {Names.Rule}"];
        if (!HaloRoles.TryParse(r.Role, out var role)) errors["role"] = [$"required: {HaloRoles.Rule}"];
        if (r.Services is { } services && (services.Count > 1000 || services.Any(s => !Names.IsValid(s)))) errors["services"] = [$"at most 1000 names, each {Names.Rule}"];
        if (r.Groups is { } groups && (groups.Count > 1000 || groups.Any(g => !Names.IsValid(g)))) errors["groups"] = [$"at most 1000 names, each {Names.Rule}"];
        string? group = null;
        if (r.Member is { } member)
        {
            var parts = member.Split('/');
            if (parts.Length != 2 || !Names.IsValid(parts[0]) || !Names.IsValid(parts[1]))
            {
                errors["member"] = ["must be group/member, each a valid name"];
            }
            else if (role != HaloRole.Register)
            {
                errors["member"] = ["only a register token is bound to a member (an agent's token)"];
            }
            else if (r.Groups is { } gs && (gs.Count != 1 || gs[0] != parts[0]))
            {
                errors["groups"] = ["a member's token covers its own group only; leave groups out"];
            }
            else
            {
                group = parts[0];
            }
        }

        if (errors.Count > 0)
        {
            return Problems.Invalid(errors);
        }

        var caller = Caller.Of(context)!;
        var template = new TokenRecord
        {
            Id = "", Hash = "", Name = r.Name!, Role = role, CreatedBy = caller.Name, Member = r.Member,
            // An agent's token speaks for its member and nothing else, unless services are named explicitly.
            Services = r.Services ?? (r.Member is null ? null : []),
            Groups = group is null ? r.Groups : [group],
        };
        if (await tokens.CreateAsync(template, null, context.RequestAborted) is not { } created)
        {
            return TypedResults.Problem(title: "Conflict", detail: $"a token named {r.Name} exists; revoke it first", statusCode: StatusCodes.Status409Conflict,
                extensions: new Dictionary<string, object?> { ["errors"] = new Dictionary<string, string[]> { ["name"] = ["already exists"] } });
        }

        return TypedResults.Created($"/v1/tokens/{created.Record.Name}", new CreatedToken(created.Secret, TokenView.Of(created.Record)));
    }

    private static async Task<IResult> RevokeAsync(string token, HttpContext context, TokenService tokens)
    {
        if (await tokens.RevokeAsync(token, context.RequestAborted) is not { } revoked)
        {
            return Problems.NotFound($"no token named or with id {token}");
        }

        return TypedResults.NoContent();
    }
}
