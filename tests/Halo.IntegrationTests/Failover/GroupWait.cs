using System.Diagnostics;
using Halo.Client;
using Halo.Core.Failover;

namespace Halo.IntegrationTests.Failover;

/// <summary>Waits (bounded) on a group's status through the blocking query, so a change is seen as it happens rather than polled.</summary>
internal static class GroupWait
{
    public static async Task<GroupStatus> UntilAsync(GroupClient groups, string group, Func<GroupStatus, bool> condition, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        var status = await groups.GetAsync(group);
        while (!condition(status))
        {
            if (clock.Elapsed > timeout)
            {
                throw new TimeoutException($"waited {timeout} for group {group}: primary {status.Primary}, confirmed {status.PrimaryConfirmed}, " +
                    string.Join(", ", status.Members.Select(m => $"{m.Name} {m.Role} healthy={m.Healthy}")));
            }

            status = await groups.GetAsync(group, status.Version, TimeSpan.FromMilliseconds(500));
        }

        return status;
    }
}
