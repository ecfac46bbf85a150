using Halo.Core.Networking;

namespace Halo.Core.Tests.Networking;

public sealed class HostPortTests
{
    [Theory]
    [InlineData("127.0.0.1:6379", "127.0.0.1", 6379)]
    [InlineData("db-1:5432", "db-1", 5432)]
    [InlineData("localhost:1", "localhost", 1)]
    [InlineData("[::1]:7400", "::1", 7400)]
    [InlineData("a.b.example:65535", "a.b.example", 65535)]
    public void TryParse_Valid_HostAndPort(string text, string host, int port)
    {
        Assert.True(HostPort.TryParse(text, out var value));
        Assert.Equal(new HostPort(host, port), value);
        Assert.Equal(text, value.ToString());
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("6379")]
    [InlineData(":6379")]
    [InlineData("host:")]
    [InlineData("host:0")]
    [InlineData("host:65536")]
    [InlineData("host:-1")]
    [InlineData("host:+80")]
    [InlineData("host: 80")]
    [InlineData(" host:80")]
    [InlineData("::1:80")]
    [InlineData("[127.0.0.1]:80")]
    [InlineData("[::1:80")]
    [InlineData("bad host:80")]
    [InlineData("http://host:80")]
    public void TryParse_Invalid_False(string? text) => Assert.False(HostPort.TryParse(text, out _));

    [Fact]
    public void TryParse_PortZero_OnlyWhenAnyPortAllowed()
    {
        Assert.False(HostPort.TryParse("127.0.0.1:0", out _));
        Assert.True(HostPort.TryParse("127.0.0.1:0", out var any, anyPort: true));
        Assert.Equal(0, any.Port);
    }

    [Fact]
    public void Parse_Invalid_MessageNamesField() =>
        Assert.Equal("--redis: 'x' " + HostPort.Rule, Assert.Throws<FormatException>(() => HostPort.Parse("x", "--redis")).Message);
}
