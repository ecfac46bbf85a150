using System.Net;

namespace Halo.Client.Tests;

/// <summary>The one problem+json reader: detail first, then field errors, then title, then status; always one line.</summary>
public sealed class ProblemTests
{
    [Fact]
    public void Parse_ValidationProblem_FieldsKept()
    {
        var e = HaloApiException.Parse(HttpStatusCode.BadRequest, "Bad Request",
            """{"title":"Invalid request","status":400,"errors":{"port":["must be between 1 and 65535"],"id":["bad"]}}""");

        Assert.Equal("port: must be between 1 and 65535; id: bad", e.Message);
        Assert.Equal(["must be between 1 and 65535"], e.Errors["port"]);
        Assert.Equal("Invalid request", e.Title);
    }

    [Fact]
    public void Parse_Detail_PreferredAndOneLine()
    {
        var e = HaloApiException.Parse(HttpStatusCode.NotFound, "Not Found", """{"title":"Not found","detail":"no instance\nweb-1"}""");

        Assert.Equal("no instance web-1", e.Message);
    }

    [Theory]
    [InlineData("<html>bad gateway</html>")]
    [InlineData("")]
    [InlineData("[1,2]")]
    public void Parse_NotProblemJson_Status(string body)
    {
        var e = HaloApiException.Parse(HttpStatusCode.BadGateway, "Bad Gateway", body);

        Assert.Equal("502 Bad Gateway", e.Message);
        Assert.Empty(e.Errors);
    }
}
