namespace Halo.Client.Tests;

/// <summary>Client options from flags and environment: the documented token lookup order, and bad values named.</summary>
public sealed class OptionsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("halo-options-").FullName;
    private readonly Dictionary<string, string> _env = [];

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private HaloClientOptions Build(HaloConnectionOptions? given = null) =>
        new HaloClientOptionsBuilder(name => _env.GetValueOrDefault(name), _dir).Build(given ?? new HaloConnectionOptions());

    private string Write(string relative, string text)
    {
        var path = Path.Combine(_dir, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void Build_Nothing_LocalDefaultServerNoToken()
    {
        var options = Build();

        Assert.Equal([new Uri("http://127.0.0.1:7400/")], options.Servers);
        Assert.Null(options.Token);
    }

    [Fact]
    public void Build_ServerList_ParsedInOrderWithSlash()
    {
        _env["HALO_SERVER"] = "http://127.0.0.1:9/";
        var options = Build(new HaloConnectionOptions { Server = "http://127.0.0.1:1, https://h2:7400/halo" });

        Assert.Equal([new Uri("http://127.0.0.1:1/"), new Uri("https://h2:7400/halo/")], options.Servers);
    }

    [Fact]
    public void Build_ServerFromEnvironment_WhenNoFlag()
    {
        _env["HALO_SERVER"] = "http://127.0.0.1:1,http://127.0.0.1:2";

        Assert.Equal(2, Build().Servers.Count);
    }

    [Theory]
    [InlineData("ftp://x", "--server: 'ftp://x' is not an http(s) URL")]
    [InlineData("http://a:1,,http://b:2", "--server: 'http://a:1,,http://b:2' has an empty entry")]
    [InlineData(",", "--server: no server address given")]
    [InlineData("127.0.0.1:7400", "--server: '127.0.0.1:7400' is not an http(s) URL")]
    [InlineData("http://a:1/?x=1", "--server: 'http://a:1/?x=1' is not an http(s) URL")]
    public void Build_BadServer_NamesFlag(string server, string message)
    {
        var b = new HaloConnectionOptions();
        b.Server = server;

        var error = Assert.Throws<HaloOptionsException>(() => Build(b));

        Assert.Equal(message, error.Message);
        Assert.Equal("--server", error.Option);
    }

    [Fact]
    public void Build_BadServerFromEnvironment_NamesVariable()
    {
        _env["HALO_SERVER"] = "nowhere";

        Assert.Equal("HALO_SERVER", Assert.Throws<HaloOptionsException>(() => Build()).Option);
    }

    [Fact]
    public void Token_LookupOrder_FlagEnvFileEnvFileThenDefaultDirectories()
    {
        Write(Path.Combine(".halo", "up", "bootstrap.token"), "from-up\n");
        Assert.Equal("from-up", Build().Token);

        Write(Path.Combine(".halo", "data", "bootstrap.token"), "from-server\n");
        Assert.Equal("from-server", Build().Token);

        _env["HALO_TOKEN_FILE"] = Write("env.token", "from-env-file");
        Assert.Equal("from-env-file", Build().Token);

        var b = new HaloConnectionOptions();
        b.TokenFile = Write("flag.token", " from-flag-file \n");
        Assert.Equal("from-flag-file", Build(b).Token);

        _env["HALO_TOKEN"] = "from-env";
        Assert.Equal("from-env", Build(b).Token);

        b.Token = "from-flag";
        var options = Build(b);
        Assert.Equal(("from-flag", "--token"), (options.Token, options.TokenSource));
    }

    [Fact]
    public void Token_DefaultDirectories_NotSentToRemoteServer()
    {
        Write(Path.Combine(".halo", "data", "bootstrap.token"), "admin");
        var b = new HaloConnectionOptions();
        b.Server = "http://127.0.0.1:7400,https://halo.example:7400";

        Assert.Null(Build(b).Token);
    }

    [Fact]
    public void Token_MissingFile_NamesFlag()
    {
        var b = new HaloConnectionOptions();
        b.TokenFile = "nope.token";

        var error = Assert.Throws<HaloOptionsException>(() => Build(b));

        Assert.Equal("--token-file: file 'nope.token' does not exist", error.Message);
    }

    [Fact]
    public void Token_WithSpaces_Refused()
    {
        _env["HALO_TOKEN"] = "two words";

        Assert.Equal("HALO_TOKEN", Assert.Throws<HaloOptionsException>(() => Build()).Option);
    }

    [Fact]
    public void ClientKey_WithoutCertificate_Refused()
    {
        var b = new HaloConnectionOptions();
        b.ClientKeyFile = Write("client.key", "x");

        Assert.Equal("--client-key: needs --client-cert", Assert.Throws<HaloOptionsException>(() => Build(b)).Message);
    }

    [Fact]
    public void Validate_BadTimeouts_NameProperty()
    {
        Assert.StartsWith("AttemptTimeout:", new HaloClientOptions { AttemptTimeout = TimeSpan.Zero }.Validate(), StringComparison.Ordinal);
        Assert.StartsWith("RequestTimeout:", new HaloClientOptions { RequestTimeout = TimeSpan.FromSeconds(1) }.Validate(), StringComparison.Ordinal);
        Assert.StartsWith("Servers:", new HaloClientOptions { Servers = [] }.Validate(), StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => new HaloClient(new HaloClientOptions { Servers = [new Uri("ftp://x/")] }));
    }
}
