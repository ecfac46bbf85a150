// Every wait in these tests has its own bound.
#pragma warning disable xUnit1051

using System.Diagnostics;
using System.Net;
using System.Text;
using Halo.Agent.Drivers;
using Halo.Client;
using Halo.Core.Failover;
using Halo.IntegrationTests.Failover;

namespace Halo.IntegrationTests.Security;

/// <summary>
/// End to end (issue 12, "what it must show"): a real `halo server`, three real redis-servers each run by a real `halo agent`
/// holding its own member-bound token (`halo token create --member cache/rN`), and a real `halo tcp-proxy --role primary`.
/// A report in the primary's name that points at an attacker's redis-server — sent with another member's token, or with a
/// plain `register` token — is refused with 403 and changes nothing: the group's stored primary, its address and epoch stay,
/// and writes through the proxy keep landing on the real primary (read back from that redis-server directly), never on the
/// attacker's.
/// </summary>
public sealed class ForgedReportTests(ITestOutputHelper output) : IAsyncDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);
    private readonly ProcessScope _scope = new(output, "forged", outputLines: 10);

    [Fact]
    public async Task ReportInThePrimarysName_WithAnotherMembersOrAPlainRegisterToken_Forbidden403_ProxyStillWritesToTheRealPrimary()
    {
        var server = _scope.Start("server", "--listen", "127.0.0.1:0", "--data", _scope.Path("data"));
        var url = (await server.WaitForLineAsync("halo server listening on ", Bound)).Split(' ')[4].TrimEnd('/');
        var admin = new HaloClientOptions { Servers = [new Uri(url)], Token = HaloProcess.Token };
        using var groups = new GroupClient(admin);
        await groups.PutAsync("cache", new GroupPolicy { AntiFlapWindow = TimeSpan.Zero });

        // Each agent gets a token bound to its own member; one more token may register but is bound to no member.
        for (var i = 1; i <= 3; i++)
        {
            await CreateTokenAsync(url, $"agent-r{i}", "--member", $"cache/r{i}");
        }

        await CreateTokenAsync(url, "instances");
        for (var i = 1; i <= 3; i++)
        {
            var redis = await _scope.StartRedisAsync();
            _scope.Start("agent", "--group", "cache", "--member", $"r{i}", "--redis", redis.Address, "--server", url, "--token-file", TokenPath($"agent-r{i}"));
        }

        // The attacker's redis-server, where a forged report would like the proxy to send every client.
        var attacker = await _scope.StartRedisAsync();

        var proxy = _scope.Start("tcp-proxy", "--group", "cache", "--role", "primary", "--listen", "127.0.0.1:0", "--server", url);
        var proxyPort = new Uri("tcp://" + (await proxy.WaitForLineAsync("halo tcp-proxy for cache/primary listening on ", Bound)).Split(' ')[^1]).Port;

        var before = await GroupWait.UntilAsync(groups, "cache", s => s.PrimaryConfirmed && s.Members.Count(m => m.Role == MemberRole.Replica && m.Healthy) == 2, Bound);
        var primaryName = before.Primary!;
        var primary = _scope.Redis[int.Parse(primaryName.AsSpan(1), System.Globalization.CultureInfo.InvariantCulture) - 1];
        Assert.Equal(primary.Address, before.PrimaryAddress);
        var other = primaryName == "r1" ? "r2" : "r1";
        output.WriteLine($"primary {primaryName} at {before.PrimaryAddress}, epoch {before.Epoch}; forging with {other}'s token and a plain register token");
        await Eventually.UntilAsync(async () => await TrySetAsync(proxyPort, "warm", "up"), Bound, "a write through the proxy");

        // The forged report: the primary's name, the current epoch, a far-ahead offset, the attacker's address.
        var forged = $$"""{"address":"{{attacker.Address}}","role":"primary","epoch":{{before.Epoch}},"dbUp":true,"healthy":true,"offset":999999999,"kind":"redis"}""";
        foreach (var (token, expected) in new[] { ($"agent-{other}", $"reports only as cache/{other}"), ("instances", "") })
        {
            using var http = new HttpClient { BaseAddress = new Uri(url), Timeout = Bound };
            http.DefaultRequestHeaders.Authorization = new("Bearer", (await File.ReadAllTextAsync(TokenPath(token))).Trim());
            for (var attempt = 0; attempt < 5; attempt++)
            {
                using var response = await http.PostAsync($"/v1/groups/cache/members/{primaryName}/report", new StringContent(forged, Encoding.UTF8, "application/json"));
                var body = await response.Content.ReadAsStringAsync();
                Assert.True(response.StatusCode == HttpStatusCode.Forbidden, $"{token}: {(int)response.StatusCode} {body}");
                Assert.Contains(expected, body, StringComparison.Ordinal);
            }
        }

        // Nothing changed: same primary, same address, same epoch, and for a while every write through the proxy lands on the
        // real primary and never on the attacker's server. The window covers the agents' next reports and the proxy's feed.
        var sw = Stopwatch.StartNew();
        var writes = 0;
        while (sw.Elapsed < TimeSpan.FromSeconds(3) || writes < 5)
        {
            var value = $"v{writes}";
            Assert.True(await TrySetAsync(proxyPort, "forged-test", value), "a write through the proxy failed after the forged reports");
            Assert.Equal(value, await primary.ExecuteAsync("GET", "forged-test"));
            Assert.Null(await attacker.ExecuteAsync("GET", "forged-test"));
            writes++;
            if (sw.Elapsed > Bound)
            {
                break;
            }
        }

        var after = await groups.GetAsync("cache");
        Assert.Equal(primaryName, after.Primary);
        Assert.Equal(primary.Address, after.PrimaryAddress);
        Assert.Equal(before.Epoch, after.Epoch);
        Assert.Equal(primary.Address, after.Members.Single(m => m.Name == primaryName).Address);
        Assert.DoesNotContain(after.Members, m => m.Address == attacker.Address);
        Assert.Equal("master", (await primary.RoleAsync())?.Role);
        output.WriteLine($"{writes} writes through the proxy after the forged reports, each read back from {primaryName}; none on the attacker's server");
    }

    private string TokenPath(string name) => _scope.Path(name + ".token");

    /// <summary>`halo token create NAME --role register [--member group/member] --out FILE`, run with the suite's admin token.</summary>
    private async Task CreateTokenAsync(string url, string name, params string[] scope)
    {
        var (code, printed) = await HaloProcess.RunAsync(Bound, ["token", "create", name, "--role", "register", .. scope, "--out", TokenPath(name), "--server", url]);
        Assert.True(code == 0, printed);
    }

    /// <summary>SET through the proxy on a fresh connection; false when the proxy or the database refused it.</summary>
    private static async Task<bool> TrySetAsync(int port, string key, string value)
    {
        try
        {
            await using var c = await RespConnection.ConnectAsync("127.0.0.1", port, TimeSpan.FromSeconds(2));
            return await c.ExecuteAsync(TimeSpan.FromSeconds(2), default, "SET", key, value) is "OK";
        }
        catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or OperationCanceledException)
        {
            return false;
        }
    }

    public ValueTask DisposeAsync() => _scope.DisposeAsync();
}
