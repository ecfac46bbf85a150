using Halo.Core.Registry;

namespace Halo.Core.Failover;

/// <summary>Checks a group policy, naming each bad field, so a wrong TTL fails when it is submitted and not during a failover.</summary>
public static class GroupPolicyValidator
{
    public static Dictionary<string, string[]> Validate(GroupPolicy? policy)
    {
        var errors = new Dictionary<string, string[]>();
        if (policy is null)
        {
            errors["body"] = ["a group policy object is required"];
            return errors;
        }

        if (policy.LeaseTtl < TimeSpan.FromSeconds(1) || policy.LeaseTtl > TimeSpan.FromSeconds(60) || policy.LeaseTtl.Ticks % TimeSpan.TicksPerSecond != 0)
        {
            errors["leaseTtl"] = ["must be whole seconds between 1s and 60s"];
        }

        if (policy.MaxLagBytes is < 0 or > 1L << 40)
        {
            errors["maxLagBytes"] = ["must be between 0 and 1099511627776"];
        }

        if (policy.RestartGrace < TimeSpan.Zero || policy.RestartGrace > TimeSpan.FromMinutes(5))
        {
            errors["restartGrace"] = ["must be between 0s and 5m"];
        }

        if (policy.AntiFlapWindow < TimeSpan.Zero || policy.AntiFlapWindow > TimeSpan.FromHours(1))
        {
            errors["antiFlapWindow"] = ["must be between 0s and 1h"];
        }

        if (policy.MemberTimeout < TimeSpan.FromMilliseconds(100) || policy.MemberTimeout > TimeSpan.FromSeconds(60))
        {
            errors["memberTimeout"] = ["must be between 100ms and 60s"];
        }

        if (policy.MinReplicasToWrite is < 0 or > 16)
        {
            errors["minReplicasToWrite"] = ["must be between 0 and 16"];
        }

        if (policy.AckReplicas is < 0 or > 16)
        {
            errors["ackReplicas"] = ["must be between 0 and 16"];
        }

        if (policy.SynchronousCount is < 1 or > 8)
        {
            errors["synchronousCount"] = ["must be between 1 and 8"];
        }

        if (!Enum.IsDefined(policy.Synchronous))
        {
            errors["synchronous"] = ["must be off, preferred or strict"];
        }

        foreach (var (name, member) in policy.Members ?? new Dictionary<string, MemberPolicy>())
        {
            if (!Names.IsValid(name))
            {
                errors[$"members.{name}"] = [$"invalid member name: {Names.Rule}"];
            }
            else if (member is null)
            {
                errors[$"members.{name}"] = ["must be an object"];
            }
            else if (member.Priority is < 0 or > 1000)
            {
                errors[$"members.{name}.priority"] = ["must be between 0 and 1000"];
            }
        }

        return errors;
    }
}
