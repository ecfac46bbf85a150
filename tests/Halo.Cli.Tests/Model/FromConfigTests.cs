using System.Text.Json;

namespace Halo.Cli.Tests.Model;

public sealed class FromConfigTests
{
    [Fact]
    public void Invoke_ExampleConfig_PrintsFailoverBudgetWithSources()
    {
        var (exit, output, error) = CommandRunner.Run("--from-config", CommandRunner.Example("halo-config.yaml"));
        Assert.True(exit == 0, error);

        // 2 s lease + 100 ms controller tick + 0 decision + 2 s promote + 200 ms re-route.
        Assert.Contains("Failover budget, group cache: 4.3s", output);
        Assert.Contains("groups.cache.leaseTtl (line 10)", output);
        Assert.Contains("groups.cache.rerouteBound (line 10)", output);
    }

    [Fact]
    public void Invoke_ExampleConfigJson_FixedDetectionBoundIsMissedIntervalsPlusEvaluation()
    {
        var (exit, output, _) = CommandRunner.Run("--from-config", CommandRunner.Example("halo-config.yaml"), "--json");
        Assert.Equal(0, exit);
        var root = JsonDocument.Parse(output).RootElement;
        var server = root.GetProperty("detection")[0];
        Assert.Equal("fixed", server.GetProperty("kind").GetString());

        // 3 × 1 s missed + 250 ms first tick + (2 − 1) × 250 ms confirmation = 3.5 s.
        Assert.Equal(3500, server.GetProperty("boundMs").GetDouble());
        var web = root.GetProperty("detection")[1];
        Assert.Equal("phiAccrual", web.GetProperty("kind").GetString());
        Assert.True(web.GetProperty("boundMs").GetDouble() > 1500);
        Assert.Equal(4300, root.GetProperty("failover")[0].GetProperty("totalMs").GetDouble());
    }

    [Fact]
    public void Invoke_ExampleConfigJson_PredictsFirstAcknowledgedWritePerFaultKind()
    {
        var (exit, output, _) = CommandRunner.Run("--from-config", CommandRunner.Example("halo-config.yaml"), "--json");
        Assert.Equal(0, exit);
        var faults = JsonDocument.Parse(output).RootElement.GetProperty("faults").EnumerateArray().ToDictionary(f => f.GetProperty("fault").GetString()!);
        Assert.Equal(8, faults.Count);
        // Half the 100 ms agent interval to notice the crash + the measured 400 ms takeover.
        Assert.Equal(450, faults["kill-primary"].GetProperty("firstWriteMs").GetDouble());
        Assert.False(faults["cpu-starvation for 3s"].TryGetProperty("firstWriteMs", out _));
        Assert.Contains(faults["cut-agent-server for 3s"].GetProperty("terms").EnumerateArray(), t => t.GetProperty("sources").GetString() == "groups.cache.leaseTtl (line 10)");
    }

    [Fact]
    public void Invoke_ServiceWithoutOverride_InheritsServerDetectorSources()
    {
        var yaml = "server:\n  detector: { missedHeartbeats: 5 }\nservices:\n  api: { detector: { downAfter: 3 } }\n";
        var (exit, output, _) = CommandRunner.RunOn(yaml, ".yaml", "--from-config");
        Assert.Equal(0, exit);
        Assert.Contains("server.detector.missedHeartbeats (line 2)", output);
        Assert.Contains("services.api.detector.downAfter (line 4)", output);
        Assert.Contains("server.detector.heartbeatInterval (default)", output);
    }

    [Fact]
    public void Invoke_SeveralServers_PrintsTheOwnerHandoffTerm()
    {
        var yaml = "server:\n  store: etcd\n  etcd: http://127.0.0.1:2379\n  memberTtl: 8s\n";
        var (exit, output, _) = CommandRunner.RunOn(yaml, ".yaml", "--json", "--from-config");
        Assert.Equal(0, exit);
        var handoff = JsonDocument.Parse(output).RootElement.GetProperty("detection").EnumerateArray()
            .Single(d => d.GetProperty("scope").GetString()!.Contains("owning server dies", StringComparison.Ordinal));

        // 3.5 s bound spent on the dying owner + 8 s lease + 100 ms tick + 3.5 s grace on the new owner.
        Assert.Equal(15100, handoff.GetProperty("boundMs").GetDouble());
        var lease = handoff.GetProperty("terms").EnumerateArray().Single(t => t.GetProperty("name").GetString() == "ownerLeaseExpiry");
        Assert.Equal("server.memberTtl (line 4)", lease.GetProperty("sources").GetString());
    }
}
