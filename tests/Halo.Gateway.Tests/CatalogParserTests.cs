using Halo.Gateway.Feed;

namespace Halo.Gateway.Tests;

public class CatalogParserTests
{
    [Theory]
    [InlineData("""{"revision":7,"instances":[{"service":"web","id":"a","address":"127.0.0.1","port":1,"health":"passing"}]}""", null, 7)]
    [InlineData("""{"revision":8,"services":[{"name":"web","instances":[{"id":"a","address":"127.0.0.1","port":1}]}]}""", null, 8)]
    [InlineData("""{"revision":9,"services":{"web":[{"id":"a","address":"127.0.0.1","port":1}]}}""", null, 9)]
    [InlineData("""[{"service":"web","id":"a","address":"127.0.0.1","port":1}]""", "11", 11)]
    public void Parse_CatalogShapes_ReadInstancesAndRevision(string json, string? header, long revision)
    {
        var (instances, rev) = CatalogParser.Parse(json, header);

        Assert.Equal(revision, rev);
        var i = Assert.Single(instances);
        Assert.Equal(("web", "a", 1), (i.Service, i.Id, i.Port));
        Assert.Null(i.Problem());
    }

    [Theory]
    [InlineData("""{"service":"web","id":"a","address":"127.0.0.1","port":0}""", "port")]
    [InlineData("""{"service":"web","id":"a","address":"","port":80}""", "address")]
    [InlineData("""{"service":"web","id":"a","address":"not an address!","port":80}""", "address")]
    [InlineData("""{"service":"web","id":"","address":"127.0.0.1","port":80}""", "id")]
    [InlineData("""{"service":"web","id":"a","address":"127.0.0.1","port":80,"health":"dead"}""", "health")]
    public void Problem_InvalidInstance_NamesWhatIsWrong(string json, string word)
    {
        var i = System.Text.Json.JsonSerializer.Deserialize<InstanceRecord>(json, new System.Text.Json.JsonSerializerOptions(System.Text.Json.JsonSerializerDefaults.Web))!;

        Assert.Contains(word, i.Problem(), StringComparison.Ordinal);
    }
}
