using Microsoft.AspNetCore.Http;

namespace Halo.Server.Api;

/// <summary>RFC 9457 problem responses: every error names what is wrong, never a bare status.</summary>
internal static class Problems
{
    public static IResult Invalid(Dictionary<string, string[]> errors) =>
        TypedResults.ValidationProblem(errors, title: "Invalid request", detail: string.Join("; ", errors.Select(e => $"{e.Key}: {string.Join(", ", e.Value)}")));

    public static IResult Invalid(string field, string message) => Invalid(new Dictionary<string, string[]> { [field] = [message] });

    /// <summary>A server.limits cap on what is stored (not a rate): 409, since retrying changes nothing until something is removed.</summary>
    public static IResult OverLimit(string key, string detail) => Named(StatusCodes.Status409Conflict, "Limit reached", key, detail);

    /// <summary>The caller's token may not do this with this value: 403 naming the field.</summary>
    public static IResult Forbidden(string field, string detail) => Named(StatusCodes.Status403Forbidden, "Forbidden", field, detail);

    private static IResult Named(int status, string title, string field, string detail) => TypedResults.Problem(
        title: title, detail: detail, statusCode: status,
        extensions: new Dictionary<string, object?> { ["errors"] = new Dictionary<string, string[]> { [field] = [detail] } });

    public static IResult NotFound(string what) => TypedResults.Problem(title: "Not found", detail: what, statusCode: StatusCodes.Status404NotFound);

    public static IResult TooLarge(int limit) => TypedResults.Problem(
        title: "Request body too large", detail: $"the body exceeds {limit} bytes", statusCode: StatusCodes.Status413PayloadTooLarge);

    public static IResult Unavailable(string detail) => TypedResults.Problem(
        title: "Store unavailable", detail: detail, statusCode: StatusCodes.Status503ServiceUnavailable);
}
