using Halo.Core.Failover;

namespace Halo.Core.Tests.Failover;

public sealed class GroupPolicyValidatorTests
{
    [Fact]
    public void Validate_Defaults_AreValid() => Assert.Empty(GroupPolicyValidator.Validate(new GroupPolicy()));

    [Theory]
    [InlineData("leaseTtl")]
    [InlineData("maxLagBytes")]
    [InlineData("restartGrace")]
    [InlineData("antiFlapWindow")]
    [InlineData("memberTimeout")]
    [InlineData("minReplicasToWrite")]
    [InlineData("members.b.priority")]
    public void Validate_OutOfRange_NamesTheField(string field)
    {
        var policy = field switch
        {
            "leaseTtl" => new GroupPolicy { LeaseTtl = TimeSpan.FromMilliseconds(1500) },
            "maxLagBytes" => new GroupPolicy { MaxLagBytes = -1 },
            "restartGrace" => new GroupPolicy { RestartGrace = TimeSpan.FromHours(1) },
            "antiFlapWindow" => new GroupPolicy { AntiFlapWindow = TimeSpan.FromSeconds(-1) },
            "memberTimeout" => new GroupPolicy { MemberTimeout = TimeSpan.FromMilliseconds(5) },
            "minReplicasToWrite" => new GroupPolicy { MinReplicasToWrite = 99 },
            _ => new GroupPolicy { Members = new Dictionary<string, MemberPolicy> { ["b"] = new() { Priority = 5000 } } },
        };
        var errors = GroupPolicyValidator.Validate(policy);
        Assert.Equal([field], errors.Keys);
    }
}
