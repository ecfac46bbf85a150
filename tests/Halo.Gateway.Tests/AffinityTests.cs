namespace Halo.Gateway.Tests;

public class AffinityTests
{
    [Fact]
    public async Task ConsistentHashOnHeader_SameKey_SameBackendEveryTime()
    {
        await using var a = await InProcessBackend.StartAsync("a");
        await using var b = await InProcessBackend.StartAsync("b");
        await using var c = await InProcessBackend.StartAsync("c");
        await using var gw = await InProcessGateway.StartAsync($$"""
            routes: [{cluster: c}]
            clusters:
              c:
                policy: consistent-hash
                hash: { on: header, name: X-User }
                destinations: [{url: 'http://127.0.0.1:{{a.Port}}'}, {url: 'http://127.0.0.1:{{b.Port}}'}, {url: 'http://127.0.0.1:{{c.Port}}'}]
            """);

        var byUser = new Dictionary<string, HashSet<string>>();
        for (var i = 0; i < 60; i++)
        {
            var user = "user-" + (i % 12);
            using var request = new HttpRequestMessage(HttpMethod.Get, "/");
            request.Headers.Add("X-User", user);
            using var response = await gw.Client.SendAsync(request);
            response.EnsureSuccessStatusCode();
            (byUser.TryGetValue(user, out var set) ? set : byUser[user] = []).Add(response.Headers.GetValues("X-Backend").Single());
        }

        Assert.All(byUser.Values, backends => Assert.Single(backends));
        Assert.True(byUser.Values.Select(v => v.Single()).Distinct().Count() >= 2, "12 keys should spread over more than one backend");
    }
}
